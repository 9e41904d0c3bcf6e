"""`mirrord demo`: mirror a bundled sample site, served on 127.0.0.1, into a local bare repository.

It needs no network and no config: it shows on one machine what mirrord does for a real site.
"""

from __future__ import annotations

import logging
import mimetypes
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path

from mirrord.config import parse_config
from mirrord.log import configure_logging
from mirrord.model import Options
from mirrord.pipeline import run_once

PLACEHOLDER = b"http://SITE"
# The sample site's address in pages and in the ledger. The demo server, on a new port each run, is
# mirrord's HTTP proxy for it: an article's identity is its URL, and a port that changed from one run
# to the next would make every article a new one.
SITE_URL = "http://lakeside-gazette.invalid"


def site_files(base_url: str) -> dict[str, tuple[bytes, str]]:
    """Return the bundled site as path -> (body, content type), its placeholder host made base_url."""
    root = files("mirrord.demo") / "site"
    found: dict[str, tuple[bytes, str]] = {}
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        for item in folder.iterdir():
            path = f"{prefix}/{item.name}"
            if item.is_dir():
                pending.append((item, path))
                continue
            kind = "application/rss+xml" if item.name.endswith(".xml") else mimetypes.guess_type(item.name)[0]
            body = item.read_bytes()
            found[path] = (body.replace(PLACEHOLDER, base_url.encode()) if not kind.startswith("image/") else body,
                           kind + ("; charset=utf-8" if kind.startswith("text/") or kind.endswith("xml") else ""))
    return found


@contextmanager
def serve_site() -> Iterator[str]:
    """Serve the bundled site as an HTTP proxy on 127.0.0.1 (a free port) for SITE_URL while the block
    runs; yield the proxy's URL."""
    routes = site_files(SITE_URL)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.removeprefix(SITE_URL).split("?")[0]
            body, kind = routes.get(path, (b"not found", "text/plain"))
            self.send_response(200 if path in routes else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Keep the demo's output to what mirrord says."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def demo_config(proxy: str, directory: Path, bare: Path):
    """Return the bundled demo config reading the site through the demo's proxy, state under directory,
    pushing to bare."""
    text = (files("mirrord.demo") / "config.toml").read_text(encoding="utf-8").replace("http://SITE", SITE_URL)
    data = tomllib.loads(text)
    data["http"] = {"proxy": proxy}
    data["state_dir"] = str(directory / "state")
    data["log_file"] = str(directory / "state" / "status.log")
    data["mirror"]["demo"]["remotes"] = [str(bare)]
    return parse_config(data, directory / "demo.toml", {})


def ensure_bare_repository(bare: Path, branch: str) -> None:
    if not (bare / "HEAD").exists():
        bare.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "--bare", "-b", branch, str(bare)], check=True)


def run_demo(directory: Path, verbose: bool = False) -> int:
    """Run the demo and print what was published and how to look at it."""
    directory = directory.resolve()
    bare = directory / "mirror.git"
    with serve_site() as proxy:
        config = demo_config(proxy, directory, bare)
        ensure_bare_repository(bare, config.mirrors["demo"].branch)
        configure_logging(config.log_file, verbose=verbose, console_level=logging.WARNING)
        print(f"Serving the sample site {SITE_URL} from {proxy} on this machine; mirroring it into {bare}")
        reports = run_once(config, [], Options())
    published = [path for report in reports for path in report.published]
    print(f"\nPublished {len(published)} pages" + ("." if published else " (all were published by an earlier run)."))
    for path in published:
        print(f"  {path}")
    print(f"\nThe mirror is the bare repository {bare}\nLook at it with:\n  git clone {bare} mirror-demo-clone\n"
          f"The status log is {config.log_file}")
    return 0 if all(report.ok for report in reports) else 1
