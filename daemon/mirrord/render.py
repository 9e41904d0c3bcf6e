"""Render an article as the page of the mirror layout, and its QR code (`qrpng`): pure functions."""

from __future__ import annotations

import json
import posixpath
import re
from datetime import datetime
from urllib.parse import quote

from mirrord.catalogue import words
from mirrord.model import Article, Mirror, PageFile
from mirrord.pageblocks import BODY, LEAD, Blocks, marked
from mirrord.qrpng import qr_png
from mirrord.templating import environment, markdown_title
from mirrord.variant import convert_html, convert_text

BLANK_LINES = re.compile(r"\n\s*\n")
PAGE_PATH = re.compile(r"pages/([^/]+)/([^/]+)\.md")
METADATA_LINE = re.compile(r"<!-- mirrord (\{.*\}) -->")
URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


def page_path(channel: str, article_id: str) -> str:
    return f"pages/{channel}/{article_id}.md"


def page_parts(path: str) -> tuple[str, str] | None:
    """Return (channel, id) of a page path, None for any other file of the mirror."""
    match = PAGE_PATH.fullmatch(path)
    return (match.group(1), match.group(2)) if match else None


def render_page(article: Article, mirror: Mirror) -> list[PageFile]:
    """Return the files of one published article: its page, its QR code when asked for, and its downloaded
    pictures in `<id>.files/` beside it (so that pruning the page's files prunes them)."""
    files = list(article.rendered) if article.rendered is not None else page_files(article, mirror)
    folder = posixpath.dirname(page_path(article.channel, article.id))
    return files + [PageFile(f"{folder}/{image.path}", image.data) for image in article.images]


def page_files(article: Article, mirror: Mirror, blocks: Blocks | None = None) -> list[PageFile]:
    """Return an article's page around its blocks (kept between markers: see `pageblocks`), and its QR code
    when asked for. The blocks are rendered from the article's HTML unless given: `rebuild` gives those a
    page already holds. The words are the mirror's `lang`, the title and blocks in its (or the source's)
    `variant`; the metadata line keeps the title as the site gave it."""
    if blocks is None:
        blocks = Blocks(html_block(article.lead_html, mirror), html_block(article.body_html, mirror))
    path = page_path(article.channel, article.id)
    share_url = f"{mirror.public_url}/{path}" if mirror.public_url else None
    with_qr = mirror.qr and share_url is not None
    variant = mirror.variant_of(article.source)
    title = convert_text(article.title, variant)
    page = environment(mirror.templates).get_template("page.md.j2").render(
        words=words(mirror.lang),
        title=markdown_title(title),
        raw_title=title,
        header=mirror.header,
        footer=mirror.footer,
        lead=marked(LEAD, convert_html(blocks.lead, variant)),
        body=marked(BODY, convert_html(blocks.body, variant)),
        share_url=share_url,
        qr_file=f"{article.id}.md.png" if with_qr else None,
        url=page_url(article.url),
        metadata=metadata_line(article),
    )
    files = [PageFile(path, page.encode("utf-8"))]
    return files + [PageFile(f"{path}.png", qr_png(share_url))] if with_qr else files


def page_url(url: str) -> str:
    """Return an article's original URL as its page writes it."""
    return quote(url, safe=URL_SAFE)


def html_block(fragment: str, mirror: Mirror) -> str:
    """Return a sanitized fragment as one Markdown HTML block (no blank line ends it early), or, for
    `body = "markdown"`, as Markdown whose text is escaped and whose links and pictures follow the mirror's
    policies again (a blank line after it, so that what the page puts next starts a block of its own)."""
    if not fragment:
        return ""
    if mirror.body == "markdown":
        from mirrord.markdown import html_to_markdown

        text = html_to_markdown(fragment, links=mirror.links, images=mirror.images)
        return text + "\n" if text else ""
    return "<div>\n" + BLANK_LINES.sub("\n", fragment.strip()) + "\n</div>"


def metadata_line(article: Article) -> str:
    """Return the JSON of the hidden metadata line, in ASCII: a URL may hold U+2028 or U+0085, which
    readers of lines (Python's splitlines() among them) take for line breaks. '>' is escaped so that no
    value can end the comment."""
    fields = {"id": article.id, "source": article.source, "channel": article.channel, "url": article.url,
              "fetched": article.fetched.isoformat(timespec="seconds"), "title": article.title}
    return json.dumps(fields, ensure_ascii=True).replace(">", "\\u003e")


def parse_metadata(page: str) -> dict | None:
    """Return the fields of a page's metadata line, None when the page has none (or a broken one).

    Lines end at '\\n' only: pages written before the line was ASCII hold such characters raw, and are
    never rewritten.
    """
    last = page.rstrip("\n\r\t ").rpartition("\n")[2].removesuffix("\r")
    match = METADATA_LINE.fullmatch(last)
    try:
        fields = json.loads(match.group(1)) if match else None
    except ValueError:
        return None
    return fields if isinstance(fields, dict) and {"id", "url", "source", "fetched"} <= fields.keys() else None


def fetched_time(meta: dict | None) -> datetime | None:
    """Return when a page's article was fetched, as its metadata line says; None when it cannot be read."""
    try:
        return datetime.fromisoformat(meta["fetched"]) if meta else None
    except (TypeError, ValueError):
        return None
