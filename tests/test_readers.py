"""What readers see, end to end: a mirror for readers of simplified Chinese published by `mirrord once` (a real
process) from a real HTTP site into a real bare repository, then every file of a clone read as GitHub shows it
(cmark-gfm with GitHub's extensions: table, autolink, strikethrough, tagfilter).

The site: the NTD listing and article pages of the golden case ntdtv-listing (one article links to the other, a
lead picture is served) and the corpus feed secretchina.com-p1 (simplified titles, traditional descriptions), all
reached as http://golden.invalid through `[http] proxy`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cmarkgfm
import feedparser
import pytest
from cmarkgfm.cmark import Options
from selectolax.lexbor import LexborHTMLParser, LexborNode

from fixture_site import add_article, populate
from httpsite import Site
from mirror_run import bare_repository, clone, commit_count, mirrord, write_config
from releases import release, run_release

GOLDEN_SITE = Path(__file__).resolve().parent / "golden" / "ntdtv-listing" / "site"
PICTURE = Path(__file__).resolve().parents[1] / "daemon" / "mirrord" / "demo" / "site" / "img" / "lanterns.png"
PUBLIC_URL = "https://git.example/me/jinwen/blob/main"
LINKED = "/gb/2018/10/05/a1394161.html"
GITHUB_EXTENSIONS = ["table", "autolink", "strikethrough", "tagfilter"]
URL = re.compile(r"(?:https?|mailto):[^\s<>\"）]+")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}$")
KEEP = 8
CONFIG = """
state_dir = "{state}"

[http]
proxy = "{proxy}"
timeout = 10
retries = 0

[mirror.jinwen]
title = "禁闻镜像"
remotes = ["{bare}"]
public_url = "{public_url}"
lang = "zh-Hans"
variant = "zh-Hans"
front_page = 3
keep = {keep}
header = "[首页](../../README.md)"
footer = "[首页](../../README.md)"
readme_header = "新唐人与看中国的新闻，每个频道最新的在前。"

[source.ntdtv]
title = "新唐人"
content = "div.post_content"
lead = "div.featured_image"
remove = ["div.post_related", "iframe", "div.print_link"]
exclude = ["翻墙必看", "精彩推荐"]

[source.ntdtv.channel.prog204]
title = "大陆新闻"
url = "http://golden.invalid/gb/prog204.html"
items = "div.list_wrapper div.one_post a[href]"

[source.secretchina]
title = "看中国"
hosts = ["www.secretchina.com"]
min_text = 10

[source.secretchina.channel.dalu]
title = "看大陆"
url = "http://golden.invalid/news/gb/p1.xml"
"""


@dataclass(frozen=True)
class Published:
    clone: Path
    commits: tuple[int, int]  # on the remote after the first cycle and after a second with nothing new


def serve(site: Site, corpus_dir: Path) -> None:
    """Serve the NTD pages (the first article linking to the second), a lead picture and the secretchina feed."""
    for file in sorted(GOLDEN_SITE.rglob("*")):
        if file.is_file():
            site.serve_corpus_file("/" + file.relative_to(GOLDEN_SITE).as_posix(), file)
    first = "/gb/2023/05/25/a103719597.html"
    html = (GOLDEN_SITE / first.lstrip("/")).read_text(encoding="utf-8")
    site.add(first, html.replace('<div class="post_content" itemprop="articleBody">',
                                 f'<div class="post_content" itemprop="articleBody"><p>另见<a href="{LINKED}">杜特尔特'
                                 f'</a>。</p>', 1))
    site.add("/assets/uploads/2018/10/a1394161-800x450.jpg", PICTURE.read_bytes(), "image/png")
    site.serve_corpus_file("/news/gb/p1.xml", corpus_dir / "feeds" / "secretchina.com-p1.rss.xml")


@pytest.fixture(scope="module")
def published(tmp_path_factory, corpus_dir) -> Published:
    tmp = tmp_path_factory.mktemp("readers")
    bare = bare_repository(tmp / "jinwen.git")
    with Site() as site:
        serve(site, corpus_dir)
        config = tmp / "mirrord.toml"
        config.write_text(CONFIG.format(state=tmp / "state", proxy=site.base_url, bare=bare, public_url=PUBLIC_URL,
                                        keep=KEEP), encoding="utf-8")
        first = mirrord(config, "once")
        assert first.code == 0, first.stdout + first.stderr
        after_first = commit_count(bare)
        second = mirrord(config, "once")
        assert second.code == 0, second.stdout + second.stderr
    return Published(clone(bare, tmp / "reader"), (after_first, commit_count(bare)))


def github(markdown: str) -> LexborHTMLParser:
    """Return the HTML GitHub's renderer makes of markdown (raw HTML passed on, through the tag filter)."""
    html = cmarkgfm.markdown_to_html_with_extensions(markdown, options=Options.CMARK_OPT_UNSAFE,
                                                     extensions=GITHUB_EXTENSIONS)
    return LexborHTMLParser(html)


