"""Turn a channel's feed or listing page into entries: pure functions over a Response.

An entry's identity is its canonical URL (`identity`); two items are one article only when they share
it or the feed gives them the same guid. Ids are the names pages would like to have: they become file
names, so they are kept to `[A-Za-z0-9._-]`, at most 100 characters and never starting with a dot;
anything else falls back to a hash of the URL, stable from run to run. Two articles wanting one name
are told apart by the ledger planner, not here.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import re
from datetime import datetime, timezone
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from mirrord.encoding import decode_html
from mirrord.errors import DiscoverError
from mirrord.identity import article_url, identity
from mirrord.markup import bound_depth, has_few_tags
from mirrord.model import Channel, Discovery, Entry, Response, Rules, Skip
from mirrord.urls import absolute

SAFE_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
UNFOLLOWABLE = ("javascript:", "mailto:", "data:", "tel:", "#")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A title is a heading and an index line, never a page's worth: a 9 MB one made an 8.8 MB page.
MAX_TITLE = 500
# The prolog of an XML document, read as expat reads it (XML 1.0, section 2.8), to find where its root
# element starts: what comes before may declare entities, what comes after cannot. Quoted literals and
# comments can hold "<a" or "]>", so each part is matched whole, never searched for.
PROLOG_PART = re.compile(rb"\s+|\xef\xbb\xbf|<\?.*?\?>|<!--.*?-->", re.DOTALL)
DOCTYPE_START = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
DOCTYPE_PART = re.compile(rb"""\s+|"[^"]*"|'[^']*'|[^\s"'\[\]<>]+""")
SUBSET_PART = re.compile(rb"""\s+|<\?.*?\?>|<!--.*?-->|%[^;\s]+;|<![A-Za-z]+(?:"[^"]*"|'[^']*'|[^"'>])*>""",
                         re.DOTALL)
ROOT_START = re.compile(rb"<[A-Za-z_:\x80-\xff]")
ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
# Extensions that name a page's format, not the article: dropped from a stem. Any other dot is part of
# the slug (`Linux-6.14-FUSE`).
PAGE_EXTENSIONS = frozenset({"html", "htm", "shtml", "xhtml", "php", "asp", "aspx", "jsp", "cgi", "cfm", "md"})


def read_channel(channel: Channel, response: Response, limit: int | None = None) -> Discovery:
    """Return the entries of a channel's response, the first `limit` items at most; a 304 means nothing new."""
    if response.not_modified:
        return Discovery(())
    if channel.is_feed:
        return discover_feed(response, channel.rules, limit)
    return discover_listing(response, channel.items or "", channel.rules, limit)


def discover_feed(response: Response, rules: Rules, limit: int | None = None) -> Discovery:
    """Return the entries of an RSS/Atom feed. Raise DiscoverError if it is not a readable feed."""
    import feedparser  # here: loading it costs a `once` whose feeds all answer 304 a good part of its start

    headers = {"content-type": response.content_type or "application/xml", "content-location": response.url}
    refuse_entity_declarations(response.body, headers)
    # A file object, never bytes: feedparser opens bytes that name a file (a feed reading "/dev/zero").
    feed = feedparser.parse(io.BytesIO(response.body), response_headers=headers)
    if not feed.entries:
        check_empty_feed(feed)
        return Discovery(())
    items = []
    for item in feed.entries[:limit]:
        link = item.get("link") or link_from_guid(item.get("id"))
        items.append((absolute(response.url, link.strip()) if link else None, plain_title(item.get("title", "")),
                      item.get("id") or None, published_time(item), feed_content(item)))
    return filter_items(items, rules)


def refuse_entity_declarations(body: bytes, headers: dict[str, str]) -> None:
    """Raise DiscoverError when a feed declares its own XML entities, before any parser sees it.

    Feeds never need them, and they are what an entity bomb is made of: nested ones ("billion laughs")
    or one long entity repeated cost feedparser seconds and gigabytes for a feed of a few kilobytes,
    since it re-parses what expat's amplification limit refused with its own, unlimited, parser; and
    expat lets any entity expand to 8 MiB before that limit starts. The check reads the very text the
    parsers get (feedparser's conversion to UTF-8, which knows UTF-16, UTF-32, EBCDIC and what the
    headers declare), and its whole prolog: a comment, a processing instruction or a literal in the
    DOCTYPE holding "<a" does not end it. A prolog it cannot read counts as the whole document. NULs,
    never valid in XML, are dropped first: what feedparser takes for UTF-8 may be UTF-16 without a BOM.
    """
    from feedparser.encodings import convert_to_utf8

    text = convert_to_utf8(headers, body, {}).replace(b"\x00", b"")
    end = prolog_end(text)
    if ENTITY_DECLARATION.search(text, 0, len(text) if end is None else end):
        raise DiscoverError("the feed declares XML entities (<!ENTITY ...>), which feeds never need: "
                            "refused as a probable entity bomb")


