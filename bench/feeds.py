"""What a channel's feed adds to a commit, and what `mirrord rebuild` costs, on a channel of KEEP live pages.

A commit that changes a channel writes its feed again: the old feed's entries are carried as they are, the new
pages' made from their blocks; a feed written whole (the first, or after `rebuild`) reads the channel's KEEP
newest pages from the clone, takes their blocks back and renders them as Atom. Compared in the same run with
what that commit did before feeds, for one new article: render its page and the channel's index. Then one
`rebuild` pass over the same pages (render every page again and compare it with the clone), per page.
Prints medians of REPEATS rounds and the ratio feed / (page + index).
Run: python bench/feeds.py [REPEATS] [KEEP]   e.g. python bench/feeds.py 5 300
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mirrord.commit import channel_feed
from mirrord.index import render_index
from mirrord.model import Article, LedgerRow, Mirror
from mirrord.outcome import Report
from mirrord.publish import Workspace
from mirrord.render import page_path, render_page
from mirrord.rerender import rendered_pages

MIRROR = Mirror(name="bench", title="bench", remotes=(), branch="main", public_url="https://git.example/me/b/blob/main",
                keep=300, links="keep", images="hotlink", body="html", qr=False, header="[Home](../../README.md)",
                footer=None, readme_header=None, templates=None, commit_message="sync",
                author="mirrord <mirrord@localhost>", ssh_key=None, token_env=None, squash_after=0)
PARAGRAPH = "<p>A paragraph of an article, long enough to stand for a real one: {n} words and a <a href=" \
            "\"https://example.org/{n}\">link</a>, some <strong>emphasis</strong> and an ordinary sentence.</p>"
START = datetime(2026, 11, 1, tzinfo=timezone.utc)


def article(n: int) -> Article:
    body = "".join(PARAGRAPH.format(n=n * 100 + p) for p in range(20))
    return Article(id=f"a{n}", url=f"https://example.org/news/a{n}.html", title=f"Article number {n}",
                   source="s", channel="ch", lead_html="", body_html=body, text_length=len(body),
                   fetched=START + timedelta(minutes=n))


def row(n: int) -> LedgerRow:
    return LedgerRow("bench", "ch", f"a{n}", page_path("ch", f"a{n}"), f"Article number {n}",
                     f"https://example.org/news/a{n}.html", "s", START, seq=n + 1)


def median_seconds(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    keep = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    mirror = replace(MIRROR, keep=keep)
    rows = [row(n) for n in range(keep)]
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace.open(Path(tmp), mirror)
        files = [file for n in range(keep) for file in render_page(article(n), mirror)]
        workspace.write(files, [])
        workspace.commit(files, [], "seed")
        newest = article(keep)
        feed = median_seconds(repeats, lambda: channel_feed(mirror, "Channel", "ch", rows, workspace, {}))
        old = channel_feed(mirror, "Channel", "ch", rows[1:], workspace, {})
        carried = median_seconds(repeats, lambda: channel_feed(mirror, "Channel", "ch", rows, workspace, {}, old))
        before = median_seconds(repeats, lambda: (render_page(newest, mirror), render_index(mirror, "Channel", rows)))
        rebuild = median_seconds(repeats, lambda: rendered_pages(replace(mirror, footer="x"), rows, workspace,
                                                                 Report("bench")))
        workspace.close()
    print(f"channel of {keep} pages, median of {repeats}:")
    print(f"  feed written whole        {feed * 1000:8.1f} ms (a new feed, or after rebuild)")
    print(f"  feed with one new entry   {carried * 1000:8.1f} ms (the others carried from the old feed)")
    print(f"  new page + index (before) {before * 1000:8.1f} ms")
    print(f"  ratio feed / (page + index): {feed / before:.1f} whole, {carried / before:.1f} carried")
    print(f"  rebuild, every page again {rebuild * 1000:8.1f} ms ({rebuild / keep * 1000:.2f} ms a page)")


if __name__ == "__main__":
    main()
