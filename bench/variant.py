"""What `variant` costs: pages rendered per second with no variant (the baseline, measured in the same run), with
`zh-Hans` and with `zh-Hant`, over every entry of the corpus's Chinese feeds (title and description), and the
one-off cost of loading OpenCC and its dictionaries in a fresh process. Prints medians of REPEATS rounds and the
ratios. Run: python bench/variant.py [REPEATS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import feedparser  # noqa: E402

from mirrord.model import Article  # noqa: E402
from mirrord.render import render_page  # noqa: E402

from values import article, mirror  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
FEEDS = ("ntdtv.com-news202.rss.xml", "ntdtv.com-news203.rss.xml", "ntdtv.com-news206.rss.xml",
         "secretchina.com-p1.rss.xml", "secretchina.com-p2.rss.xml", "kc0011.net-gb2312.rss")
LOAD = "import time; t = time.perf_counter(); from mirrord.variant import convert_text; " \
       "convert_text('頭髮', 'zh-Hans'); convert_text('头发', 'zh-Hant'); print(time.perf_counter() - t)"


def corpus_articles() -> list[Article]:
    entries = [e for feed in FEEDS for e in feedparser.parse((CORPUS / "feeds" / feed).read_bytes()).entries]
    return [article(title=e.title, body_html=f"<p>{e.get('summary', '')}</p>") for e in entries]


def median_seconds(articles: list[Article], variant: str | None, repeats: int) -> float:
    target = mirror(variant=variant)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for item in articles:
            render_page(item, target)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def load_seconds(repeats: int) -> float:
    """Return the median time a fresh process takes to import OpenCC and load both conversions."""
    runs = [float(subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, check=True).stdout)
            for _ in range(repeats)]
    return statistics.median(runs)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    articles = corpus_articles()
    median_seconds(articles, "zh-Hans", 1)  # warm: dictionaries loaded before timing
    median_seconds(articles, "zh-Hant", 1)
    baseline = median_seconds(articles, None, repeats)
    print(f"pages: {len(articles)} (corpus Chinese feed entries), rounds: {repeats} (medians)")
    print(f"no variant (baseline): {baseline:.3f} s/round, {len(articles) / baseline:.0f} pages/s")
    for variant in ("zh-Hans", "zh-Hant"):
        seconds = median_seconds(articles, variant, repeats)
        print(f"variant {variant}:      {seconds:.3f} s/round, {len(articles) / seconds:.0f} pages/s, "
              f"{seconds / baseline:.2f}x the baseline's time")
    print(f"loading OpenCC and both dictionaries, once per process: {load_seconds(repeats) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