def prolog_end(text: bytes) -> int | None:
    """Return where the root element of an XML document starts, None if its prolog is not well formed."""
    position = 0
    while True:
        if part := PROLOG_PART.match(text, position):
            position = part.end()
        elif DOCTYPE_START.match(text, position):
            end = doctype_end(text, position + len(b"<!DOCTYPE"))
            if end is None:
                return None
            position = end
        else:
            return position if ROOT_START.match(text, position) else None


def doctype_end(text: bytes, position: int) -> int | None:
    """Return where the DOCTYPE whose name starts at position ends (after its internal subset and its '>'),
    None if it is not well formed."""
    while part := DOCTYPE_PART.match(text, position):
        position = part.end()
    if text[position:position + 1] == b"[":
        position += 1
        while part := SUBSET_PART.match(text, position):
            position = part.end()
        if text[position:position + 1] != b"]":
            return None
        position += 1
        while part := DOCTYPE_PART.match(text, position):
            position = part.end()
    return position + 1 if text[position:position + 1] == b">" else None


def discover_listing(response: Response, items: str, rules: Rules, limit: int | None = None) -> Discovery:
    """Return the article links a listing page's `items` selector finds. Raise DiscoverError on none."""
    page = decode_html(response.body, response.content_type)
    tree = LexborHTMLParser(page if has_few_tags(page) else bound_depth(page))  # see markup.FEW_TAGS
    base = base_url(tree, response.url)
    nodes = tree.css(items)
    if not nodes:
        raise DiscoverError(f"items selector {items!r} matched nothing: the page layout probably changed",
                            selector=items)
    found = []
    for node in nodes[:limit]:
        anchor = node if node.tag == "a" else node.css_first("a[href]")
        href = (anchor.attributes.get("href") or "").strip() if anchor else ""
        link = absolute(base, href) if href and not href.lower().startswith(UNFOLLOWABLE) else None
        found.append((link, link_title(anchor or node), None, None, None))
    return filter_items(found, rules)


def filter_items(items: list[tuple], rules: Rules) -> Discovery:
    """Apply identities, ids, `exclude` and `hosts`; merge the copies of one article and drop items
    without a link. Items come as (link with any fragment, title, guid, published, content)."""
    entries: list[Entry] = []
    skipped: list[Skip] = []
    for link, title, guid, published, content in items:
        url = article_url(link, guid) if link else None
        title = capped_title(title)
        reason = skip_reason(url, title, rules)
        if reason:
            skipped.append(Skip(reason, url, title))
            continue
        entries.append(Entry(id=article_id(url, guid, rules.id), url=url, title=entry_title(title, url),
                             published=published, content_html=content, key=identity(url), guid=guid))
    merged, copies = merge_copies(entries)
    return Discovery(merged, tuple(skipped), copies)


def merge_copies(entries: list[Entry]) -> tuple[tuple[Entry, ...], tuple[Skip, ...]]:
    """Return one entry per article, at the place of its first copy, and a Skip for each other copy.

    Copies are entries linked by the same identity or the same guid, also through other copies (a link
    shared with one, a guid with another). Of the copies the one with text wins (content, then a real
    title): a feed may list a story through a bare redirector link and again with its text."""
    owner: dict[str, int] = {}
    groups: dict[int, list[Entry]] = {}
    for index, entry in enumerate(entries):
        found = sorted({owner[mark] for mark in copy_marks(entry) if mark in owner})
        home = found[0] if found else index
        members = groups.setdefault(home, [])
        for other in found[1:]:
            members += groups.pop(other)
        members.append(entry)
        owner.update({mark: home for member in members for mark in copy_marks(member)})
    chosen, copies = [], []
    for home in sorted(groups):
        kept = max(groups[home], key=has_text)
        chosen.append(kept)
        copies += [Skip(f"the same article as {kept.url} ({copy_reason(other, kept)})", other.url, other.title)
                   for other in groups[home] if other is not kept]
    return tuple(chosen), tuple(copies)


def copy_marks(entry: Entry) -> list[str]:
    return [entry.key] + ([f"guid:{entry.guid}"] if entry.guid else [])


def copy_reason(copy: Entry, kept: Entry) -> str:
    if copy.key == kept.key:
        return "same link"
    return "same guid" if copy.guid and copy.guid == kept.guid else "same link or guid as another copy"


def has_text(entry: Entry) -> tuple[bool, bool]:
    return bool(entry.content_html and entry.content_html.strip()), entry.title != entry.url


def entry_title(title: str, url: str) -> str:
    """Return the title an entry is published under: its own, else its URL; at most MAX_TITLE characters.
    Every title an article gets passes here (feed entries, listing links, and `preview`'s page titles)."""
    return capped_title(title or url)


def capped_title(title: str) -> str:
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1].rstrip() + "…"


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
    base, dot, extension = last.rpartition(".")
    stem = base if dot and base and extension.lower() in PAGE_EXTENSIONS else last
    if parts.query:
        stem = f"{stem}-{hashlib.sha256(parts.query.encode()).hexdigest()[:8]}"
    return stem


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def base_url(tree: LexborHTMLParser, page_url: str) -> str:
    base = tree.css_first("base[href]")
    href = base.attributes.get("href") if base else None
    return absolute(page_url, href) if href else page_url


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
