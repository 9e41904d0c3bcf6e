"""Prometheus metrics of `mirrord run`, counted from the status log's events and served on `[metrics] listen`,
with /healthz beside them for a liveness probe (Kubernetes) that restarts a daemon whose scheduler hung."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from mirrord.log import add_listener

CYCLE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800)


class Metrics:
    """The metrics an operator alerts on, each updated by the event that tells it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.published = Counter("mirrord_articles_published", "Articles published", ["source", "channel"],
                                 registry=self.registry)
        self.skipped = Counter("mirrord_articles_skipped", "Articles held back (no body, too short, foreign host)",
                               ["source"], registry=self.registry)
        self.fetch_failures = Counter("mirrord_fetch_failures", "Channels and article pages that could not be "
                                      "fetched or read", ["source"], registry=self.registry)
        self.push_failures = Counter("mirrord_push_failures", "Failed pushes", ["mirror", "remote"],
                                     registry=self.registry)
        self.source_success = Gauge("mirrord_source_last_success_timestamp_seconds", "End of the last cycle "
                                    "without failures of a source that is not broken", ["source"],
                                    registry=self.registry)
        self.source_broken = Gauge("mirrord_source_broken", "1 while a source holds back every article it fetches "
                                   "(its rules no longer match the site), else 0", ["source"], registry=self.registry)
        self.broken: set[str] = set()
        self.remote_success = Gauge("mirrord_remote_last_success_timestamp_seconds", "Time of the last push",
                                    ["mirror", "remote"], registry=self.registry)
        self.cycle_seconds = Histogram("mirrord_cycle_duration_seconds", "Duration of a source's cycle",
                                       ["source"], buckets=CYCLE_BUCKETS, registry=self.registry)

    def observe(self, event: dict) -> None:
        """Update the metrics an event tells about (a status log listener)."""
        name, source = event.get("event"), event.get("source", "")
        if name == "article.published":
            self.published.labels(source, event.get("channel", "")).inc()
        elif name == "article.skipped":
            self.skipped.labels(source).inc()
        elif name in ("fetch.failed", "discover.failed"):
            self.fetch_failures.labels(source).inc()
        elif name == "push.failed":
            self.push_failures.labels(event.get("mirror", ""), event.get("remote", "")).inc()
        elif name == "push.done":
            self.remote_success.labels(event.get("mirror", ""), event.get("remote", "")).set(time.time())
        elif name in ("source.broken", "source.recovered"):
            self.note_broken(source, name == "source.broken")
        elif name == "cycle.done":
            self.cycle_seconds.labels(source).observe(event.get("duration_ms", 0) / 1000)
            if not event.get("failed") and source not in self.broken:
                self.source_success.labels(source).set(time.time())

    def note_broken(self, source: str, broken: bool) -> None:
        """Set a source's broken gauge; a broken source's cycles are no successes, whatever they say."""
        self.source_broken.labels(source).set(int(broken))
        if broken:
            self.broken.add(source)
        else:
            self.broken.discard(source)


def serve_metrics(listen: str, alive: Callable[[], bool]) -> Metrics:
    """Serve the metrics and /healthz (200 while alive(), else 503) on listen ("HOST:PORT") from a background
    thread. Raise OSError if the port is taken."""
    metrics = Metrics()
    start_server(listen, with_health(make_wsgi_app(metrics.registry), alive))
    add_listener(metrics.observe)
    return metrics


def with_health(app: Callable, alive: Callable[[], bool]) -> Callable:
    """Return a WSGI app answering /healthz from alive() and every other path from app (the metrics).

    Health is the scheduler's heartbeat alone: a source that fails or is broken is the operator's to fix (its
    metrics and `status` say so), and restarting the daemon would not fix it."""
    def serve(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/healthz":
            return app(environ, start_response)
        ok = alive()
        start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"ok\n" if ok else b"the scheduler's heartbeat stopped\n"]
    return serve


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:
        """Log nothing: a scrape every few seconds would flood stderr."""


def start_server(listen: str, app: Callable) -> WSGIServer:
    """Serve app on listen from a daemon thread, over IPv6 when the host is an IPv6 address."""
    host, _, port = listen.rpartition(":")
    family, _, _, _, address = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM,
                                                  flags=socket.AI_PASSIVE)[0]

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        address_family = family

    server = make_server(address[0], int(port), app, Server, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
