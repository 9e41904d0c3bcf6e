"""How long mirrord takes to give up on what should be given up on quickly: the wall times the tests used to
assert, measured here instead, where a slow machine makes a number worse rather than a test fail.

Each case runs against a misbehaving server on 127.0.0.1 (tests/rawserver.py) and is printed with its
budget: a server trickling one byte a second (cut at http.timeout), one that never answers (http.timeout
per try), a declared body over max_bytes (refused before reading), a 50 MB body (cut at max_bytes), and an
entity bomb in a feed (refused before parsing). Medians of REPEATS runs.

Run: python bench/deadlines.py [REPEATS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from mirrord.discover import discover_feed  # noqa: E402
from mirrord.errors import MirrordError  # noqa: E402
from mirrord.fetch import Fetcher  # noqa: E402
from mirrord.model import HttpSettings, Response  # noqa: E402

from rawserver import RawServer  # noqa: E402
from values import rules  # noqa: E402

SETTINGS = HttpSettings(user_agent="mirrord-bench", timeout=2.0, concurrency=16, per_host=4, retries=0,
                        max_bytes=1_000_000, proxy=None)
BOMB = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol9 "' + "x" * 50_000 + '">]>'
        '<rss version="2.0"><channel><title>t</title><item><title>a</title><link>http://a.example/1</link>'
        "<description>" + "&lol9;" * 20_000 + "</description></item></channel></rss>").encode()


def trickle(conn, _head) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    for _ in range(100):
        conn.sendall(b"x")
        time.sleep(1)


def declare(conn, _head) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n")
    time.sleep(30)


def flood(conn, _head) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n")
    chunk = b"<p>" + b"x" * 65533
    for _ in range(50_000_000 // len(chunk)):
        conn.sendall(chunk)


def silent(conn, _head) -> None:
    time.sleep(30)


def fetch_fails(handler: Callable) -> float:
    """Return the seconds a fetch from a server running handler takes to fail."""
    async def fetch(url: str) -> None:
        async with Fetcher(SETTINGS) as fetcher:
            await fetcher.get(url)

    with RawServer(handler) as server:
        started = time.monotonic()
        try:
            asyncio.run(fetch(server.url()))
        except MirrordError:
            return time.monotonic() - started
    raise AssertionError("the fetch did not fail")


def bomb_refused() -> float:
    response = Response(url="http://a.example/feed.xml", status=200, body=BOMB, content_type="application/rss+xml")
    started = time.monotonic()
    try:
        discover_feed(response, rules())
    except MirrordError:
        return time.monotonic() - started
    raise AssertionError("the bomb was not refused")


CASES = [
    ("trickle, 1 byte/s", lambda: fetch_fails(trickle), f"{SETTINGS.timeout:.1f} s (http.timeout)"),
    ("never answers", lambda: fetch_fails(silent), f"{SETTINGS.timeout:.1f} s (http.timeout)"),
    ("declared 50 MB", lambda: fetch_fails(declare), "well under 1 s: refused before reading"),
    ("50 MB body", lambda: fetch_fails(flood), "well under 1 s: cut at max_bytes"),
    ("entity bomb in a feed", bomb_refused, "well under 0.5 s: refused before parsing"),
]


def main(repeats: int) -> None:
    for name, measure, budget in CASES:
        times = [measure() for _ in range(repeats)]
        print(f"{name:<24} {statistics.median(times):6.3f} s median of {repeats}   budget {budget}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
