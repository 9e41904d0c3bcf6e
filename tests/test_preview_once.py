"""`preview` prints what a cycle publishes, title and all: real corpus pages served on 127.0.0.1, each listed by
a listing page under a headline that is not the page's own <title>, previewed, then published by `mirrord once`.
The two pages must be the same but for the time of fetching in the metadata line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from corpus_rules import RULES
from mirror_run import bare_repository, git, mirrord

# corpus page -> the headline its listing gives it (the page's own <title> says something else)
LISTED = {
    "articles/newspaper4k/bbc-zhongwen.chinese_article.html": "香港政治：列表上的标题",
    "articles/trafilatura/heise.de.lithium.html": "Lithium-Recycling: Überschrift der Übersicht",
    "articles/trafilatura/spiegel.de.albtraum.html": "Ein Albtraum, wie die Liste ihn nennt",
    "articles/theatlantic.com-coco-review.html": "Coco, as the front page calls it",
    "articles/trafilatura/xinhuanet.com.c_1125597921.html": "新华网：栏目页上的标题",
}
WOULD_BE = re.compile(r"would be published as (pages/\S+\.md)")


def without_fetch_time(page: str) -> str:
    return re.sub(r'"fetched": "[^"]*"', '"fetched": ""', page)


def corpus_config(tmp_path: Path, site, corpus_dir: Path) -> Path:
    """Serve each corpus page and a listing of it; return a config with one source per page, its recipe's rules."""
    sources = []
    for n, (page, headline) in enumerate(LISTED.items()):
        site.serve_corpus_file(f"/{page}", corpus_dir / page)
        site.add(f"/listing-{n}.html", f'<html><body><ul class="news"><li><a href="/{page}">{headline}</a></li>'
                 "</ul></body></html>", "text/html; charset=utf-8")
        rule = RULES[page]
        lead = f"lead = {json.dumps(rule['lead'])}\n" if "lead" in rule else ""
        sources.append(f"[source.s{n}]\ncontent = {json.dumps(rule['content'])}\n{lead}"
                       f"remove = {json.dumps(rule['remove'])}\n\n[source.s{n}.channel.c{n}]\n"
                       f'url = "{site.url(f"/listing-{n}.html")}"\nitems = "ul.news a[href]"\n')
    config = tmp_path / "mirrord.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n\n[http]\nretries = 0\n\n[mirror.news]\n'
                      f'remotes = ["{bare_repository(tmp_path / "remote.git")}"]\n'
                      'public_url = "https://git.example/me/news/blob/main"\nlinks = "rewrite"\n'
                      'header = "[Home](../../README.md)"\n\n' + "\n".join(sources), encoding="utf-8")
    return config


@pytest.mark.parametrize("body", ["html", "markdown"])
def test_preview_prints_the_page_once_publishes_on_corpus_pages(tmp_path, site, corpus_dir, body):
    config = corpus_config(tmp_path, site, corpus_dir)
    config.write_text(config.read_text(encoding="utf-8").replace('links = "rewrite"', f'links = "rewrite"\n'
                                                                 f'body = "{body}"'), encoding="utf-8")
    previews = {}
    for n, page in enumerate(LISTED):
        run = mirrord(config, "preview", site.url(f"/{page}"), "--source", f"s{n}")
        assert run.code == 0, run.stderr
        previews[WOULD_BE.search(run.stderr).group(1)] = run.stdout

    published = mirrord(config, "once", "--no-push")

    assert published.code == 0, published.stdout + published.stderr
    clone = tmp_path / "state" / "repos" / "news"
    for path, preview in previews.items():
        page = git(clone, "show", f"HEAD:{path}")  # the clone leaves pages out of its files: see the commit
        assert without_fetch_time(preview) == without_fetch_time(page), path
    assert sorted(preview.splitlines()[0] for preview in previews.values()) == sorted(
        f"### {headline}" for headline in LISTED.values())


def test_preview_says_when_the_channel_does_not_list_the_article(tmp_path, site, corpus_dir):
    config = corpus_config(tmp_path, site, corpus_dir)
    page = "articles/trafilatura/heise.de.lithium.html"
    site.add("/listing-1.html", "<html><body><ul class='news'><li><a href='/other.html'>Another story</a></li></ul>"
             "</body></html>", "text/html; charset=utf-8")

    run = mirrord(config, "preview", site.url(f"/{page}"), "--source", "s1")

    assert run.code == 0, run.stderr
    assert "not listed by" in run.stderr and "the title shown is the page's own" in run.stderr
    assert not run.stdout.startswith(f"### {LISTED[page]}")
