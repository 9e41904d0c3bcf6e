"""Turn an article page (or a feed entry's own HTML) into clean lead and body HTML: pure functions.

The order matters and only this module knows it: select the blocks the rules name, remove what the
rules remove, resolve URLs, apply the mirror's link and image policies, and sanitize last so that
nothing a step above let through survives unchecked.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from functools import cache
from urllib.parse import urlsplit

import nh3
from selectolax.lexbor import LexborHTMLParser, LexborNode

from mirrord.auto import automatic_blocks
from mirrord.errors import FetchError, HeldBack
from mirrord.markup import bound_depth, bounded, has_few_tags
from mirrord.model import Article, Channel, Entry, Mirror, PageFile, Response, Rules
from mirrord.urls import absolute

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "details", "dfn", "div",
    "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
    "kbd", "li", "mark", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s", "samp", "small", "span", "strong",
    "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {
    "*": {"lang", "dir", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
DROPPED_WITH_CONTENT = {
    "script", "style", "iframe", "object", "embed", "form", "noscript", "template", "svg", "math",
    "select", "textarea", "button", "frameset", "frame", "applet",
}
CARRIAGE_RETURN = re.compile(r"\r\n?")
CONTROL_CHARACTERS = {code: None for code in [*range(0x09), 0x0B, *range(0x0E, 0x20), *range(0x7F, 0xA0)]} | {0x0C: " "}
LAZY_SOURCES = ("data-src", "data-original", "data-lazy-src", "data-url")
# Raster formats only, told by their first bytes: an SVG can carry script, and a Content-Type can lie.
IMAGE_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"GIF87a", "gif"), (b"GIF89a", "gif"))


def extract_article(entry: Entry, channel: Channel, mirror: Mirror, page: str | None, fetched: datetime,
                    local_pages: Mapping[str, str]) -> Article:
    """Return the article of entry from its fetched page, or from the feed's own HTML when page is None.

    Raise HeldBack when the rules find no body or too little text: publishing an empty page is worse
    than publishing nothing, as it hides that the site changed.
    """
    url = entry.url
    lead, body = select_blocks(page, url, channel.rules) if page is not None else feed_blocks(entry, channel.rules)
    lead_html = clean_html(lead, url, mirror, local_pages)
    body_html = clean_html(body, url, mirror, local_pages)
    length = text_length(body_html)
    if length < channel.rules.min_text:
        raise HeldBack(f"body has {length} characters of text, fewer than min_text ({channel.rules.min_text}): "
                       "the page layout may have changed")
    return Article(id=entry.id, url=url, title=entry.title, source=channel.source, channel=channel.name,
                   lead_html=lead_html, body_html=body_html, text_length=length, fetched=fetched,
                   key=entry.key)


def select_blocks(page: str, url: str, rules: Rules) -> tuple[str, str]:
    """Return the HTML of the lead and the body the rules select, after `remove`, nested no deeper than the
    bound. A page of few tags is parsed as it is and only the blocks taken from it are bounded (a few
    kilobytes instead of the whole page: `markup.FEW_TAGS`), when they hold enough tags to nest that deep
    (`markup.bounded`); any other page is bounded before parsing."""
    whole = not has_few_tags(page)
    tree = LexborHTMLParser(bound_depth(page) if whole else page)
    remove_matches(tree, rules.remove)
    if rules.content == "auto":
        return automatic_blocks(tree.html or "", url)
    body = outermost(tree.css(rules.content or "body"))
    if not body:
        raise HeldBack(f"content selector {rules.content!r} matched nothing: the page layout probably changed")
    lead = outermost(tree.css(rules.lead)) if rules.lead else []
    blocks = "".join(n.html or "" for n in lead), "".join(n.html or "" for n in body)
    return blocks if whole else (bounded(blocks[0]), bounded(blocks[1]))


def feed_blocks(entry: Entry, rules: Rules) -> tuple[str, str]:
    """Return the feed entry's own HTML as the body (no lead), after `remove`."""
    if not entry.content_html:
        raise HeldBack("the feed entry carries no content and the source has no content selector")
    tree = LexborHTMLParser(f"<body>{bound_depth(entry.content_html)}</body>")
    remove_matches(tree, rules.remove)
    return "", tree.body.inner_html if tree.body else ""


def remove_matches(tree: LexborHTMLParser, selectors: tuple[str, ...]) -> None:
    """Remove what every selector matches, all matched first, so that one removal cannot hide another's match."""
    for node in outermost([node for selector in selectors for node in tree.css(selector)]):
        node.decompose()


def outermost(nodes: list[LexborNode]) -> list[LexborNode]:
    """Drop matches nested inside other matches, so that no text is published twice."""
    chosen = {n.mem_id for n in nodes}
    return [n for n in nodes if not any(a.mem_id in chosen for a in ancestors(n))]


