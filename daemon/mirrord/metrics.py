"""Prometheus metrics of `mirrord run`, counted from the status log's events and served on `[metrics] listen`."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

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


def serve_metrics(listen: str) -> Metrics:
    """Serve the metrics on listen ("HOST:PORT") from a background thread. Raise OSError if the port is taken."""
    host, _, port = listen.rpartition(":")
    metrics = Metrics()
    start_http_server(int(port), addr=host.strip("[]"), registry=metrics.registry)
    add_listener(metrics.observe)
    return metrics
