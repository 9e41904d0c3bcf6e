"""Hostile input from sites, each served by a real local server: feeds that break or explode, HTML that
tries to run, ids that try to escape, layouts that change. None of it may crash a cycle or reach a page."""

from __future__ import annotations

import tracemalloc

import pytest
from selectolax.lexbor import LexborHTMLParser

from mirrord.discover import discover_feed, discover_listing, read_channel
from mirrord.errors import DiscoverError
from mirrord.extract import extract_article
from mirrord.model import Response

from httpsite import Site
from values import FETCHED, channel, entry, mirror, rules


@pytest.fixture(scope="module")
def site():
    with Site() as served:
        yield served


def rss(*items: str, prolog: str = "") -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?>{prolog}<rss version="2.0"><channel><title>t</title>'
            + "".join(items) + "</channel></rss>")


def item(number: int, title: str | None = None, guid: str | None = None, link: bool = True) -> str:
    return (f"<item><title>{title or f'Story {number}'}</title>"
            + (f"<link>http://site.test/a/{number}.html</link>" if link else "")
            + (f"<guid isPermaLink=\"false\">{guid}</guid>" if guid else "")
            + f"<description>Text of story {number}.</description></item>")


def served_feed(site: Site, fetch, path: str, body: str | bytes, content_type: str = "application/xml") -> Response:
    site.add(path, body, content_type)
    return fetch(site.url(path))