def ancestors(node: LexborNode):
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def clean_html(fragment: str, page_url: str, mirror: Mirror, local_pages: Mapping[str, str]) -> str:
    """Return fragment with absolute URLs, the mirror's link and image policies applied, sanitized.
    The fragment nests no deeper than the bound (`select_blocks`), or was parsed from such markup."""
    if not fragment.strip():
        return ""
    tree = LexborHTMLParser(f"<body>{fragment}</body>")
    resolve_images(tree, page_url, mirror.images)
    apply_link_policy(tree, page_url, mirror.links, local_pages)
    return sanitize(tree.body.inner_html if tree.body else "")


def resolve_images(tree: LexborHTMLParser, page_url: str, policy: str) -> None:
    """Make image sources absolute (taking lazy-loading attributes), or drop images when asked."""
    for image in tree.css("img"):
        if policy == "drop":
            image.decompose()
            continue
        source = image.attributes.get("src") or ""
        if not source or source.startswith("data:"):
            source = next((image.attributes[a] for a in LAZY_SOURCES if image.attributes.get(a)), source)
        image.attrs["src"] = absolute(page_url, source.strip()) if source else ""


def apply_link_policy(tree: LexborHTMLParser, page_url: str, policy: str, local_pages: Mapping[str, str]) -> None:
    """keep: absolute links; neutralize: links become their text; rewrite: links to mirrored pages go there."""
    for anchor in tree.css("a"):
        target = absolute(page_url, (anchor.attributes.get("href") or "").strip())
        if policy == "rewrite" and target in local_pages:
            anchor.attrs["href"] = local_pages[target]
        elif policy == "keep" and anchor.attributes.get("href"):
            anchor.attrs["href"] = target
        else:
            anchor.unwrap()


def sanitize(fragment: str) -> str:
    """Return fragment with everything outside the allowlist removed: the last step, always.

    Control characters go too (a carriage return is a line break): a pair of them would end the page's
    HTML block early, and escapes would reach the terminal of whoever reads the page."""
    clean = sanitizer().clean(fragment)
    return CARRIAGE_RETURN.sub("\n", clean).translate(CONTROL_CHARACTERS).strip()


@cache
def sanitizer() -> nh3.Cleaner:
    """The allowlist, built once: nh3.clean builds it again from its arguments at every call, which cost a
    small fragment twice what cleaning it did."""
    return nh3.Cleaner(tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, clean_content_tags=DROPPED_WITH_CONTENT,
                       url_schemes={"http", "https", "mailto"}, link_rel=None, strip_comments=True)


def text_length(fragment: str) -> int:
    """Return the number of visible characters, whitespace runs counted once."""
    if not fragment:
        return 0
    body = LexborHTMLParser(f"<body>{fragment}</body>").body
    return len(" ".join(body.text(separator=" ").split())) if body else 0


def image_urls(article: Article) -> list[str]:
    """Return the distinct http(s) sources of the article's pictures, in page order."""
    urls = []
    for fragment in (article.lead_html, article.body_html):
        if fragment:
            for image in LexborHTMLParser(f"<body>{fragment}</body>").css("img[src]"):
                urls.append(image.attributes.get("src") or "")
    return [url for url in dict.fromkeys(urls) if urlsplit(url).scheme in ("http", "https")]


def image_file(article: Article, response: Response) -> PageFile:
    """Return a downloaded picture as a file beside the article's page, named by its content hash so that
    one picture shown twice is stored once; its path is relative to the page's folder, as the page links it.
    Raise FetchError if the answer is not a PNG, JPEG, GIF, WebP or AVIF picture."""
    kind = image_kind(response.body)
    if not response.content_type.lower().startswith("image/") or kind is None:
        raise FetchError(response.url, f"not a picture mirrord stores (Content-Type {response.content_type!r}, "
                         "expected PNG, JPEG, GIF, WebP or AVIF): left pointing at the site", transient=False)
    name = f"{hashlib.sha256(response.body).hexdigest()[:12]}.{kind}"
    return PageFile(f"{article.id}.files/{name}", response.body)


def image_kind(data: bytes) -> str | None:
    """Return the file extension of a raster picture's format, told by its first bytes; None for others."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "avif"
    return next((kind for signature, kind in IMAGE_SIGNATURES if data.startswith(signature)), None)


def with_local_images(article: Article, paths: Mapping[str, str]) -> Article:
    """Return the article with the pictures at these URLs pointing at their copies beside the page (paths
    relative to its folder), sanitized again since the HTML changed (so its page is to be rendered again)."""
    return replace(article, lead_html=localize_images(article.lead_html, paths),
                   body_html=localize_images(article.body_html, paths), rendered=None)


def localize_images(fragment: str, paths: Mapping[str, str]) -> str:
    if not fragment:
        return ""
    tree = LexborHTMLParser(f"<body>{fragment}</body>")
    for image in tree.css("img[src]"):
        path = paths.get(image.attributes.get("src") or "")
        if path is not None:
            image.attrs["src"] = path
    return sanitize(tree.body.inner_html if tree.body else "")
