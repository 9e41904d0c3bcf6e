"""Each channel's Atom feed in the mirror (`feeds/<channel>.xml`), so that readers can follow a mirror with a
feed reader through the git host: pure functions over the pages the mirror holds.

An entry carries the article's whole text as HTML: the page's own blocks for `body = "html"`, the
Markdown blocks rendered for `body = "markdown"` (feed readers show HTML, not Markdown). Its relative
addresses (downloaded pictures, links to other pages) are made relative to the feed instead of the
page, so that they lead to the mirror's files wherever the feed is fetched from (the git host's raw
files, a clone): readers resolve them against the feed's own address, and few read `xml:base`. An
entry links to its page at `public_url`, or, without one, by an address relative to the feed
(`../pages/<channel>/<id>.md`).
Every date comes from the articles (their fetch time), none from the clock: a feed changes only when
its pages do. A commit carries the old feed's entries as they are and makes only its new pages' ones
(`written_entries`): a published page never changes, and a feed of 300 pages made whole cost 50-80 ms, about
fifty times the rest of a commit of one article.
"""

from __future__ import annotations

import html
import posixpath
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from mirrord.model import LedgerRow, Mirror
from mirrord.pageblocks import Blocks, is_html_block, page_blocks
from mirrord.render import fetched_time, page_url, parse_metadata
from mirrord.variant import convert_text

ATOM = "http://www.w3.org/2005/Atom"
# A start tag with an address in it: its other attributes' values are taken whole, so none is read as one.
ADDRESSED_TAG = re.compile(r'<[a-zA-Z](?:[^>"]|"[^"]*")*?\s(?:href|src)="[^"]*"(?:[^>"]|"[^"]*")*>')
ADDRESS = re.compile(r'(\s(?:href|src)=")([^"]*)"')
ABSOLUTE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:|[/#]")
ATTRIBUTE_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("\r", "&#13;"), ("\n", "&#10;"),
                     ("\t", "&#09;"))
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# An entry as `entry_xml` writes it, after its first line: its text holds no "<" (escaped), so no entry holds
# another's first line; its id and date are on its first lines.
ENTRY_START = "  <entry>\n"
WRITTEN_ENTRY = re.compile(r"    <id>([^<]*)</id>\n    <title>[^<]*</title>\n    <updated>([^<]*)</updated>\n")
FEED_UPDATED = re.compile(r"\n  <updated>[^<]*</updated>")
ET.register_namespace("", ATOM)


@dataclass(frozen=True)
class EntryXml:
    """An entry written as its feed holds it, and its date (a stamp), which the feed's own date is the newest of."""

    xml: str
    updated: str


@dataclass(frozen=True)
class FeedEntry:
    """One page as its channel's feed shows it."""

    path: str
    title: str
    url: str
    fetched: datetime
    html: str


def feed_path(channel: str) -> str:
    return f"feeds/{channel}.xml"


def feed_entry(row: LedgerRow, page: str, mirror: Mirror) -> FeedEntry | None:
    """Return the feed entry of a live page, its title in the mirror's (or the source's) `variant` as on the
    page; None when its metadata or body cannot be read (it is left out)."""
    meta = parse_metadata(page)
    fetched = fetched_time(meta)
    blocks = page_blocks(page, mirror.header, page_url(meta["url"])) if meta else None
    if meta is None or fetched is None or blocks is None:
        return None
    title = convert_text(meta.get("title") or row.title, mirror.variant_of(row.source))
    return FeedEntry(row.path, title, meta["url"], fetched,
                     from_feed(blocks_html(blocks), posixpath.dirname(row.path)))


def blocks_html(blocks: Blocks) -> str:
    """Return the lead and body as one HTML fragment: HTML blocks as they are, Markdown ones rendered."""
    return "\n<hr/>\n".join(block if is_html_block(block) else markdown_renderer().render(block)
                            for block in (blocks.lead, blocks.body) if block)


def from_feed(fragment: str, folder: str) -> str:
    """Return the fragment with its addresses relative to the page's folder made relative to feeds/.

    The fragment was written by a serializer (the sanitizer's, or the Markdown renderer's): its tags are
    whole, its attribute values double-quoted, and text holds no `<`, so a tag is found by its shape (only
    those with an address are looked into)."""
    def rebase(address: re.Match) -> str:
        value = address.group(2)
        return f'{address.group(1)}../{folder}/{value}"' if is_relative(html.unescape(value)) else address.group()

    return ADDRESSED_TAG.sub(lambda tag: ADDRESS.sub(rebase, tag.group()), fragment)


