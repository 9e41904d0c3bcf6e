"""Wall time of one `mirrord once` cycle on channels far longer than any mirror keeps: a listing of 100,000
links and a feed of 50,000 items, keep = 300, served on 127.0.0.1; then of the next cycle (nothing new).

The baseline is the previous release (commit 4972174, the one before identity and bounded planning) on the
same channels in the same run, stopped after CAP seconds: it fetched every listed link.
Run: python bench/big_channels.py [LINKS] [ITEMS]
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PREVIOUS_RELEASE = "4972174"
CAP = 120.0
REPOSITORY = Path(__file__).resolve().parents[1]
ARTICLE = re.compile(r"/a/(\d+)\.html")


def listing(count: int) -> bytes:
    links = "".join(f'<li><a href="/a/{n}.html">Story {n}</a></li>' for n in range(count, 0, -1))
    return f'<html><body><ul class="news">{links}</ul></body></html>'.encode()


def feed(count: int) -> bytes:
    items = "".join(f"<item><title>Item {n}</title><link>http://127.0.0.1/f/{n}.html</link><description>Item {n}"
                    " of the feed, with text long enough to be published.</description></item>"
                    for n in range(count, 0, -1))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>big</title>{items}</channel></rss>'.encode()


def serve(pages: dict[str, tuple[bytes, str]]) -> ThreadingHTTPServer:
    """Serve the listing and the feed, and any /a/N.html as a small article."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, kind = pages.get(self.path, (b"", ""))
            if not body and ARTICLE.fullmatch(self.path):
                body, kind = (f'<html><body><div class="body"><p>Article {self.path}: text long enough to be '
                              'published by the mirror.</p></div></body></html>').encode(), "text/html"
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", kind or "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_config(folder: Path, port: int) -> Path:
    remote = folder / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    config = folder / "mirrord.toml"
    config.write_text(f'state_dir = "{folder / "state"}"\n\n[http]\nretries = 0\n\n[mirror.news]\n'
                      f'remotes = ["{remote}"]\nkeep = 300\n\n'
                      f'[source.listed]\ncontent = "div.body"\n\n[source.listed.channel.listing]\n'
                      f'url = "http://127.0.0.1:{port}/list"\nitems = "ul.news a"\n\n'
                      f'[source.fed]\nhosts = ["127.0.0.1"]\n\n[source.fed.channel.feed]\n'
                      f'url = "http://127.0.0.1:{port}/feed.xml"\n', encoding="utf-8")
    return config


def timed_once(config: Path, env: dict[str, str]) -> tuple[float, str]:
    """Return the wall time of one `mirrord once` and its summary line; CAP when it ran longer."""
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "mirrord", "-c", str(config), "once", "--no-push"],
                              capture_output=True, text=True, timeout=CAP, env=env)
    except subprocess.TimeoutExpired:
        return CAP, f"stopped after {CAP:.0f} s"
    return time.perf_counter() - started, done.stdout.splitlines()[0] if done.stdout else done.stderr[-200:]


def previous_release(into: Path) -> Path | None:
    archive = subprocess.run(["git", "-C", str(REPOSITORY), "archive", PREVIOUS_RELEASE, "daemon"],
                             capture_output=True)
    if archive.returncode != 0:
        return None
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / "daemon"


def main() -> None:
    links = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    items = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    server = serve({"/list": (listing(links), "text/html"), "/feed.xml": (feed(items), "application/rss+xml")})
    port = server.server_address[1]
    print(f"a listing of {links} links and a feed of {items} items, keep = 300, on 127.0.0.1")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "now").mkdir()
        config = write_config(folder / "now", port)
        first, summary = timed_once(config, dict(os.environ))
        print(f"  mirrord, first cycle:   {first:6.1f} s  ({summary})")
        again, summary = timed_once(config, dict(os.environ))
        print(f"  mirrord, nothing new:   {again:6.1f} s  ({summary})")
        old = previous_release(folder / "previous")
        if old is None:
            print(f"  baseline: commit {PREVIOUS_RELEASE} is not in this clone's history")
            return
        (folder / "old").mkdir()
        baseline, summary = timed_once(write_config(folder / "old", port), {**os.environ, "PYTHONPATH": str(old)})
        print(f"  previous release, first cycle: {baseline:6.1f} s  ({summary})")
        print(f"  ratio: the previous release took {'at least ' if baseline >= CAP else ''}"
              f"{baseline / first:.0f}x as long")
    server.shutdown()


if __name__ == "__main__":
    main()