def reader_text(path: Path) -> str:
    """Return what a reader reads of a Markdown file on GitHub, but for the article's own text (a page's lead and
    body, the `<div>` blocks) and addresses: its text, and the text of its pictures (alt, title)."""
    tree = github(path.read_text(encoding="utf-8"))
    for block in tree.css("body > div"):
        block.decompose()
    pictures = [" ".join(filter(None, (img.attributes.get("alt"), img.attributes.get("title"))))
                for img in tree.css("img")]
    return URL.sub(" ", " ".join([tree.body.text(separator=" "), *pictures]))


def feed_text(path: Path) -> str:
    """Return what a feed reader shows of a feed but for the articles' own text: its title, author and entry
    titles."""
    feed = feedparser.parse(path.read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    return " ".join([feed.feed.title, feed.feed.author, *(entry.title for entry in feed.entries)])


def test_a_zh_hans_mirror_shows_readers_no_english_word(published):
    files = sorted(p for p in published.clone.rglob("*")
                   if p.is_file() and not {".git", ".mirrord"} & set(p.relative_to(published.clone).parts))
    markdown = [p for p in files if p.suffix == ".md"]
    assert {p.suffix for p in files} == {".md", ".png", ".xml"}, "pictures, QR codes and feeds besides the Markdown"
    assert len([p for p in markdown if p.parts[-3] == "pages"]) == KEEP + 2
    feeds = [p for p in files if p.suffix == ".xml"]
    assert [p.relative_to(published.clone).as_posix() for p in feeds] == ["feeds/dalu.xml", "feeds/prog204.xml"]
    english = {p.relative_to(published.clone).as_posix(): re.findall(r"[A-Za-z]+", text)
               for p, text in [*((p, reader_text(p)) for p in markdown), *((p, feed_text(p)) for p in feeds)]}
    assert {path: words for path, words in english.items() if words} == {}
    seen = reader_text(published.clone / "pages" / "dalu" / "1003745.md")
    assert "分享本页：" in seen and "原文：" in seen and "本页二维码" in seen and "首页" in seen, seen
    assert "本人父" not in seen, "the article's own text is left out of the check"
    assert "最后更新：" in reader_text(published.clone / "README.md")


def test_a_cycle_with_nothing_new_changes_nothing(published):
    first, second = published.commits
    assert first >= 1 and second == first


def test_titles_and_bodies_are_in_one_script(published):
    """secretchina's descriptions are traditional: simplified on the page, its title as the feed gave it."""
    page = (published.clone / "pages" / "dalu" / "1003745.md").read_text(encoding="utf-8")
    assert "本人父亲吴中南" in page and "父親" not in page.rpartition("<!-- mirrord")[0]
    index = (published.clone / "indexes" / "dalu.md").read_text(encoding="utf-8")
    assert "[上海男子：一间急诊室挤150病患 父亲苦求2天半去世\\(组图\\)](../pages/dalu/1003745.md)" in index


def links(node: LexborNode | LexborHTMLParser) -> list[str]:
    return [a.attributes["href"] for a in node.css("a[href]")]


def resolves(base: Path, target: str, clone: Path) -> bool:
    """Tell whether a relative link from a file in base leads to a file of the mirror."""
    found = (base / target).resolve()
    return found.is_file() and found.is_relative_to(clone.resolve())


def test_the_readme_is_a_front_page(published):
    clone = published.clone
    tree = github((clone / "README.md").read_text(encoding="utf-8"))
    assert [h.text() for h in tree.css("h1")] == ["禁闻镜像"]
    assert [h.text() for h in tree.css("h2")] == ["新唐人", "看中国"]
    assert [h.text() for h in tree.css("h3")] == ["大陆新闻", "看大陆"]
    lists = tree.css("ul")
    assert [len(ul.css("li")) for ul in lists] == [2, 3], "both NTD articles, 3 of secretchina's"
    for item in tree.css("li"):
        (target,) = links(item)
        assert target.startswith("pages/") and resolves(clone, target, clone), target
        assert DATE.search(item.text().strip()), item.text()
    full = [a for a in tree.css("p > a") if a.text().startswith("全部")]
    assert [(a.text(), a.attributes["href"]) for a in full] == [("全部 2 篇", "indexes/prog204.md"),
                                                               (f"全部 {KEEP} 篇", "indexes/dalu.md")]
    assert all(resolves(clone, a.attributes["href"], clone) for a in full)


def test_a_channel_index_lists_every_page_with_its_date(published):
    clone = published.clone
    tree = github((clone / "indexes" / "dalu.md").read_text(encoding="utf-8"))
    assert [h.text() for h in tree.css("h1")] == ["看大陆"]
    assert "../README.md" in links(tree) and resolves(clone / "indexes", "../README.md", clone)
    lines = tree.css("h4")
    assert len(lines) == KEEP
    for line in lines:
        (target,) = links(line)
        assert resolves(clone / "indexes", target, clone), target
        assert DATE.search(line.text().strip()), line.text()


def test_a_page_reads_as_the_seed_layout_with_its_pictures_links_and_qr_code(published):
    clone = published.clone
    folder = clone / "pages" / "prog204"
    tree = github((folder / "a103719597.md").read_text(encoding="utf-8"))
    top = [node.tag for node in tree.body.iter()][:2]
    assert top == ["h3", "hr"], "the title, then a rule"
    assert tree.css_first("h3").text() == "习近平晤俄总理再释信号：坚定支持核心利益"
    assert "../prog204/a1394161.md" in links(tree), "the link to the other article points at its page"
    local = [target for target in links(tree) if not URL.match(target)]
    assert local and all(resolves(folder, target, clone) for target in local), local
    qr = tree.css_first('img[src$=".md.png"]')
    assert qr.attributes["alt"] == "本页二维码" and resolves(folder, qr.attributes["src"], clone)
    assert qr.parent.attributes["href"] == f"{PUBLIC_URL}/pages/prog204/a103719597.md"
    assert "http://golden.invalid/gb/2023/05/25/a103719597.html" in links(tree), "the original, linked"
    other = github((folder / "a1394161.md").read_text(encoding="utf-8"))
    stored = [img.attributes["src"] for img in other.css("img") if img.attributes["src"].startswith("a1394161.files/")]
    assert stored and all(resolves(folder, src, clone) for src in stored), "the lead picture, stored beside"


# --- the upgrade from main before languages and the front page ---------------------------------------------------

RELEASE_BEFORE = "9a5543b"  # main before lang, variant, the front page and the new defaults


def mirror_files(bare: Path, into: Path) -> dict[str, bytes]:
    """Return every file of a fresh clone of bare, by path."""
    reader = clone(bare, into)
    return {p.relative_to(reader).as_posix(): p.read_bytes() for p in sorted(reader.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(reader).parts}


def test_a_mirror_of_the_release_before_goes_on_with_its_pages_untouched(tmp_path, site):
    """The release before publishes a mirror (default lang, no links or images keys); this code then goes on:
    the README and indexes change format once, every page, QR code and picture keeps its bytes, a second
    cycle with nothing new commits nothing, and a new article is published beside the old pages."""
    old = release(RELEASE_BEFORE, "main before languages and the front page", tmp_path / "release")
    populate(site, special_cases=False)
    bare = bare_repository(tmp_path / "remote.git")
    config = write_config(tmp_path / "mirrord.toml", site, bare)
    before_run = run_release(old, config)
    assert before_run.code == 0, before_run.stdout + before_run.stderr
    before = mirror_files(bare, tmp_path / "before")
    assert "- [World](indexes/world.md) (6)" in before["README.md"].decode("utf-8"), "the old README"

    upgraded = mirrord(config, "once")
    assert upgraded.code == 0, upgraded.stdout + upgraded.stderr
    after = mirror_files(bare, tmp_path / "after")
    changed = sorted(path for path in before if after.get(path) != before[path])
    assert changed == ["README.md", "indexes/features.md", "indexes/local.md", "indexes/world.md"]
    added = [f"{folder}/{channel}{suffix}" for channel in ("features", "local", "world")
             for folder, suffix in (("feeds", ".xml"), (".mirrord/ledger", ".jsonl"))]
    assert sorted(after) == sorted([*before, *added]), "no page added or removed; each channel's feed and ledger"
    assert "### World\n" in after["README.md"].decode("utf-8") and DATE.search(
        after["indexes/world.md"].decode("utf-8").splitlines()[-1])

    commits = commit_count(bare)
    assert mirrord(config, "once").code == 0 and commit_count(bare) == commits, "no churn after the change"
    add_article(site, "world", "harbour-reopens", "Harbour reopens", ["The harbour reopened on Monday morning."])
    assert mirrord(config, "once").code == 0
    latest = mirror_files(bare, tmp_path / "latest")
    assert {path: latest[path] for path in before if path.startswith("pages/")} == \
        {path: data for path, data in before.items() if path.startswith("pages/")}
    assert "pages/world/harbour-reopens.md" in latest
    assert "[Harbour reopens](pages/world/harbour-reopens.md)" in latest["README.md"].decode("utf-8")
