"""Rendering: the page layout, inert titles, metadata, QR codes, templates (pure functions)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from markdown_it import MarkdownIt

from mirrord.index import parse_index, render_index, render_readme
from mirrord.model import LedgerRow, Source
from mirrord.render import parse_metadata, render_page

from values import FETCHED, article, channel, mirror, templates_dir

HOSTILE_TITLES = [
    "Line one\nLine two\r\n\tthree",
    "Click [here](javascript:alert(1)) now",
    "a ](../../README.md) b",
    "<script>alert(1)</script> & <b>bold</b>",
    "Left | right | middle",
    "Code `rm -rf` ``x``",
    "## Not a heading ##",
    "# ",
    "Ends with hashes ###",
    "*stars* _under_ ~~strike~~ ![img](x.png)",
    "\\ backslash \\",
    "长标题" * 700,
    "x" * 2000,
    "Line\u2028separator\u2029paragraph\x85next",
    "[ref]: http://evil.test/ \"title\"",
    "<img src=x onerror=alert(1)>",
    "&lt;already escaped&gt; &amp; &#x3C;",
    "> quoted",
    "1. numbered",
    "=== setext ===",
    "- - -",
    "<!-- comment",
    "http://autolink.test/ and <http://autolink.test/>",
]
markdown = MarkdownIt("commonmark")


def page_text(**changes) -> str:
    files = render_page(article(**changes.pop("article", {})), mirror(**changes))
    return files[0].data.decode("utf-8")


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_hostile_title_stays_one_heading_with_no_link_or_html(title):
    text = page_text(article={"title": title})
    tokens = markdown.parse(text.split("------------------------")[0])
    assert [t.type for t in tokens] == ["heading_open", "inline", "heading_close"]
    inline = tokens[1].children
    assert {t.type for t in inline} == {"text"}
    assert len(tokens[1].content) <= 400


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_hostile_title_keeps_index_lines_intact(title):
    rows = [LedgerRow("news", "world", f"a{i}", f"pages/world/a{i}.md", t, "u", "daily", FETCHED, seq=i)
            for i, t in enumerate([title, "Plain"], 1)]
    text = render_index(mirror(), "World", rows)
    headings = [t for t in markdown.parse(text) if t.type == "inline" and t.map and
                text.splitlines()[t.map[0]].startswith("####")]
    assert len(headings) == 2
    links = [[c.attrs.get("href") for c in h.children if c.type == "link_open"] for h in headings]
    assert links == [["../pages/world/a2.md"], ["../pages/world/a1.md"]]


def test_page_layout_follows_the_spec_order():
    text = page_text(public_url="https://git.test/me/news/blob/main", qr=True, header="HEADER-MD",
                     footer="FOOTER-MD", article={"lead_html": "<figure>LEAD</figure>"})
    order = ["### A title", "HEADER-MD", "LEAD", "Body text", "https://git.test/me/news/blob/main/pages/world/a1.md",
             "a1.md.png", "Original: <http://site.test/2026/11/a1.html>", "FOOTER-MD", "<!-- mirrord "]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    assert text.rstrip().splitlines()[-1].startswith("<!-- mirrord ")


def test_qr_code_is_a_small_png_only_with_public_url():
    files = render_page(article(), mirror(public_url="https://git.test/n/blob/main", qr=True))
    assert [f.path for f in files] == ["pages/world/a1.md", "pages/world/a1.md.png"]
    assert files[1].data.startswith(b"\x89PNG") and len(files[1].data) < 2048
    assert len(render_page(article(), mirror())) == 1


def test_metadata_line_cannot_be_closed_by_values():
    text = page_text(article={"url": "http://site.test/a-->b.html", "title": "x --> <!-- y"})
    last = text.rstrip().splitlines()[-1]
    assert last.count("-->") == 1
    meta = json.loads(last.removeprefix("<!-- mirrord ").removesuffix(" -->"))
    assert meta["url"] == "http://site.test/a-->b.html" and meta["fetched"] == "2026-11-26T09:00:00+00:00"


LINE_BREAKING_URL = "http://site.test/a\u2028b\u2029c\x85d\x1ce.html"


def test_metadata_line_is_ascii_and_reads_back_whatever_the_url_holds():
    """The URL's line separators, written raw, cut the line in two for str.splitlines()."""
    text = page_text(article={"url": LINE_BREAKING_URL, "title": "長標題 > «quoted»"})
    last = text.splitlines()[-1]
    assert last.isascii() and last.startswith("<!-- mirrord {") and last.count("-->") == 1
    meta = parse_metadata(text)
    assert (meta["url"], meta["title"], meta["id"]) == (LINE_BREAKING_URL, "長標題 > «quoted»", "a1")


