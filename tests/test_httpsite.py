"""Checks of the test HTTP server and the fixture site built on it."""

from __future__ import annotations

import gzip
import urllib.error
import urllib.request
from pathlib import Path

import fixture_site as fx
from httpsite import Site


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_serves_added_routes_and_records_requests(site: Site) -> None:
    url = site.add("page.html", "<p>héllo</p>")
    assert url == site.url("/page.html")
    assert url.startswith("http://127.0.0.1:")
    status, headers, body = fetch(url)
    assert (status, body.decode()) == (200, "<p>héllo</p>")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    fetch(site.url("/page.html?x=1"))  # query strings fall back to the bare path
    assert site.requests == ["/page.html", "/page.html?x=1"]
    assert site.requested("/page.html") == 1


def test_unknown_path_is_404_and_routes_change_live(site: Site) -> None:
    assert fetch(site.url("/later.html"))[0] == 404
    site.add("/later.html", b"now")
    assert fetch(site.url("/later.html"))[2] == b"now"


def test_status_headers_and_etag(site: Site) -> None:
    site.add("/moved", b"", status=301, headers=(("Location", site.url("/target")),))
    site.add("/target", b"here", "text/plain")
    assert fetch(site.url("/moved"))[2] == b"here"
    site.add("/tagged", b"v1", headers=(("ETag", '"v1"'),))
    assert fetch(site.url("/tagged"), {"If-None-Match": '"v1"'})[0] == 304
    assert fetch(site.url("/tagged"), {"If-None-Match": '"v0"'})[2] == b"v1"


def test_serve_corpus_file(site: Site, tmp_path: Path) -> None:
    page = tmp_path / "page.gz"
    page.write_bytes(gzip.compress("<h1>Ünïcode</h1>".encode()))
    feed = tmp_path / "feed.rss"
    feed.write_text("<rss/>")
    site.serve_corpus_file("/a", page)
    site.serve_corpus_file("/feed", feed)
    status, headers, body = fetch(site.url("/a"))
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"] == "text/html"
    assert gzip.decompress(body).decode() == "<h1>Ünïcode</h1>"
    status, headers, body = fetch(site.url("/feed"))
    assert (headers["Content-Type"], body) == ("application/xml", b"<rss/>")


def test_fixture_site_layout(site: Site) -> None:
    news = fx.populate(site)
    assert [len(news.slugs(c)) for c in ("world", "local", "features")] == [7, 7, 6]
    assert fx.SHARED_SLUG in news.slugs("world") and fx.SHARED_SLUG in news.slugs("local")
    local = fetch(fx.channel_url(site, "local"))[2].decode()
    assert "content:encoded" not in local and fx.FOREIGN_HOST in local
    assert "content:encoded" in fetch(fx.channel_url(site, "world"))[2].decode()
    missing = fetch(fx.article_url(site, fx.MISSING_BODY_SLUG))[2].decode()
    assert 'class="body"' not in missing and 'class="share"' in missing
    listing = fetch(fx.channel_url(site, "features"))[2].decode()
    assert 'href="2026/11/night-trains-return.html"' in listing
    assert fetch(site.url("/weekly/2026/11/night-trains-return.html"))[0] == 200

    art = fx.add_article(site, "features", "new-story", "A new story", ["First paragraph.", "Second paragraph."])
    listing = fetch(fx.channel_url(site, "features"))[2].decode()
    assert listing.index("new-story") < listing.index("night-trains-return")
    page = fetch(site.url(art.path))[2].decode()
    assert '<div class="story-text">\n<p>First paragraph.</p>\n<p>Second paragraph.</p>' in page
    assert news.good_slugs("features")[0] == "new-story"
