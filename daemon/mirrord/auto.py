"""`content = "auto"`: an article's main text and lead picture found without selectors: pure functions.

trafilatura finds the text; what is around it here is measured by bench/auto_extract.py on the
corpus pages with ground truth. It runs with `favor_precision`, which keeps its choice to the
article's own paragraphs (boilerplate teasers and link lists cost more than the odd lost line),
and without pictures, since asking it for pictures makes it keep caption blocks and picture
galleries beside the text; the picture the page itself names as its own (`og:image`) is put as
the lead instead. The heading that repeats the page's title goes, as a page shows its title
already. The result is HTML for the extractor, whose link, image and sanitizer steps follow.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from mirrord.errors import HeldBack
from mirrord.markup import bound_depth
from mirrord.urls import absolute

HEADINGS = {"h1", "h2", "h3"}
# libxml2, which trafilatura parses with, gives up on documents nested deeper than 256 elements: deeper
# markup is flattened below that (its text kept) rather than the article held back as having no text.
LIBXML2_DEPTH = 200


def automatic_blocks(page: str, url: str) -> tuple[str, str]:
    """Return (lead, body) HTML of a page's article found without rules: its picture and its main text.

    Raise HeldBack when no article text is found: the page is probably no article.
    """
    import trafilatura  # heavy, and only sources with content = "auto" need it

    page = bound_depth(page, LIBXML2_DEPTH)
    metadata = trafilatura.extract_metadata(page, default_url=url)
    body = main_text(page, url)
    if body is None:
        raise HeldBack('content = "auto" found no article text on the page')
    title = metadata.title if metadata else None
    return lead_picture(metadata.image if metadata else None, url), without_title_heading(body, title)


def main_text(page: str, url: str) -> str | None:
    """Return the inner HTML of trafilatura's main text, trying its precise mode first and its default
    mode when that finds nothing (precision can refuse a short article altogether); None when neither finds text."""
    import trafilatura

    for precise in (True, False):
        found = trafilatura.extract(page, url=url, output_format="html", include_images=False, include_links=True,
                                    include_comments=False, include_tables=True, favor_precision=precise)
        body = LexborHTMLParser(found).body if found else None
        if body is not None and body.text(strip=True):
            return body.inner_html
    return None


def lead_picture(image: str | None, url: str) -> str:
    """Return the page's own picture as an <img>, or "" when it names none that is http(s)."""
    source = absolute(url, image.strip()) if image else ""
    if urlsplit(source).scheme not in ("http", "https"):
        return ""
    return f'<img src="{escape(source)}" alt="">'


def without_title_heading(body: str, title: str | None) -> str:
    """Return body without a leading heading that repeats the title (the page shows the title already)."""
    tree = LexborHTMLParser(f"<body>{body}</body>")
    first = next((node for node in tree.body.iter() if node.tag != "-text" or node.text(strip=True)), None)
    if title and first is not None and first.tag in HEADINGS and same_text(first.text(), title):
        first.decompose()
    return tree.body.inner_html


def same_text(one: str, other: str) -> bool:
    """Tell whether two texts are the same once case and whitespace are ignored; a title is often
    the heading followed by " | Site name", which counts as the same."""
    one, other = " ".join(one.split()).casefold(), " ".join(other.split()).casefold()
    return bool(one) and (one == other or other.startswith(one + " "))