def test_metadata_lines_of_pages_written_before_they_were_ascii_still_read():
    """Pages are never rewritten: the non-ASCII lines of the release before stay readable."""
    fields = {"id": "a1", "source": "daily", "channel": "world", "url": LINE_BREAKING_URL,
              "fetched": "2026-11-26T09:00:00+00:00", "title": "長標題 > x"}
    old_line = json.dumps(fields, ensure_ascii=False).replace(">", "\\u003e")
    assert "\u2028" in old_line and "長標題" in old_line
    for ending in ("\n", "\r\n", ""):
        page = f"### 長標題\n\nbody\n\n<!-- mirrord {old_line} -->{ending}"
        assert parse_metadata(page.replace("\n", ending or "\n")) == fields


def test_html_body_is_one_block_even_with_blank_lines():
    text = page_text(article={"body_html": "<p>one</p>\n\n\n    <p>indented *not markdown*</p>"})
    assert "\n\n    <p>" not in text
    assert "code_block" not in {t.type for t in markdown.parse(text)}


def test_markdown_body():
    text = page_text(body="markdown", article={"body_html": '<p>Hello <b>world</b> <a href="http://x.test/">x</a></p>'})
    assert "Hello **world** [x](http://x.test/)" in text


def test_templates_folder_overrides_built_in_ones(tmp_path):
    folder = templates_dir(tmp_path, page="CUSTOM {{ title }}\n{{ body }}\n", readme="R {{ title }}\n")
    custom = mirror(templates=folder)
    assert page_text(templates=folder).startswith("CUSTOM A title")
    assert render_readme(custom, [], {}, FETCHED) == "R News\n"
    assert render_index(custom, "World", []).startswith("# World"), "index.md.j2 still comes from the package"


def rows_of(channel_name: str, count: int, source: str = "daily") -> list[LedgerRow]:
    return [LedgerRow("news", channel_name, f"a{i}", f"pages/{channel_name}/a{i}.md", f"Title {i}", "u", source,
                      FETCHED + timedelta(days=i), seq=i) for i in range(1, count + 1)]


def test_readme_front_page_shows_each_channels_newest_headlines_with_dates():
    source = Source(name="daily", title="Daily | News", mirror="news", every=900, cron=None,
                    channels=(channel(), channel(name="empty", title="Empty")))
    text = render_readme(mirror(readme_header="Welcome.", front_page=2), [source], {"world": rows_of("world", 3)},
                         FETCHED)
    assert text.startswith("# News\n\nWelcome.\n\n## Daily \\| News\n\n### World\n\n"
                           "- [Title 3](pages/world/a3.md) · 2026-11-29\n"
                           "- [Title 2](pages/world/a2.md) · 2026-11-28\n\n"
                           "[All 3 pages](indexes/world.md)\n\n### Empty\n\n[All 0 pages](indexes/empty.md)\n\n")
    assert text.endswith("\nLast change: 2026-11-26 09:00 UTC\n")


def test_readme_without_front_page_lists_the_channels_with_their_counts():
    source = Source(name="daily", title="Daily | News", mirror="news", every=900, cron=None, channels=(channel(),))
    text = render_readme(mirror(readme_header="Welcome.", front_page=0), [source], {"world": rows_of("world", 3)},
                         FETCHED)
    assert text == "# News\n\nWelcome.\n\n## Daily \\| News\n\n- [World](indexes/world.md) (3)\n\n" \
                   "Last change: 2026-11-26 09:00 UTC\n"


def test_index_lines_carry_their_dates_and_read_back():
    text = render_index(mirror(), "World", rows_of("world", 2))
    assert "#### [Title 2](../pages/world/a2.md) · 2026-11-28\n#### [Title 1](../pages/world/a1.md) · 2026-11-27\n" \
        in text
    assert parse_index(text) == ["pages/world/a2.md", "pages/world/a1.md"]
    assert parse_index("#### [Old](../pages/world/old.md)\n") == ["pages/world/old.md"], "indexes before dates"


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_hostile_title_keeps_front_page_lines_intact(title):
    source = Source(name="daily", title=title, mirror="news", every=900, cron=None, channels=(channel(title=title),))
    rows = [replace(row, title=title) for row in rows_of("world", 2)]
    text = render_readme(mirror(title=title, readme_header=None), [source], {"world": rows}, FETCHED)
    tokens = markdown.parse(text)
    links = [c.attrs["href"] for t in tokens if t.type == "inline" for c in t.children if c.type == "link_open"]
    assert links == ["pages/world/a2.md", "pages/world/a1.md", "indexes/world.md"]
    assert [t.tag for t in tokens if t.type == "heading_open"] == ["h1", "h2", "h3"]