FEED = rss(*(item(n) for n in range(5)))
TRUNCATIONS = {
    "half": FEED[: len(FEED) // 2],
    "inside a tag": FEED[: FEED.index("<link>", 200) + 9],
    "no closing tags": FEED.removesuffix("</channel></rss>"),
    "mismatched tags": FEED.replace("</title>", "</titel>", 3),
}


@pytest.mark.parametrize("name", TRUNCATIONS)
def test_malformed_and_truncated_feeds_give_their_whole_items_or_a_clear_error(site, fetch, name):
    response = served_feed(site, fetch, f"/broken-{len(name)}.xml", TRUNCATIONS[name])
    found = discover_feed(response, rules())
    for found_entry in found.entries:
        number = int(found_entry.id)
        assert (found_entry.url, found_entry.title) == (f"http://site.test/a/{number}.html", f"Story {number}")


@pytest.mark.parametrize("body", [b"\x00\xff\xfe garbage", b"", b"<html><body>moved</body></html>",
                                  b"<?xml version='1.0'?><rss"])
def test_what_is_no_feed_at_all_is_a_discover_error(site, fetch, body):
    response = served_feed(site, fetch, "/nofeed.xml", body)
    with pytest.raises(DiscoverError, match="is the URL still a feed"):
        discover_feed(response, rules())


def test_control_characters_in_titles_are_dropped(site, fetch):
    response = served_feed(site, fetch, "/controls.xml", rss(item(1, "Nul\x00here and \x01bell\x07")))
    assert discover_feed(response, rules()).entries[0].title == "Nul here and bell"


LAUGHS = "".join(f'\n<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
BOMBS = {
    "billion laughs": f'<!DOCTYPE rss [\n<!ENTITY lol0 "lol">{LAUGHS}\n]>',
    "billion laughs on one line": f'<!DOCTYPE rss [<!ENTITY lol0 "lol">{LAUGHS.replace(chr(10), "")}]>',
    "quadratic blowup": f'<!DOCTYPE rss [\n<!ENTITY lol9 "{"x" * 50_000}">\n]>',
    "external entity": '<!DOCTYPE rss [\n<!ENTITY lol9 SYSTEM "file:///etc/passwd">\n]>',
}


@pytest.mark.parametrize("name", BOMBS)
def test_entity_bombs_are_refused_cheaply(site, fetch, name):
    """Before the refusal, the quadratic blowup cost feedparser 27 s and 2.9 GB, since it re-parses
    what expat's amplification limit rejects with its own unlimited parser."""
    body = rss(item(1, "&lol9;" * 20_000 if name == "quadratic blowup" else "&lol9;"), prolog=BOMBS[name])
    for encoding in ("utf-8", "utf-16"):
        response = served_feed(site, fetch, "/bomb.xml", body.replace('encoding="utf-8"', "").encode(encoding))
        tracemalloc.start()
        with pytest.raises(DiscoverError, match="declares XML entities"):
            discover_feed(response, rules())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 2_000_000, "refused before any entity is expanded"


def test_a_doctype_without_entities_is_still_read(site, fetch):
    netscape = '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" ' \
               '"http://my.netscape.com/publish/formats/rss-0.91.dtd">'
    response = served_feed(site, fetch, "/netscape.xml", rss(item(1), prolog=netscape))
    assert [e.id for e in discover_feed(response, rules()).entries] == ["1"]


LONG_ENTITY = '<!ENTITY big "' + "x" * 4000 + '">'
PROLOGS = {
    "a comment holding <a before the DOCTYPE": f"<!-- <a --><!DOCTYPE rss [{LONG_ENTITY}]>",
    "a processing instruction holding <a": f'<?xml-stylesheet href="<a"?><!DOCTYPE rss [{LONG_ENTITY}]>',
    "a comment holding <a in the DOCTYPE": f"<!DOCTYPE rss [<!-- <a -->{LONG_ENTITY}]>",
    "a processing instruction in the DOCTYPE": f"<!DOCTYPE rss [<?pi <a?>{LONG_ENTITY}]>",
    "a system literal holding <a": f'<!DOCTYPE rss SYSTEM "<a" [{LONG_ENTITY}]>',
    "a public literal holding ]>": f'<!DOCTYPE rss PUBLIC "-//]>" "x.dtd" [{LONG_ENTITY}]>',
    "a CDATA section before the DOCTYPE": f"<![CDATA[<a]]><!DOCTYPE rss [{LONG_ENTITY}]>",
    "white space and a comment": f"\n  <!-- x -->\n<!DOCTYPE rss [\n{LONG_ENTITY}\n]>",
    "no bypass": f"<!DOCTYPE rss [{LONG_ENTITY}]>",
}
ENCODINGS = {
    "utf-8": lambda text: text.encode(),
    "utf-8 with a BOM": lambda text: b"\xef\xbb\xbf" + text.encode(),
    "utf-16": lambda text: text.replace('"utf-8"', '"utf-16"').encode("utf-16"),
    "utf-16be declared in the header only": lambda text: text.replace(' encoding="utf-8"', "").encode("utf-16-be"),
    "utf-32": lambda text: text.replace('"utf-8"', '"utf-32"').encode("utf-32"),
    "EBCDIC": lambda text: text.replace('"utf-8"', '"cp037"').encode("cp037"),
    "utf-7 with < encoded": lambda text: text.replace('"utf-8"', '"utf-7"').encode().replace(b"<!", b"+ADw-!"),
}
BYPASSES = [(prolog, "utf-8") for prolog in PROLOGS] + [(prolog, encoding) for encoding in ENCODINGS
                                                        for prolog in ("a comment holding <a before the DOCTYPE",
                                                                       "no bypass") if encoding != "utf-8"]


@pytest.mark.parametrize("prolog, encoding", BYPASSES)
def test_entity_declarations_are_found_wherever_the_prolog_hides_them(site, fetch, prolog, encoding):
    """Each feed is 12 kB; expat expands its entity to 7.6 MB of title, under the 8 MiB where its amplification
    limit starts. The guard looked for entities before the first "<a", in the raw bytes: 14 of these 21 went
    through it (every "<a" case, in every encoding, and EBCDIC and UTF-7 even without one); all but the CDATA
    one, which expat refuses, became 7.6 MB titles."""
    body = ENCODINGS[encoding](rss(item(1, "&big;" * 1900), prolog=PROLOGS[prolog]))
    content_type = "application/xml; charset=utf-16be" if "header" in encoding else "application/xml"
    response = served_feed(site, fetch, "/hidden.xml", body, content_type)
    tracemalloc.start()
    try:
        with pytest.raises(DiscoverError, match="declares XML entities"):
            discover_feed(response, rules())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000


@pytest.mark.parametrize("prolog", [
    '<?xml-stylesheet type="text/xsl" href="/rss.xsl"?><!-- generated <at> 12:00 -->',
    '\ufeff<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://x.test/rss-0.91.dtd">',
    '<!DOCTYPE rss [<!ELEMENT rss ANY><!ATTLIST rss version CDATA "2.0">]>',
])
def test_prologs_without_entities_and_entities_in_the_text_are_still_read(site, fetch, prolog):
    text = '<![CDATA[<p>An XML lesson: <!ENTITY name "value"> declares an entity.</p>]]>'
    body = rss(item(1), f"<item><title>Lesson</title><link>http://site.test/a/2.html</link>"
                        f"<description>{text}</description></item>", prolog=prolog)
    found = discover_feed(served_feed(site, fetch, "/fine.xml", body), rules())
    assert [e.id for e in found.entries] == ["1", "2"]
    assert "!ENTITY name" in found.entries[1].content_html, "feedparser escapes the < of the lesson"


def test_a_feed_naming_a_local_file_is_not_read_from_disk(site, fetch, tmp_path):
    """feedparser opens bytes that name a file: a feed reading "/dev/zero" would have filled the memory."""
    local = tmp_path / "local.xml"
    local.write_text(rss(item(1, "Read from the disk")), encoding="utf-8")
    response = served_feed(site, fetch, "/named.xml", str(local))
    with pytest.raises(DiscoverError, match="is the URL still a feed"):
        discover_feed(response, rules())


def test_titles_are_capped_wherever_they_enter(site, fetch):
    """A 9 MB title was kept whole, in the page's heading, the index, the ledger and the metadata line."""
    huge = "Nine megabytes of title " * 375_000
    feed = served_feed(site, fetch, "/huge.xml", rss(item(1, huge), item(2, f"&lt;b&gt;{huge[:500_000]}&lt;/b&gt;")))
    titles = [e.title for e in discover_feed(feed, rules()).entries]
    three = huge[:3_000_000]
    site.add("/news/", f'<ul><li><a href="/a/3.html">{three}</a></li><li><a href="/a/4.html" title="{three}"></a>'
                       f'</li><li><a href="/a/5.html"><img alt="{three}"></a></li>'
                       f'<li><a href="/a/{"x" * 3000}.html"></a></li></ul>')
    titles += [e.title for e in discover_listing(fetch(site.url("/news/")), "li", rules()).entries]
    assert len(titles) == 6
    for title in titles[:5]:
        assert len(title) == 500 and title.startswith("Nine megabytes of title") and title.endswith("…")
    assert titles[5].startswith(site.url("/a/xxx")) and len(titles[5]) == 500, "a URL standing in for a title too"


def test_duplicate_guids_and_items_without_links(site, fetch):
    response = served_feed(site, fetch, "/dupes.xml", rss(
        item(1, guid="same"), item(2, guid="same"), item(3, guid="other"), item(4, link=False),
        item(5, guid="http://site.test/a/5.html", link=False)))
    by_guid = discover_feed(response, rules(id="guid"))
    assert [(e.id, e.url) for e in by_guid.entries] == [
        ("same", "http://site.test/a/1.html"), ("other", "http://site.test/a/3.html"),
        (by_guid.entries[2].id, "http://site.test/a/5.html")]
    assert [s.reason for s in by_guid.skipped] == ["item has no link"]
    assert [s.reason for s in by_guid.copies] == ["the same article as http://site.test/a/1.html (same guid)"]
    by_stem = discover_feed(response, rules())
    assert [e.id for e in by_stem.entries] == ["1", "3", "5"], "one guid, one article, whatever names pages get"


def test_304_ends_a_channel_without_parsing():
    not_modified = Response("http://site.test/feed.xml", 304, b"<!ENTITY garbage that is never parsed", "")
    assert read_channel(channel(), not_modified).entries == ()
    assert read_channel(channel(items="div.gone a"), not_modified).entries == ()


HOSTILE_BODY = """
<p>Readable text of the article, long enough to publish.</p>
<script>alert(1)</script><style>body{display:none}</style><noscript><img src="http://t.test/px"></noscript>
<iframe src="http://ads.test/"></iframe><object data="x.swf"><param name="a"></object><embed src="x.swf">
<form action="http://phish.test/"><input name="password"><button formaction="javascript:alert(1)">Go</button></form>
<base href="http://evil.test/"><meta http-equiv="refresh" content="0;url=http://evil.test/">
<link rel="stylesheet" href="http://evil.test/x.css">
<p onclick="a()" onmouseover="b()" style="position:fixed" class="x" id="x">handlers</p>
<img src="x.png" onerror="alert(1)" srcset="http://evil.test/big.png 2x">
<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">
<a href="javascript:alert(1)">js</a> <a href="JaVaScRiPt:alert(1)">mixed case</a>
<a href="jav&#x09;ascript:alert(1)">tab</a> <a href=" javascript:alert(1)">space</a>
<a href="data:text/html;base64,PHNjcmlwdD4=">data</a> <a href="vbscript:msgbox(1)">vb</a>
<svg><script>alert(2)</script><a xlink:href="javascript:alert(3)"><text>svg</text></a></svg>
<math><maction actiontype="statusline" xlink:href="javascript:alert(4)">m</maction></math>
<details open ontoggle="alert(5)"><summary>s</summary></details>
<video src="x.mp4" onloadstart="alert(6)"></video><audio src="x.mp3"></audio>
<template><script>alert(7)</script></template><textarea><script>alert(8)</script></textarea>
<!-- <script>alert(9)</script> --><p>nul\x00byte</p>
"""
ALLOWED_SCHEMES = ("http://", "https://", "mailto:")


def active_parts(fragment: str) -> list[str]:
    """Return what could run or load something in a fragment, read as a browser parses it."""
    found = []
    for node in LexborHTMLParser(f"<body>{fragment}</body>").body.traverse(include_text=False):
        if node.tag in {"script", "style", "iframe", "object", "embed", "form", "input", "button", "base", "meta",
                        "link", "svg", "math", "video", "audio", "template", "textarea", "noscript", "param"}:
            found.append(node.tag)
        for name, value in node.attributes.items():
            if name.startswith("on") or name in {"style", "srcset", "formaction", "xlink:href"}:
                found.append(f"{node.tag}[{name}]")
            if name in {"href", "src"} and value and ":" in value.split("/")[0] \
                    and not value.startswith(ALLOWED_SCHEMES):
                found.append(f"{node.tag}[{name}={value}]")
    return found


@pytest.mark.parametrize("links", ["keep", "neutralize", "rewrite"])
@pytest.mark.parametrize("images", ["hotlink", "download", "drop"])
@pytest.mark.parametrize("where", ["page", "feed"])
def test_nothing_active_survives_into_a_page(site, fetch, links, images, where):
    site.add("/hostile.html", f'<html><head><base href="http://evil.test/"></head><body><div class="body">'
                              f"{HOSTILE_BODY}</div></body></html>")
    response = fetch(site.url("/hostile.html"))
    page = response.body.decode() if where == "page" else None
    source = channel(rules={"content": "div.body" if where == "page" else None})
    article = extract_article(entry(site.url("/hostile.html"), content_html=HOSTILE_BODY), source,
                              mirror(links=links, images=images), page, FETCHED, {})
    assert active_parts(article.body_html) == []
    for word in ("alert", "evil.test", "javascript", "\x00", "password"):
        assert word not in article.body_html.lower()
    assert "Readable text of the article" in article.body_html
    if images != "drop":
        assert f'<img src="{site.url("/x.png")}">' in article.body_html, "a relative picture becomes absolute"
