"""Pages per second of extraction + render over the real corpus pages that have rules.

Baseline, measured in the same run on the same pages and selectors: what the scripts mirrord
replaces did — BeautifulSoup(html.parser), select the body, str() it. Prints medians of REPEATS
rounds and the ratio. Run: python bench/extract_render.py [REPEATS]
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from bs4 import BeautifulSoup  # noqa: E402  (pip install -e '.[bench]')
from soupsieve import SelectorSyntaxError  # noqa: E402

from mirrord.extract import extract_article  # noqa: E402
from mirrord.render import render_page  # noqa: E402

from corpus_rules import RULES  # noqa: E402
from scoring import read_page  # noqa: E402
from values import channel, entry, mirror  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"


def mirrord_round(pages: list[tuple[str, dict]]) -> None:
    target = mirror(public_url="https://git.test/me/news/blob/main", qr=True)
    for html, rule in pages:
        source = channel(rules={"content": rule["content"], "lead": rule.get("lead"),
                                "remove": tuple(rule.get("remove", ()))})
        article = extract_article(entry(rule["url"]), source, target, html, datetime.now(timezone.utc), {})
        render_page(article, target)


def baseline_round(pages: list[tuple[str, dict]]) -> None:
    for html, rule in pages:
        soup = BeautifulSoup(html, "html.parser")
        for selector in rule.get("remove", ()):
            try:
                matches = soup.select(selector)
            except SelectorSyntaxError:  # a few :has() forms soupsieve refuses: less work for the baseline
                continue
            for node in matches:
                node.decompose()
        "".join(str(node) for node in soup.select(rule["content"]))


def median_seconds(run, pages, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(pages)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    pages = [(read_page(CORPUS, path), rule) for path, rule in RULES.items()]
    ours = median_seconds(mirrord_round, pages, repeats)
    theirs = median_seconds(baseline_round, pages, repeats)
    print(f"pages: {len(pages)}, rounds: {repeats} (medians)")
    print(f"mirrord extract+sanitize+render+QR: {ours:.3f} s/round, {len(pages) / ours:.0f} pages/s")
    print(f"baseline BeautifulSoup select only:  {theirs:.3f} s/round, {len(pages) / theirs:.0f} pages/s")
    print(f"speed ratio mirrord/baseline: {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
