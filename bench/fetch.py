"""Fetching speed of one cycle against a site 100 ms away, and the CPU a cycle of unchanged feeds costs.

A local server (its own process, so that its CPU is not counted) answers every request after DELAY.
One cold cycle of CHANNELS feeds x ARTICLES new articles goes through mirrord's own pipeline up to
publishing (`collect`: Fetcher, discover, plan, fetch pages, extract), each channel on its own host
(127.0.0.2, 127.0.0.3, ...). Printed: wall time, requests per second and the ratio to the latency bound
(requests x delay / concurrency), target 1.3 at most; then a warm cycle where every feed answers 304,
in CPU milliseconds per channel, target under 5. Medians of REPEATS runs. The baseline, measured once
in the same run, is what the scripts mirrord replaces did: the same requests one after another with a
blocking client.

Run: python bench/fetch.py [REPEATS]
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from mirrord.channels import save_validators  # noqa: E402
from mirrord.fetch import Fetcher  # noqa: E402
from mirrord.log import configure_logging  # noqa: E402
from mirrord.model import Channel, HttpSettings, Source  # noqa: E402
from mirrord.outcome import Report  # noqa: E402
from mirrord.pipeline import collect  # noqa: E402
from mirrord.state import State  # noqa: E402

from values import mirror, rules  # noqa: E402

DELAY = 0.1
CHANNELS = 20
ARTICLES = 25
CONCURRENCY = 16
SETTINGS = HttpSettings(user_agent="mirrord-bench", timeout=30, concurrency=CONCURRENCY, per_host=4, retries=0,
                        max_bytes=10_000_000, proxy=None)
PARAGRAPH = "<p>" + "A paragraph of the article body, as long as a real one tends to be. " * 8 + "</p>"


def host(channel: int) -> str:
    return f"127.0.0.{channel + 2}"


def feed(channel: int, port: int) -> bytes:
    items = "".join(f"<item><title>Story {n} of channel {channel}</title>"
                    f"<link>http://{host(channel)}:{port}/c{channel}/a{n}.html</link></item>"
                    for n in range(ARTICLES))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>c{channel}</title>{items}</channel></rss>'.encode()


def article(path: str) -> bytes:
    return (f"<html><head><title>{path}</title></head><body><nav>menu</nav><div class='body'><h2>{path}</h2>"
            f"{PARAGRAPH * 4}</div><footer>footer</footer></body></html>").encode()


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
    """Serve one keep-alive connection: every answer after DELAY; feeds carry an ETag and honour it."""
    while head := await read_head(reader):
        path = head.split(b" ", 2)[1].decode()
        await asyncio.sleep(DELAY)
        if path.endswith("/feed.xml"):
            channel = int(path.split("/")[1].removeprefix("c"))
            status, body = ("304 Not Modified", b"") if b'if-none-match: "v1"' in head.lower() else (
                "200 OK", feed(channel, port))
            extra = 'ETag: "v1"\r\nContent-Type: application/xml\r\n'
        else:
            status, body, extra = "200 OK", article(path), "Content-Type: text/html; charset=utf-8\r\n"
        writer.write(f"HTTP/1.1 {status}\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
    writer.close()


async def read_head(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return b""


def serve(port: int, ready) -> None:
    async def main() -> None:
        servers = [await asyncio.start_server(lambda r, w: answer(r, w, port), host(n), port, backlog=1024)
                   for n in range(CHANNELS)]
        ready.set()
        await asyncio.gather(*(server.serve_forever() for server in servers))

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((host(0), 0))
        return probe.getsockname()[1]


def source(port: int) -> Source:
    channels = tuple(Channel(name=f"c{n}", title=f"c{n}", source="bench", url=f"http://{host(n)}:{port}/c{n}/feed.xml",
                             items=None, rules=rules(content="div.body", hosts=frozenset({host(n)})))
                     for n in range(CHANNELS))
    return Source(name="bench", title="bench", mirror="news", every=900, cron=None, channels=channels)


async def cold_cycle(bench: Source, state: State) -> tuple[float, int]:
    """Return the wall time of one cycle with nothing known yet, and the articles it extracted."""
    report = Report("news")
    started = time.perf_counter()
    async with Fetcher(SETTINGS) as fetcher:
        collected = await collect(mirror(), [bench], state, fetcher, report, False, None)
    took = time.perf_counter() - started
    if report.failures or report.held_back:
        raise SystemExit(f"bench cycle failed: {report.failures[:3]} {report.held_back[:3]}")
    save_validators(mirror(), collected.validators, report, state)
    return took, len(collected.articles)


async def warm_cycles(bench: Source, state: State, repeats: int) -> list[float]:
    """Return the CPU seconds of cycles in which every channel answers 304, on one long-lived client."""
    cpu = []
    async with Fetcher(SETTINGS) as fetcher:
        await collect(mirror(), [bench], state, fetcher, Report("news"), False, None)  # open the connections
        for _ in range(repeats):
            started = time.process_time()
            collected = await collect(mirror(), [bench], state, fetcher, Report("news"), False, None)
            cpu.append(time.process_time() - started)
            assert not collected.articles
    return cpu


def baseline(port: int) -> float:
    """The old way: the same requests, one after another, with a blocking client."""
    started = time.perf_counter()
    with httpx.Client() as client:
        for n in range(CHANNELS):
            client.get(f"http://{host(n)}:{port}/c{n}/feed.xml").raise_for_status()
            for a in range(ARTICLES):
                client.get(f"http://{host(n)}:{port}/c{n}/a{a}.html").raise_for_status()
    return time.perf_counter() - started


def main(repeats: int) -> None:
    configure_logging(None, console_level=logging.WARNING)  # debug events on a console would be measured too
    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, ready), daemon=True)
    server.start()
    ready.wait(10)
    bench = source(port)
    requests = CHANNELS * (ARTICLES + 1)
    bound = requests * DELAY / CONCURRENCY
    walls, cpus = [], []
    try:
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                state = State(Path(tmp) / "state.sqlite3")
                wall, extracted = asyncio.run(cold_cycle(bench, state))
                assert extracted == CHANNELS * ARTICLES, extracted
                walls.append(wall)
                cpus += asyncio.run(warm_cycles(bench, state, 3))
                state.close()
        old = baseline(port)
    finally:
        server.terminate()
    wall = statistics.median(walls)
    print(f"cold cycle: {CHANNELS} channels x {ARTICLES} new articles = {requests} requests, "
          f"{DELAY * 1000:.0f} ms each, concurrency {CONCURRENCY}, per_host {SETTINGS.per_host}")
    print(f"  wall time      {wall:.2f} s median of {repeats} ({', '.join(f'{w:.2f}' for w in walls)})")
    print(f"  requests/s     {requests / wall:.0f}")
    print(f"  latency bound  {bound:.2f} s, ratio {wall / bound:.2f} (target <= 1.3)")
    per_channel = statistics.median(cpus) / CHANNELS * 1000
    print(f"warm cycle (every channel 304): {per_channel:.2f} ms CPU per channel, median of {len(cpus)} "
          "(target < 5)")
    print(f"baseline (the same requests one after another, httpx.Client): {old:.2f} s, "
          f"{requests / old:.1f} requests/s; mirrord is {old / wall:.1f}x faster")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
