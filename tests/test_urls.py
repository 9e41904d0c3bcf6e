"""`urls.absolute` is urljoin, faster for the common shapes: checked against urljoin itself on generated
addresses (every character class the fast paths treat apart, the shapes that make urljoin change an address)
and on every link and picture of the corpus's pages."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mirrord.urls import FROM_ROOT, UNCHANGED, absolute

BASES = ["http://example.com/news/a.html", "https://例子.cn/a/b/?q=1#top", "HTTPS://User:pw@Host:8443/x;p?q",
         "http://h", "ftp://files.example/pub/", "", "//h/x", "http://[::1]:80/a/", "https://h/a/b/c/"]
PIECES = ["http://", "https://", "HTTP://", "//", "/", "./", "../", ".", "..", "?", "#", ";", ":", "@", "%20", "a",
          "Z", "9", "-", "~", "é", " ", "\t", "\n", "\x00", "[", "]", "'", "=", "&", "\\", "mailto:", "data:,"]


def joined_or_error(function, base: str, url: str) -> str:
    try:
        return function(base, url)
    except ValueError as error:
        return f"ValueError: {error}"


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(BASES), st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
@example("http://example.com/news/a.html", "/c0/a1.html")
@example("http://example.com/news/a.html", "/a/../b")
@example("http://example.com/news/a.html", "/a/.")
@example("http://example.com/news/a.html", "http://h/p?")
@example("http://example.com/news/a.html", "http://h/p;")
@example("http://example.com/news/a.html", "/p?#")
@example("http://example.com/news/a.html", "http://[h/p")
def test_absolute_is_urljoin(base: str, url: str) -> None:
    assert joined_or_error(absolute, base, url) == joined_or_error(urljoin, base, url)


def test_absolute_is_urljoin_on_the_corpus_links() -> None:
    """Every href and src of the corpus's pages, against their own address: the fast paths take most."""
    corpus = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    addresses = [address for page in corpus.rglob("*.html")
                 for address in re.findall(r'(?:href|src)="([^"]*)"', page.read_text("utf-8", errors="replace"))]
    base = "https://news.example/2024/05/story.html"
    assert len(addresses) > 1000
    assert [absolute(base, a) for a in addresses] == [urljoin(base, a) for a in addresses]
    fast = sum(1 for a in addresses if UNCHANGED.match(a) or FROM_ROOT.match(a))
    assert fast > len(addresses) / 2
