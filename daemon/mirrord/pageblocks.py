"""The article's own part of a page, its lead and body blocks, kept apart from the page's chrome so that
`mirrord rebuild` and the feeds can take it back exactly: pure functions.

A page holds each block between two HTML comments on lines of their own (`<!-- mirrord:body -->` ...
`<!-- /mirrord:body -->`). GitHub shows neither and the Markdown around them reads as before: a line
that starts with `<!--` is an HTML block that ends on the line holding `-->`, and may interrupt a
paragraph. The markers live in the page rather than in a file beside it so that the page stays the one
record of its article (a page copied, moved or restored from history carries its body with it) and the
mirror does not grow by a second copy of every text. A block's own text can never hold a marker: HTML
bodies are sanitized (no comments), Markdown bodies escape `<`.

Pages published before the markers (release 9a5543b and older) are read by the layout that release's
built-in page template gives; see `legacy_blocks`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LEAD, BODY = "lead", "body"
LEGACY_HEAD = re.compile(r"### [^\n]*\n-{24}\n\n")
LEGACY_LEAD_END = "\n<hr/>\n\n"


@dataclass(frozen=True)
class Blocks:
    """A page's lead and body as its template received them ("" for an absent lead)."""

    lead: str
    body: str


def opening(name: str) -> str:
    return f"<!-- mirrord:{name} -->\n"


def closing(name: str) -> str:
    return f"\n<!-- /mirrord:{name} -->"


def marked(name: str, block: str) -> str:
    """Return a block between its markers; an absent block stays absent (the template leaves it out)."""
    return f"{opening(name)}{block}{closing(name)}" if block else ""


def marked_block(page: str, name: str) -> str | None:
    """Return the block between a page's markers of that name, None when the page has none."""
    start = page.find(opening(name))
    while start > 0 and page[start - 1] != "\n":
        start = page.find(opening(name), start + 1)
    if start < 0:
        return None
    end = page.find(closing(name), start + len(opening(name)))
    return page[start + len(opening(name)):end] if end >= 0 else None


def page_blocks(page: str, header: str | None, url: str) -> Blocks | None:
    """Return the blocks of a page: between its markers, else read from the older layout (`header` is the
    mirror's header now, `url` the original URL as the page writes it). None when they cannot be told
    apart from the chrome with certainty: such a page is left as it is."""
    body = marked_block(page, BODY)
    if body is not None:
        return Blocks(marked_block(page, LEAD) or "", body)
    return legacy_blocks(page, header, url)


def legacy_blocks(page: str, header: str | None, url: str) -> Blocks | None:
    """Return the blocks of a page that 9a5543b's template rendered without markers.

    That page is `### title`, a rule, a blank line, then [header, blank line], [lead, `<hr/>`, blank line],
    body, blank line, `<hr/>`, blank line, [share block], `Original: <url>`, footer, metadata line. The
    body ends at the first `<hr/>` after which the share block or the original URL follows. Its start is
    certain for HTML bodies (each a `<div>` block without blank lines: the lead is the one before, ending
    in `<hr/>`), and for Markdown bodies when the page starts with the header the mirror has now (or
    the mirror has none): a Markdown body under another header is not guessed at.
    """
    head = LEGACY_HEAD.match(page)
    tail = re.compile(r"\n\n<hr/>\n\n(?:Share this page: [^\n]*\n\n(?:<a href=[^\n]*\n\n)?)?Original: <"
                      + re.escape(url) + r">\n")
    end = tail.search(page, head.end()) if head else None
    if head is None or end is None:
        return None
    middle = page[head.end():end.start()]
    if header and middle.startswith(header + "\n\n"):
        return lead_and_body(middle[len(header) + 2:])
    parts = middle.split("\n\n")
    if is_html_block(parts[-1]):
        before = parts[-2] if len(parts) > 1 else ""
        lead = before.removesuffix("\n<hr/>")
        return Blocks(lead if before.endswith("\n<hr/>") and is_html_block(lead) else "", parts[-1])
    return lead_and_body(middle) if not header else None


def lead_and_body(text: str) -> Blocks:
    """Return the lead and body of what follows the header: the lead ends at the last `<hr/>` line (a body
    holds none: HTML bodies have no blank line, Markdown ones write a rule as `* * *`)."""
    cut = text.rfind(LEGACY_LEAD_END)
    if cut < 0:
        return Blocks("", text)
    return Blocks(text[:cut], text[cut + len(LEGACY_LEAD_END):])


def is_html_block(block: str) -> bool:
    """Tell whether a block is one that `body = "html"` renders: a `<div>` holding no blank line."""
    return block.startswith("<div>\n") and block.endswith("\n</div>")
