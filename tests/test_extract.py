"""Extraction: selectors, held-back articles, links and images policies, and the sanitizer (pure)."""

from __future__ import annotations

import hashlib

import pytest

from mirrord.errors import FetchError, HeldBack
from mirrord.extract import extract_article, image_file, image_kind, image_urls, with_local_images
from mirrord.model import Response

from values import FETCHED, channel, entry, mirror

PAGE = """<html><head><base href="http://evil.test/"><script>alert(1)</script></head><body>
<nav><a href="/">Home</a></nav>
<div class="lead"><img data-src="/img/p.jpg" src="data:image/gif;base64,R0lG" alt="pic"><span>Caption</span></div>
<div class="body">
  <p onclick="steal()">First paragraph with a <a href="/2026/11/b2.html">related story</a> and
     <a href="https://other.test/x">another site</a>.</p>
  <div class="related"><a href="/r">Related links</a></div>
  <script>document.write('x')</script><style>p{}</style>
  <iframe src="https://ads.test/"></iframe><object data="x.swf"><embed src="x.swf"></object>
  <form action="/subscribe"><input name="email"><button>Subscribe now</button></form>
  <a href="javascript:alert(1)">click</a> <a href="data:text/html,hi">data</a>
  <svg><script>alert(2)</script><circle r="1"/></svg>
  <p>Second paragraph, long enough to count as an article body.</p>
  <div class="body"><p>Nested match must not be repeated.</p></div>
</div></body></html>"""
URL = "http://site.test/2026/11/a1.html"


def extract(page=PAGE, *, local=None, **mirror_changes):
    return extract_article(entry(URL), channel(rules={"content": "div.body", "lead": "div.lead",
                                                      "remove": ("div.related",)}),
                           mirror(**mirror_changes), page, FETCHED, local or {})


def test_body_and_lead_are_selected_and_remove_applies():
    article = extract()
    assert "First paragraph" in article.body_html and "Second paragraph" in article.body_html
    assert article.body_html.count("Nested match") == 1
    assert "Related links" not in article.body_html and "Home" not in article.body_html
    assert '<img src="http://site.test/img/p.jpg" alt="pic">' in article.lead_html


@pytest.mark.parametrize("forbidden", ["<script", "alert", "<style", "<iframe", "<object", "<embed", "<form",
                                       "<input", "Subscribe now", "onclick", "javascript:", "data:", "<svg",
                                       "<base", "evil.test"])
def test_nothing_active_survives(forbidden):
    article = extract()
    assert forbidden not in article.lead_html + article.body_html


def test_links_keep_are_absolute():
    body = extract(links="keep").body_html
    assert '<a href="http://site.test/2026/11/b2.html">related story</a>' in body
    assert '<a href="https://other.test/x">another site</a>' in body


def test_links_neutralize_become_their_text():
    body = extract(links="neutralize").body_html
    assert "<a" not in body and "related story" in body and "another site" in body


def test_links_rewrite_point_to_mirrored_pages_and_neutralize_the_rest():
    body = extract(links="rewrite", local={"http://site.test/2026/11/b2.html": "../world/b2.md"}).body_html
    assert '<a href="../world/b2.md">related story</a>' in body
    assert "other.test" not in body and "another site" in body


def test_images_drop():
    article = extract(images="drop")
    assert "<img" not in article.lead_html and "Caption" in article.lead_html


def test_missing_body_is_held_back_naming_the_selector():
    with pytest.raises(HeldBack, match="content selector 'div.body' matched nothing"):
        extract("<html><body><p>Redesigned page with plenty of text in it.</p></body></html>")


def test_too_short_body_is_held_back():
    with pytest.raises(HeldBack, match="body has 1 characters of text, fewer than min_text"):
        extract('<div class="body"><p>-</p></div>')


def test_feed_entry_content_is_used_without_a_content_selector():
    article = extract_article(entry(URL, content_html='<p>Full text from the feed, <b>bold</b>.</p>'),
                              channel(), mirror(), None, FETCHED, {})
    assert article.body_html == "<p>Full text from the feed, <b>bold</b>.</p>"


def test_feed_entry_without_content_is_held_back():
    with pytest.raises(HeldBack, match="carries no content"):
        extract_article(entry(URL), channel(), mirror(), None, FETCHED, {})


@pytest.mark.parametrize("data, kind", [
    (b"\x89PNG\r\n\x1a\nrest", "png"), (b"\xff\xd8\xff\xe0rest", "jpg"), (b"GIF87arest", "gif"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"), (b"\x00\x00\x00\x1cftypavif", "avif"),
    (b"<svg onload=alert(1)>", None), (b"<html>", None), (b"", None),
])
def test_only_raster_pictures_are_stored(data, kind):
    assert image_kind(data) == kind


def test_downloaded_pictures_replace_their_sources_and_only_pictures_are_stored():
    article = extract(images="download")
    assert image_urls(article) == ["http://site.test/img/p.jpg"]
    picture = Response("http://site.test/img/p.jpg", 200, b"\xff\xd8\xff-jpeg", "image/jpeg")
    stored = image_file(article, picture)
    assert stored.path == f"a1.files/{hashlib.sha256(picture.body).hexdigest()[:12]}.jpg"
    local = with_local_images(article, {"http://site.test/img/p.jpg": stored.path})
    assert f'<img src="{stored.path}" alt="pic">' in local.lead_html
    with pytest.raises(FetchError, match="not a picture mirrord stores"):
        image_file(article, Response("http://site.test/x", 200, b"\xff\xd8\xff", "text/html"))