def is_relative(address: str) -> bool:
    """Tell whether an address is relative to the page's folder: no scheme, not from the root or another
    host, not a fragment of the page."""
    return not ABSOLUTE.match(address)


@lru_cache(maxsize=1)
def markdown_renderer():
    """Return a renderer of the Markdown that `body = "markdown"` writes (tables, strikethrough; no raw HTML)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def render_feed(mirror: Mirror, channel: str, title: str, entries: list[FeedEntry]) -> bytes:
    """Return a channel's Atom feed: its entries as given (newest first), dated by the newest of them."""
    return assembled(mirror, channel, title, [entry_xml(entry, mirror) for entry in entries])


def assembled(mirror: Mirror, channel: str, title: str, entries: list[EntryXml]) -> bytes:
    """Return a channel's Atom feed of entries already written as XML (newest first), dated by the newest: the
    feed's own elements, then the entries, laid out as ElementTree indents a whole feed."""
    feed = ET.Element(f"{{{ATOM}}}feed")
    add(feed, "id", f"urn:mirrord:{mirror.name}:{channel}")
    add(feed, "title", title)
    add(feed, "updated", max(entry.updated for entry in entries))
    add(feed, "link", rel="alternate", type="text/markdown", href=mirror_link(mirror, f"indexes/{channel}.md"))
    add(add(feed, "author"), "name", mirror.title)
    ET.indent(feed)
    head = ET.tostring(feed, encoding="utf-8", xml_declaration=True).removesuffix(b"</feed>")
    return head + "".join(entry.xml for entry in entries).encode("utf-8") + b"</feed>\n"


def entry_xml(entry: FeedEntry, mirror: Mirror) -> EntryXml:
    """Return an entry as a feed holds it: its lines (indented one level, the last ending the line) and its date.
    Written as ElementTree writes the entry of an indented feed (`test_feeds` holds them to it), without
    building the tree: ElementTree took a tenth of a millisecond an entry, most of a commit's feed work."""
    when = stamp(entry.fetched)
    lines = [element("id", page_url(entry.url)), element("title", entry.title), element("updated", when),
             element("published", when),
             f'<link rel="alternate" href="{attribute(mirror_link(mirror, entry.path))}" />',
             f'<link rel="via" href="{attribute(page_url(entry.url))}" />',
             element("content", entry.html, ' type="html"')]
    return EntryXml(ENTRY_START + "".join(f"    {line}\n" for line in lines) + "  </entry>\n", when)


def element(tag: str, text: str, attributes: str = "") -> str:
    """Return an element of text (NOT_XML characters dropped, as `add` drops them) as ElementTree writes it."""
    text = NOT_XML.sub("", text)
    if not text:
        return f"<{tag}{attributes} />"
    return f"<{tag}{attributes}>{text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</{tag}>"


def attribute(value: str) -> str:
    """Return an attribute's value escaped as ElementTree escapes it."""
    for raw, escaped in ATTRIBUTE_ESCAPES:
        value = value.replace(raw, escaped)
    return value


def written_entries(feed: bytes | None, mirror: Mirror, channel: str, title: str) -> dict[str, EntryXml]:
    """Return the entries of a feed mirrord wrote, by their id (the article's address), to be carried into the
    next one as they are: a page never changes once published, and rendering every entry again made each
    commit cost as much as the channel's `keep` pages. None is carried when the feed's own elements would
    change (public_url, a title): `rebuild` writes every entry again."""
    if feed is None:
        return {}
    text = feed.decode("utf-8", errors="replace")
    first = text.find(ENTRY_START)
    head = text[:first] if first >= 0 else text.removesuffix("</feed>\n")
    expected = assembled(mirror, channel, title, [EntryXml("", "-")]).decode("utf-8").removesuffix("</feed>\n")
    if FEED_UPDATED.sub("", head) != FEED_UPDATED.sub("", expected):
        return {}
    entries = {}
    for rest in text[first:].removesuffix("</feed>\n").split(ENTRY_START)[1:] if first >= 0 else []:
        found = WRITTEN_ENTRY.match(rest)
        if found and rest.endswith("  </entry>\n"):
            entries[html.unescape(found.group(1))] = EntryXml(ENTRY_START + rest, found.group(2))
    return entries


def entry_id(url: str) -> str:
    """Return the id an article's entry carries, as written_entries reads it back."""
    return NOT_XML.sub("", page_url(url))


def add(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attributes)
    if text is not None:
        element.text = NOT_XML.sub("", text)
    return element


def mirror_link(mirror: Mirror, path: str) -> str:
    """Return the address of a file of the mirror for readers: under public_url, else relative to feeds/."""
    return f"{mirror.public_url}/{path}" if mirror.public_url else f"../{path}"


def stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
