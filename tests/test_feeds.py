"""Each channel's Atom feed in the mirror, `feeds/<channel>.xml`: read by feedparser as a feed reader would,
after real `mirrord once` runs on the fixture site, from a fresh clone of the bare remote.

A feed lists the channel's newest `keep` live pages, newest first, with their whole text, linked to
the pages at `public_url` (relative to the feed without one); it is written in the commit that changes
its channel's pages, and a cycle with nothing new changes nothing.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import feedparser
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrord.feeds import (
    ATOM,
    NOT_XML,
    FeedEntry,
    assembled,
    entry_id,
    entry_xml,
    from_feed,
    mirror_link,
    render_feed,
    stamp,
    written_entries,
)
from mirrord.index import parse_index
from mirrord.pageblocks import marked_block
from mirrord.render import page_url

import values
from fixture_site import add_article, populate
from mirror_run import PUBLIC_URL, bare_repository, clone, commit_count, git, metadata_of, mirrord, write_config

TAG = re.compile(r"<[^>]+>")
MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def text_of(fragment: str) -> str:
    """Return the words of an HTML or Markdown fragment, for comparing what two renderings say."""
    words = html.unescape(TAG.sub(" ", MARKDOWN_LINK.sub(r" \1 ", fragment))).replace("\\", "")
    return " ".join(words.split())


def read_feed(tree: Path, channel: str) -> feedparser.FeedParserDict:
    feed = feedparser.parse((tree / "feeds" / f"{channel}.xml").read_bytes())
    assert feed.bozo == 0, feed.get("bozo_exception")
    return feed


def test_each_channel_has_a_feed_of_its_pages_with_their_whole_text(setup, tmp_path):
    _, bare, config = setup
    assert mirrord(config, "once").code == 0
    tree = clone(bare, tmp_path / "clone")

    for channel in ("world", "local", "features"):
        feed = read_feed(tree, channel)
        paths = parse_index((tree / "indexes" / f"{channel}.md").read_text(encoding="utf-8"))
        assert [entry.link for entry in feed.entries] == [f"{PUBLIC_URL}/{path}" for path in paths]
        for entry, path in zip(feed.entries, paths, strict=True):
            page = (tree / path).read_text(encoding="utf-8")
            meta = metadata_of(page)
            assert entry.title == meta["title"] and entry.id == meta["url"]
            assert entry.updated_parsed[:6] == datetime.fromisoformat(meta["fetched"]).utctimetuple()[:6]
            assert text_of(marked_block(page, "body")) in text_of(entry.content[0].value)
        assert feed.feed.updated == max(entry.updated for entry in feed.entries)


def test_a_feed_changes_with_its_pages_only_and_keeps_the_newest(tmp_path, site):
    populate(site)
    bare = bare_repository(tmp_path / "remote.git")
    config = write_config(tmp_path / "mirrord.toml", site, bare, keep=3)
    assert mirrord(config, "once").code == 0
    feeds = {path: git(bare, "show", f"main:{path}") for path in ("feeds/world.xml", "feeds/local.xml")}

    assert mirrord(config, "once").code == 0
    assert commit_count(bare) == 1, "a cycle with nothing new committed"

    add_article(site, "local", "harbour-festival", "Harbour festival returns",
                ["The harbour festival returns this summer with boats, music and food stalls."])
    assert mirrord(config, "once").code == 0
    changed = git(bare, "show", "--name-only", "--format=", "main").split()
    assert "pages/local/harbour-festival.md" in changed and "feeds/local.xml" in changed
    assert "feeds/world.xml" not in changed and git(bare, "show", "main:feeds/world.xml") == feeds["feeds/world.xml"]
    feed = feedparser.parse(git(bare, "show", "main:feeds/local.xml"))
    assert feed.bozo == 0 and len(feed.entries) == 3
    assert feed.entries[0].title == "Harbour festival returns"
    assert "boats, music and food stalls" in feed.entries[0].content[0].value


def test_without_public_url_entries_link_to_the_pages_relative_to_the_feed(tmp_path, site):
    populate(site)
    bare = bare_repository(tmp_path / "remote.git")
    config = write_config(tmp_path / "mirrord.toml", site, bare)
    config.write_text(config.read_text(encoding="utf-8").replace(f'public_url = "{PUBLIC_URL}"\n', ""),
                      encoding="utf-8")
    assert mirrord(config, "once").code == 0
    tree = clone(bare, tmp_path / "clone")

    feed = read_feed(tree, "local")

    for entry in feed.entries:
        assert entry.link.startswith("../pages/") and (tree / "feeds" / entry.link).resolve().is_file()


def test_markdown_bodies_reach_feed_readers_as_html(tmp_path, site):
    populate(site)
    bare = bare_repository(tmp_path / "remote.git")
    config = write_config(tmp_path / "mirrord.toml", site, bare, extra_mirror='body = "markdown"')
    assert mirrord(config, "once").code == 0
    tree = clone(bare, tmp_path / "clone")

    feed = read_feed(tree, "local")

    for entry in feed.entries:
        content = entry.content[0]
        assert content.type == "text/html" and content.value.startswith("<p>")
        page = (tree / entry.link.removeprefix(f"{PUBLIC_URL}/")).read_text(encoding="utf-8")
        assert text_of(content.value) == text_of(marked_block(page, "body"))


def test_a_feed_carries_no_character_xml_forbids():
    entry = FeedEntry("pages/c/a.md", "A title\x0b with a tab\x01", "https://example.org/a", datetime(2026, 1, 2,
                      tzinfo=timezone.utc), "<div>\n<p>text\x00 and \ufffe more</p>\n</div>")

    feed = feedparser.parse(render_feed(values.mirror(), "c", "Channel", [entry]))

    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.entries[0].title == "A title with a tab"
    assert feed.entries[0].content[0].value == "<div>\n<p>text and  more</p>\n</div>"


def test_addresses_relative_to_the_page_become_relative_to_the_feed():
    fragment = ('<div>\n<p><img src="a.files/1.jpg" alt=""> <a href="../world/b.md">b</a> '
                '<a href="https://example.org/x">x</a> <a href="#n1">1</a></p>\n</div>')

    rebased = from_feed(fragment, "pages/local")

    assert rebased == ('<div>\n<p><img src="../pages/local/a.files/1.jpg" alt=""> '
                       '<a href="../pages/local/../world/b.md">b</a> <a href="https://example.org/x">x</a> '
                       '<a href="#n1">1</a></p>\n</div>')


def entries_of_a_feed() -> list[FeedEntry]:
    return [FeedEntry(f"pages/c/a{n}.md", f"Title {n} & <b>", f"https://example.org/a?n={n}&x=<1>",
                      datetime(2026, 1, 1, n, tzinfo=timezone.utc), f"<div>\n<p>text {n} &amp; more</p>\n</div>")
            for n in range(4)]


def test_a_feed_written_again_carries_its_entries_and_is_the_feed_rendered_whole():
    mirror, entries = values.mirror(public_url=PUBLIC_URL), entries_of_a_feed()
    old = render_feed(mirror, "c", "Channel", entries[1:])

    carried = written_entries(old, mirror, "c", "Channel")
    again = assembled(mirror, "c", "Channel", [entry_xml(entries[0], mirror)]
                      + [carried[entry_id(entry.url)] for entry in entries[1:]])

    assert set(carried) == {entry_id(entry.url) for entry in entries[1:]}
    assert again == render_feed(mirror, "c", "Channel", entries)


def test_no_entry_is_carried_from_a_feed_whose_own_elements_change():
    mirror = values.mirror(public_url=PUBLIC_URL)
    old = render_feed(mirror, "c", "Channel", entries_of_a_feed())

    assert written_entries(old, replace(mirror, public_url="https://elsewhere.example/m"), "c", "Channel") == {}
    assert written_entries(old, replace(mirror, title="Another"), "c", "Channel") == {}
    assert written_entries(old, mirror, "c", "Renamed") == {}
    assert written_entries(None, mirror, "c", "Channel") == {}


def element_tree_entry(entry: FeedEntry, mirror) -> str:
    """The entry as ElementTree writes it in an indented feed: how every release up to 966f4a9 wrote entries,
    which mirrors' feeds hold and the new ones must match byte for byte."""
    feed = ET.Element(f"{{{ATOM}}}feed")
    item = ET.SubElement(feed, f"{{{ATOM}}}entry")
    for tag, text in (("id", page_url(entry.url)), ("title", entry.title), ("updated", stamp(entry.fetched)),
                      ("published", stamp(entry.fetched))):
        ET.SubElement(item, f"{{{ATOM}}}{tag}").text = NOT_XML.sub("", text)
    ET.SubElement(item, f"{{{ATOM}}}link", {"rel": "alternate", "href": mirror_link(mirror, entry.path)})
    ET.SubElement(item, f"{{{ATOM}}}link", {"rel": "via", "href": page_url(entry.url)})
    ET.SubElement(item, f"{{{ATOM}}}content", {"type": "html"}).text = NOT_XML.sub("", entry.html)
    ET.indent(feed)
    text = ET.tostring(feed, encoding="unicode")
    return text[text.index("\n") + 1:].removesuffix("</feed>")


TRICKY = st.text(st.sampled_from(list("a <>&\"'\r\n\t\x00\x0b\x1f\ufffe\uffff\u00e9\u4e2d\U0001f600;=?#/")),
                 max_size=12)


@settings(max_examples=500, deadline=None)
@given(title=TRICKY, body=TRICKY, query=TRICKY, public=st.sampled_from([None, PUBLIC_URL, 'https://h/"x"&<y>\t']))
def test_an_entry_is_written_as_element_tree_writes_it(title, body, query, public):
    mirror = values.mirror(public_url=public)
    entry = FeedEntry(f"pages/c/{query or 'a'}.md", title, f"https://example.org/a?{query}",
                      datetime(2026, 1, 1, tzinfo=timezone.utc), body)

    assert entry_xml(entry, mirror).xml == element_tree_entry(entry, mirror)
