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
its pages do.
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
TAG = re.compile(r'<[a-zA-Z](?:[^>"]|"[^"]*")*>')
ADDRESS = re.compile(r'(\s(?:href|src)=")([^"]*)"')
ABSOLUTE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:|[/#]")
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
ET.register_namespace("", ATOM)


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
    whole, its attribute values double-quoted, and text holds no `<`, so a tag is found by its shape."""
    def rebase(address: re.Match) -> str:
        value = address.group(2)
        return f'{address.group(1)}../{folder}/{value}"' if is_relative(html.unescape(value)) else address.group()

    return TAG.sub(lambda tag: ADDRESS.sub(rebase, tag.group()), fragment)


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
    feed = ET.Element(f"{{{ATOM}}}feed")
    add(feed, "id", f"urn:mirrord:{mirror.name}:{channel}")
    add(feed, "title", title)
    add(feed, "updated", stamp(max(entry.fetched for entry in entries)))
    add(feed, "link", rel="alternate", type="text/markdown", href=mirror_link(mirror, f"indexes/{channel}.md"))
    add(add(feed, "author"), "name", mirror.title)
    for entry in entries:
        item = add(feed, "entry")
        add(item, "id", page_url(entry.url))
        add(item, "title", entry.title)
        add(item, "updated", stamp(entry.fetched))
        add(item, "published", stamp(entry.fetched))
        add(item, "link", rel="alternate", href=mirror_link(mirror, entry.path))
        add(item, "link", rel="via", href=page_url(entry.url))
        add(item, "content", entry.html, type="html")
    ET.indent(feed)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


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
