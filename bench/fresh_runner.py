"""Seconds for a fresh runner (an empty state_dir: an ephemeral CI job, a new host) to start on mirrors of
1k, 10k and 100k live pages, and half as many pruned ones in the history.

The runner runs `mirrord once` as users do; its clone is shallow (the default on an empty state) and its
state comes from the mirror's own ledger (.mirrord/). The feeds list only articles the mirror already has,
so the time is that of starting: clone, take in the ledger, read the feeds, decide there is nothing to do.
Compared in the same run with a plain full `git clone` of the same remote, which a runner that needed the
history (the rebuild from deleted pages) had to do before anything else; and with the same `mirrord once`
again on the state it left (a warm runner).
The mirrors are written directly with git fast-import (30 commits; the last prunes the oldest third).
Prints medians of REPEATS rounds and the ratio fresh / full clone.
Run: python bench/fresh_runner.py [REPEATS] [SIZES...]   e.g. python bench/fresh_runner.py 3 1000 10000 100000
"""

from __future__ import annotations

import html
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mirrord.config import load_config
from mirrord.index import index_path, render_index
from mirrord.ledgerfile import ledger_path, render_ledger
from mirrord.model import LedgerRow, Mirror

CHANNELS = 10
COMMITS = 30
LISTED = 5  # items per feed: the newest pages of the channel
PAGE = "### Story {n}\n------------------------\n\n<div>\n<p>Body of story {n}, with some text in it.</p>\n</div>\n"
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def article_url(channel: str, n: int) -> str:
    return f"http://bench.invalid/{channel}/{n}.html"


def rows_of(mirror: str, pages: int) -> list[LedgerRow]:
    """Return the ledger of a mirror that published pages * 3 / 2 articles and pruned the oldest third."""
    total = pages * 3 // 2
    rows = []
    for n in range(total):
        channel = f"ch{n % CHANNELS}"
        url = article_url(channel, n)
        time_ = START + timedelta(minutes=n)
        pruned = n < total - pages
        rows.append(LedgerRow(mirror, channel, str(n), f"pages/{channel}/{n}.md", f"Story {n}", url, "site", time_,
                              None, pruned, n + 1, "//" + url.split("://", 1)[1], time_ if pruned else None))
    return rows


def page_text(row: LedgerRow) -> bytes:
    meta = f'{{"id": "{row.id}", "source": "site", "channel": "{row.channel}", "url": "{row.url}", ' \
           f'"fetched": "{row.time.isoformat(timespec="seconds")}", "title": "{row.title}"}}'
    return (PAGE.format(n=row.id) + f"\n<!-- mirrord {meta} -->\n").encode()


def blob(path: str, data: bytes) -> list[bytes]:
    return [f"M 644 inline {path}\ndata {len(data)}\n".encode(), data, b"\n"]


def build_remote(remote: Path, mirror: Mirror, titles: dict[str, str], rows: list[LedgerRow]) -> None:
    """Write the mirror's history into a bare remote with git fast-import: pages added over COMMITS commits,
    the last one pruning the oldest and writing the indexes and the ledger."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    stream: list[bytes] = []
    step = -(-len(rows) // COMMITS)
    for number, start in enumerate(range(0, len(rows), step)):
        stream.append(f"commit refs/heads/main\ncommitter bench <bench@localhost> {number} +0000\ndata 4\nsync\n"
                      .encode())
        for row in rows[start:start + step]:
            stream += blob(row.path, page_text(row))
    stream.append(b"commit refs/heads/main\ncommitter bench <bench@localhost> 99 +0000\ndata 5\nprune\n")
    stream += [f"D {row.path}\n".encode() for row in rows if row.pruned]
    for channel, title in titles.items():
        mine = [row for row in rows if row.channel == channel]
        stream += blob(index_path(channel), render_index(mirror, title, [r for r in mine if not r.pruned]).encode())
        stream += blob(ledger_path(channel), render_ledger(mine))
    subprocess.run(["git", "-C", str(remote), "fast-import", "--quiet"], input=b"".join(stream), check=True)
    subprocess.run(["git", "-C", str(remote), "gc", "-q"], check=True)


def write_feeds(folder: Path, rows: list[LedgerRow]) -> None:
    """Write each channel's feed: its newest LISTED articles, with their text (nothing to fetch)."""
    for channel in {row.channel for row in rows}:
        newest = [row for row in rows if row.channel == channel][-LISTED:][::-1]
        items = "".join(f"<item><title>{row.title}</title><link>{row.url}</link><description>"
                        f"{html.escape('<p>' + row.title + ': a story long enough to be published.</p>')}"
                        "</description></item>" for row in newest)
        (folder / f"{channel}.xml").write_text(
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>')


def serve(folder: Path) -> ThreadingHTTPServer:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_config(path: Path, remote: Path, port: int) -> Path:
    """Write the runner's config: the feeds on the local server, articles on bench.invalid (never fetched)."""
    channels = "".join(f'[source.site.channel.ch{n}]\nurl = "http://127.0.0.1:{port}/ch{n}.xml"\n\n'
                       for n in range(CHANNELS))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'state_dir = "{path.parent / "state"}"\n\n[http]\nretries = 0\n\n[mirror.news]\n'
                    f'remotes = ["{remote}"]\nkeep = 0\n\n[source.site]\nhosts = ["bench.invalid"]\n\n{channels}')
    return path


def timed(command: list[str], says: str = "") -> float:
    """Return the seconds command took; stop the benchmark when it fails or does not print `says`."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or says not in done.stdout:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return elapsed


def measure(pages: int, repeats: int) -> tuple[float, float, float]:
    """Return the medians (fresh runner, full git clone, warm runner) on a mirror of `pages` live pages."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "feeds").mkdir()
        server = serve(folder / "feeds")
        config = write_config(folder / "runner" / "mirrord.toml", folder / "news.git", server.server_address[1])
        loaded = load_config(config)
        rows = rows_of("news", pages)
        titles = {channel.name: channel.title for source in loaded.sources.values() for channel in source.channels}
        build_remote(folder / "news.git", loaded.mirrors["news"], titles, rows)
        write_feeds(folder / "feeds", rows)
        once = [sys.executable, "-m", "mirrord", "-c", str(config), "once"]
        fresh, full, warm = [], [], []
        for _ in range(repeats):
            shutil.rmtree(folder / "runner" / "state", ignore_errors=True)
            fresh.append(timed(once, says="published 0,"))
            warm.append(timed(once, says="published 0,"))
            shutil.rmtree(folder / "clone", ignore_errors=True)
            full.append(timed(["git", "clone", "-q", "--no-local", str(folder / "news.git"), str(folder / "clone")]))
        server.shutdown()
        return statistics.median(fresh), statistics.median(full), statistics.median(warm)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    sizes = [int(s) for s in sys.argv[2:]] or [1_000, 10_000, 100_000]
    for pages in sizes:
        fresh, full, warm = measure(pages, repeats)
        print(f"{pages:>7} live pages ({pages // 2} pruned): fresh runner {fresh:.2f} s, full git clone {full:.2f} s "
              f"(ratio {fresh / full:.2f}), warm runner {warm:.2f} s (median of {repeats})", flush=True)


if __name__ == "__main__":
    main()
