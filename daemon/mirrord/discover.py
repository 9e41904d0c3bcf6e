"""Turn a channel's feed or listing page into entries: pure functions over a Response.

Article ids become file names, so they are kept to `[A-Za-z0-9._-]`, at most 100 characters and
never starting with a dot; anything else falls back to a hash of the URL, stable from run to run.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from datetime import datetime, timezone
from urllib.parse import urldefrag, urljoin, urlsplit

import feedparser
from selectolax.lexbor import LexborHTMLParser

from mirrord.encoding import decode_html
from mirrord.errors import DiscoverError
from mirrord.markup import bound_depth
from mirrord.model import Discovery, Entry, Response, Rules, Skip

SAFE_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
UNFOLLOWABLE = ("javascript:", "mailto:", "data:", "tel:", "#")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
ROOT_ELEMENT = re.compile(rb"<\x00*[A-Za-z_]")


def discover_feed(response: Response, rules: Rules) -> Discovery:
    """Return the entries of an RSS/Atom feed. Raise DiscoverError if it is not a readable feed."""
    refuse_entity_declarations(response.body)
    feed = feedparser.parse(response.body, response_headers={
        "content-type": response.content_type or "application/xml", "content-location": response.url})
    if not feed.entries:
        check_empty_feed(feed)
        return Discovery(())
    items = []
    for item in feed.entries:
        link = item.get("link") or link_from_guid(item.get("id"))
        items.append((absolute_url(response.url, link) if link else None, plain_title(item.get("title", "")),
                      item.get("id"), published_time(item), feed_content(item)))
    return filter_items(items, rules)


def refuse_entity_declarations(body: bytes) -> None:
    """Raise DiscoverError when a feed declares its own XML entities, before any parser sees it.

    Feeds never need them, and they are what an entity bomb is made of: nested ones ("billion laughs")
    or one long entity repeated cost feedparser seconds and gigabytes for a feed of a few kilobytes,
    since it re-parses what expat's amplification limit refused with its own, unlimited, parser.
    """
    root = ROOT_ELEMENT.search(body)
    prolog = body[: root.start() if root else len(body)].replace(b"\x00", b"")  # NULs: UTF-16 and UTF-32
    if b"<!ENTITY" in prolog:
        raise DiscoverError("the feed declares XML entities (<!ENTITY ...>), which feeds never need: "
                            "refused as a probable entity bomb")


def discover_listing(response: Response, items: str, rules: Rules) -> Discovery:
    """Return the article links a listing page's `items` selector finds. Raise DiscoverError on none."""
    tree = LexborHTMLParser(bound_depth(decode_html(response.body, response.content_type)))
    base = base_url(tree, response.url)
    nodes = tree.css(items)
    if not nodes:
        raise DiscoverError(f"items selector {items!r} matched nothing: the page layout probably changed")
    found = []
    for node in nodes:
        anchor = node if node.tag == "a" else node.css_first("a[href]")
        href = (anchor.attributes.get("href") or "").strip() if anchor else ""
        link = absolute_url(base, href) if href and not href.lower().startswith(UNFOLLOWABLE) else None
        found.append((link, link_title(anchor or node), None, None, None))
    return filter_items(found, rules)


def filter_items(items: list[tuple], rules: Rules) -> Discovery:
    """Apply ids, `exclude` and `hosts`; drop duplicates and items without a link."""
    entries: list[Entry] = []
    skipped: list[Skip] = []
    seen: set[str] = set()
    for url, title, guid, published, content in items:
        reason = skip_reason(url, title, rules)
        if reason:
            skipped.append(Skip(reason, url, title))
            continue
        entry_id = article_id(url, guid, rules.id)
        if entry_id in seen:
            continue
        seen.add(entry_id)
        entries.append(Entry(id=entry_id, url=url, title=title or url, published=published, content_html=content))
    return Discovery(tuple(entries), tuple(skipped))


def skip_reason(url: str | None, title: str, rules: Rules) -> str | None:
    if not url:
        return "item has no link"
    if urlsplit(url).scheme not in ("http", "https"):
        return f"link {url!r} is not http(s)"
    host = urlsplit(url).hostname or ""
    if rules.hosts and host not in rules.hosts:
        return f"host {host} is not in hosts"
    for word in rules.exclude:
        if word in title:
            return f"title contains excluded {word!r}"
    return None


def article_id(url: str, guid: str | None, rule: str) -> str:
    """Return the article id the rule gives for url, always a safe file name."""
    if rule == "hash":
        return url_hash(url)
    if rule == "guid":
        candidate = guid or ""
    elif rule == "stem":
        candidate = url_stem(url)
    else:
        match = re.search(rule, url)
        candidate = match.group(1) if match and match.group(1) else ""
    return candidate if SAFE_ID.fullmatch(candidate) else url_hash(url)


def url_stem(url: str) -> str:
    """Return the stem of the last non-empty path segment; a query string adds a short hash of itself."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        return ""
    last = segments[-1]
    stem = last.rsplit(".", 1)[0] if "." in last[1:] else last
    if parts.query:
        stem = f"{stem}-{hashlib.sha256(parts.query.encode()).hexdigest()[:8]}"
    return stem


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def absolute_url(base: str, link: str) -> str:
    """Resolve link against base and drop the fragment, so one article has one URL."""
    return urldefrag(urljoin(base, link.strip())).url


def base_url(tree: LexborHTMLParser, page_url: str) -> str:
    base = tree.css_first("base[href]")
    href = base.attributes.get("href") if base else None
    return urljoin(page_url, href) if href else page_url


def link_from_guid(guid: str | None) -> str | None:
    return guid if guid and guid.startswith(("http://", "https://")) else None


def plain_title(title: str) -> str:
    """Return a feed title as one line of plain text (some feeds put HTML in titles)."""
    if "<" in title:
        title = LexborHTMLParser(f"<body>{LINE_BREAK.sub(' ', title)}</body>").body.text(separator="")
    return one_line(html.unescape(title))


def link_title(node) -> str:
    text = one_line(node.text(separator=" "))
    if text:
        return text
    image = node.css_first("img[alt]")
    return one_line(node.attributes.get("title") or (image.attributes.get("alt") if image else "") or "")


def one_line(text: str) -> str:
    """Return text on one line without control characters: a NUL in a title would make git take the
    channel's index for a binary file."""
    return " ".join(CONTROL_CHARACTERS.sub(" ", text).split())


def published_time(item) -> datetime | None:
    parsed = item.get("published_parsed") or item.get("updated_parsed")
    return datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc) if parsed else None


def feed_content(item) -> str | None:
    """Return the entry's own HTML: its longest content, else its summary."""
    contents = [c.get("value", "") for c in item.get("content", [])]
    best = max(contents, key=len, default="")
    return best or item.get("summary") or None


def check_empty_feed(feed) -> None:
    """Raise DiscoverError when a feed has no entries because it could not be read at all."""
    if not feed.get("version"):
        detail = f" ({feed.bozo_exception})" if feed.get("bozo_exception") else ""
        raise DiscoverError(f"not a readable RSS or Atom feed{detail}; is the URL still a feed?")
