"""A real HTTP server for tests.

mirrord talks to sites over HTTP with httpx, so tests serve pages from a real
socket on 127.0.0.1 rather than mocking the client: redirects, compression,
headers and concurrency then behave as they do in production.
"""

from __future__ import annotations

import mimetypes
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

HTML = "text/html; charset=utf-8"

# Feeds are served the way most sites serve them, as generic XML.
_TYPES = {
    ".xml": "application/xml",
    ".rss": "application/xml",
    ".rdf": "application/xml",
    ".atom": "application/xml",
    ".html": "text/html",
    ".htm": "text/html",
    ".json": "application/json",
    ".txt": "text/plain",
}


@dataclass(frozen=True)
class Response:
    """What the server sends for one path."""

    body: bytes
    content_type: str
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()


def content_type_for(file_path: Path | str) -> str:
    """Content type for a file served as-is, guessed from its extension."""
    suffix = Path(file_path).suffix.lower()
    if suffix in _TYPES:
        return _TYPES[suffix]
    guessed, _ = mimetypes.guess_type(str(file_path))
    return guessed or "application/octet-stream"


class Site:
    """An HTTP server on 127.0.0.1 (free port) serving `routes`.

    `routes` maps a request path ("/feed.xml", optionally with its query) to a
    Response and may be changed while the server runs, so a test can publish
    new articles between two mirror runs. Unknown paths get 404. Every request
    path is appended to `requests`, so tests can assert what was fetched.
    `delay` seconds pass before each answer (a slow site), and `most_in_flight`
    is the largest number of requests it was answering at once.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.routes: dict[str, Response] = {}
        self.requests: list[str] = []
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"httpsite:{self.port}", daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        """'http://127.0.0.1:PORT', without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        """Absolute URL of `path` on this server."""
        return self.base_url + _norm(path)

    def add(
        self,
        path: str,
        body: bytes | str,
        content_type: str = HTML,
        *,
        status: int = 200,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> str:
        """Serve `body` at `path` (str bodies are UTF-8 encoded); returns its URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[_norm(path)] = Response(data, content_type, status, headers)
        return self.url(path)

    def serve_corpus_file(self, path: str, file_path: Path | str) -> str:
        """Serve a saved page at `path`; returns its URL.

        Corpus pages are stored gzipped: a `.gz` file is sent still compressed
        with `Content-Encoding: gzip`, as a server would, and typed from the
        extension before `.gz` (text/html when there is none, e.g. `page.gz`).
        Other files are sent as-is with a type guessed from their extension.
        """
        file_path = Path(file_path)
        data = file_path.read_bytes()
        if file_path.suffix.lower() == ".gz":
            inner = file_path.with_suffix("")
            ctype = content_type_for(inner) if inner.suffix else "text/html"
            return self.add(path, data, ctype, headers=(("Content-Encoding", "gzip"),))
        return self.add(path, data, content_type_for(file_path))

    def requested(self, path: str) -> int:
        """How many times `path` (query included) has been requested."""
        with self._lock:
            return self.requests.count(_norm(path))

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Site:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _record(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)

    def _answering(self, change: int) -> None:
        with self._lock:
            self.in_flight += change
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - name fixed by http.server
                site._record(self.path)
                site._answering(+1)
                try:
                    time.sleep(site.delay)
                    self.answer()
                finally:
                    site._answering(-1)

            def answer(self) -> None:
                resp = site.routes.get(self.path) or site.routes.get(urlsplit(self.path).path)
                if resp is None:
                    resp = Response(b"not found\n", "text/plain", 404)
                # Honour ETags the test set, so conditional fetching can be tested.
                etag = next((v for k, v in resp.headers if k.lower() == "etag"), None)
                if etag is not None and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.content_type)
                self.send_header("Content-Length", str(len(resp.body)))
                for name, value in resp.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(resp.body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                """Keep test output quiet."""

        return Handler


def _norm(path: str) -> str:
    return path if path.startswith("/") else "/" + path
