"""Seconds for hostile markup: pages of N nested <div>s through extract + render (HTML and Markdown bodies,
in-process and through budget's worker), with the depth bound (what mirrord does) and without it (the
steps before it: parse, select, sanitize, measure the text), beside a flat page of the same size.
Prints figures and ratios; the bounded path should grow linearly with the size, the unbounded one with
its square.

Run: python bench/hostile.py [MAX_UNBOUNDED_DEPTH]   (default 30000: deeper takes minutes unbounded)
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from selectolax.lexbor import LexborHTMLParser  # noqa: E402

from mirrord.extract import extract_article, sanitize, text_length  # noqa: E402
from mirrord.markup import bound_depth  # noqa: E402
from mirrord.render import render_page  # noqa: E402
from mirrord.workers import WORKERS, extract_within_budget  # noqa: E402

from values import FETCHED, channel, entry, mirror  # noqa: E402

TEXT = "<p>Readable text of a deeply nested article, long enough to publish.</p>"
DEPTHS = (1_000, 3_000, 10_000, 30_000, 100_000)


def nested(depth: int) -> str:
    return f"<html><body><div class='body'>{'<div>' * depth}{TEXT}{'</div>' * depth}</div></body></html>"


def flat(size: int) -> str:
    count = size // len(TEXT)
    return f"<html><body><div class='body'>{TEXT * count}</div></body></html>"


def seconds(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def bounded(page: str, body: str) -> None:
    target = mirror(body=body)
    render_page(extract_article(entry(), channel(), target, page, FETCHED, {}), target)


def in_worker(page: str) -> None:
    asyncio.run(extract_within_budget(entry(), channel(), mirror(body="markdown"), page, FETCHED, {}))


def unbounded(page: str) -> None:
    """What extraction did before the bound: parse the page, select, sanitize, measure the text."""
    node = LexborHTMLParser(page).css_first("div.body")
    text_length(sanitize(node.html or ""))


def main(max_unbounded: int) -> None:
    print(f"{'depth':>8} {'bytes':>9} {'bound':>7} {'html':>7} {'markdown':>9} {'worker':>7} {'flat':>7} "
          f"{'flat md':>7} {'deep/flat':>9} {'unbounded':>10} {'unbounded/bounded':>18}")
    previous = None
    for depth in DEPTHS:
        page = nested(depth)
        bound = seconds(partial(bound_depth, page))
        html = seconds(partial(bounded, page, "html"))
        markdown = seconds(partial(bounded, page, "markdown"))
        worker = seconds(partial(in_worker, page))
        plain = seconds(partial(bounded, flat(len(page)), "html"))
        plain_markdown = seconds(partial(bounded, flat(len(page)), "markdown"))
        old = seconds(partial(unbounded, page)) if depth <= max_unbounded else None
        before = f"{old:>10.3f} {old / html:>18.1f}" if old else f"{'-':>10} {'-':>18}"
        print(f"{depth:>8} {len(page):>9} {bound:>7.3f} {html:>7.3f} {markdown:>9.3f} {worker:>7.3f} {plain:>7.3f} "
              f"{plain_markdown:>7.3f} {html / plain:>9.1f} {before}")
        if previous:
            growth = len(page) / previous[0]
            print(f"{'':>8} size x{growth:.1f}: bounded html x{html / previous[1]:.1f}"
                  + (f", unbounded x{old / previous[2]:.1f}" if old and previous[2] else ""))
        previous = (len(page), html, old)
    WORKERS.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30_000)
