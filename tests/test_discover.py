"""Discovery: ids that are safe file names, filters, listings and feeds (pure functions)."""

from __future__ import annotations

import re

import pytest

from mirrord.discover import article_id, discover_feed, discover_listing
from mirrord.errors import DiscoverError
from mirrord.model import Response

from values import rules

SAFE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


@pytest.mark.parametrize("url, expected", [
    ("https://www.ntdtv.com/gb/2023/05/25/a103719597.html", "a103719597"),
    ("https://site.test/news/my-story/", "my-story"),
    ("https://site.test/news/archive.tar.gz", "archive.tar.gz"),
    ("https://www.phoronix.com/news/Linux-6.14-FUSE", "Linux-6.14-FUSE"),
    ("https://site.test/story01.HTM", "story01"),
    ("https://site.test/news/plain", "plain"),
])
def test_stem_is_the_last_path_segment_without_extension(url, expected):
    assert article_id(url, None, "stem") == expected


@pytest.mark.parametrize("url", [
    "https://site.test/news/..",
    "https://site.test/news/%2e%2e",
    "https://site.test/news/a%2Fb.html",
    "https://site.test/",
    "https://site.test/news/" + "x" * 500 + ".html",
    "https://site.test/新闻/习近平.htm",
    "https://site.test/news/.hidden",
    "https://site.test/news/-rf --no-preserve-root",
    "https://site.test/news/../",
    "https://site.test/news/.",
    "https://site.test/a/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "https://site.test/news/%00.html",
    "https://site.test/news/" + "%2e" * 200,
    "https://site.test",
    "https://site.test/news/ünïcode-ö.html",
    "https://site.test/news/" + "a" * 101,
])
def test_unsafe_stems_fall_back_to_a_stable_hash(url):
    first = article_id(url, None, "stem")
    assert SAFE.fullmatch(first) and not first.startswith(".")
    assert article_id(url, None, "stem") == first
    assert first != article_id(url + "x", None, "stem")


def test_query_strings_keep_ids_of_different_articles_apart():
    one = article_id("http://site.test/news_view.html?idx=8576", None, "stem")
    two = article_id("http://site.test/news_view.html?idx=8577", None, "stem")
    assert one != two and one.startswith("news_view-")


def test_guid_hash_and_regex_rules():
    url = "https://site.test/a/fact-check/30279001.html"
    assert article_id(url, "tag-123", "guid") == "tag-123"
    assert SAFE.fullmatch(article_id(url, "https://x/?p=1", "guid"))
    assert article_id(url, None, "hash") == article_id(url, "other", "hash")
    assert article_id(url, None, r"/(\d+)\.html") == "30279001"
    assert article_id("https://site.test/none", None, r"/(\d+)\.html") == article_id("https://site.test/none", None,
                                                                                       "hash")


def rss(*items: str) -> Response:
    body = ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            + "".join(items) + "</channel></rss>").encode()
    return Response("http://site.test/feed.xml", 200, body, "application/rss+xml")


def item(title: str, link: str | None, guid: str | None = None) -> str:
    return (f"<item><title>{title}</title>" + (f"<link>{link}</link>" if link else "")
            + (f"<guid isPermaLink=\"false\">{guid}</guid>" if guid else "") + "<description>d</description></item>")


def test_feed_filters_duplicates_missing_links_foreign_hosts_and_excluded_titles():
    found = discover_feed(rss(
        item("One", "http://site.test/a/1.html"),
        item("One again", "http://site.test/a/1.html"),
        item("No link", None, "not-a-url"),
        item("Elsewhere", "http://elsewhere.test/a/2.html"),
        item("Sponsored: deals", "http://site.test/a/3.html"),
        item("Relative", "/a/4.html"),
    ), rules(exclude=("Sponsored",), hosts=frozenset({"site.test"})))
    assert [(e.id, e.url) for e in found.entries] == [("1", "http://site.test/a/1.html"),
                                                      ("4", "http://site.test/a/4.html")]
    reasons = sorted(skip.reason for skip in found.skipped)
    assert reasons == ["host elsewhere.test is not in hosts", "item has no link",
                       "title contains excluded 'Sponsored'"]
    assert [skip.reason for skip in found.copies] == ["the same article as http://site.test/a/1.html (same link)"]


def test_feed_titles_become_one_line_of_text():
    found = discover_feed(rss(item("<![CDATA[Price <span class='x'>₹</span>\n 5]]>", "http://site.test/p.html")),
                          rules())
    assert found.entries[0].title == "Price ₹ 5"


def test_a_page_that_is_not_a_feed_is_an_error():
    with pytest.raises(DiscoverError, match="not a readable RSS or Atom feed"):
        discover_feed(Response("http://site.test/", 200, b"<html><body>hello</body></html>", "text/html"), rules())


def listing(html: str, url: str = "http://site.test/news/index.html") -> Response:
    return Response(url, 200, html.encode(), "text/html; charset=utf-8")


def test_listing_resolves_relative_links_and_takes_anchor_inside_items():
    page = listing("""<div class="list"><div class="post"><h3><a href="2026/a1.html"> First
        story </a></h3></div><div class="post"><a href="/b2.html#comments"><img alt="Second"></a></div>
        <div class="post"><a href="javascript:void(0)">js</a></div></div>""")
    found = discover_listing(page, "div.list div.post", rules())
    assert [(e.url, e.title) for e in found.entries] == [("http://site.test/news/2026/a1.html", "First story"),
                                                         ("http://site.test/b2.html", "Second")]
    assert [s.reason for s in found.skipped] == ["item has no link"]


def test_listing_honours_base_href():
    page = listing('<base href="http://site.test/other/"><ul><li><a href="x.html">X</a></li></ul>')
    assert discover_listing(page, "ul li a", rules()).entries[0].url == "http://site.test/other/x.html"


def test_listing_whose_selector_matches_nothing_is_a_probable_layout_change():
    with pytest.raises(DiscoverError, match="matched nothing: the page layout probably changed"):
        discover_listing(listing("<p>redesigned</p>"), "div.list_wrapper a", rules())


def test_gbk_listing_without_declared_charset_in_http_decodes():
    html = '<meta charset="gb2312"><ul><li><a href="/a.html">习近平晤俄总理</a></li></ul>'.encode("gbk")
    found = discover_listing(Response("http://site.test/", 200, html, "text/html"), "ul li a", rules())
    assert found.entries[0].title == "习近平晤俄总理"
