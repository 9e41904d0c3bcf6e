"""Text and URLs made safe to write in Markdown: the one place that knows what GitHub reads as syntax.

Text is escaped wherever Markdown would read it as syntax: `\\`, `` ` ``, `*`, `_`, `[`, `]`, `<`, `>`, `&`,
`|`, `~`, `$`, `#`, `^` everywhere; `-`, `+`, `=` and `1.` at the start of a line; `!` before a link;
`://` and `www.`, which GitHub turns into links. So no text becomes a heading, a list, a quote, a table, a link, a
picture, raw HTML, or a comment hiding the rest of the page. No raw HTML is written but for an empty
comment between the name and the `@` of an e-mail address, the one way to keep GitHub from making it
a link: it never starts a line, so it never opens an HTML block. Code goes between fences no text in it can
close, and link and picture URLs are kept to http, https and mailto.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

EMAIL_BREAK = "<!-- -->"
ALWAYS_ESCAPED = re.compile(r"([\\`*_\[\]<>&|~$#^])")
AUTOLINK = re.compile(r"(?<=[Ww][Ww][Ww])\.|:(?=//)")
EMAIL_AT = re.compile(r"(?<=[A-Za-z0-9._+-])@(?=[A-Za-z0-9])")
LINE_START = re.compile(r"[-+=]|(\d{1,9})([.)])")
ENTITY_LIKE = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
URL_SAFE = ":/?#[]@!$&'*+,;=%~"
BACKTICKS = re.compile(r"`+")


def escape_text(text: str, line_start: bool = False, emails: bool = True) -> str:
    """Return text escaped so that Markdown (GitHub's) shows it as it is: see the module's docstring."""
    parts = EMAIL_AT.split(text) if emails else [text]
    escaped = (EMAIL_BREAK + "@").join(AUTOLINK.sub(r"\\\g<0>", ALWAYS_ESCAPED.sub(r"\\\1", p)) for p in parts)
    if escaped.endswith("!"):  # a link may follow: "![" would make it a picture
        escaped = escaped[:-1] + "\\!"
    start = LINE_START.match(escaped) if line_start else None
    if start is None:
        return escaped
    if start.group(1):
        return f"{start.group(1)}\\{start.group(2)}{escaped[start.end():]}"
    return "\\" + escaped


def code_span(text: str) -> str:
    """Return text as a code span: a fence longer than any run of backticks in it, padded where needed."""
    text = text.replace("\n", " ")
    fence = "`" * (max((len(run) for run in BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" or (text[0] == " " and text[-1] == " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(text: str) -> list[str]:
    """Return text as the lines of a fenced code block whose fence no line of it can close."""
    lines = text.removeprefix("\n").rstrip("\n").split("\n")
    fence = "`" * max(3, max((len(run) for run in BACKTICKS.findall(text)), default=0) + 1)
    return [fence, *lines, fence]


def table_line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def safe_url(url: str, remote: bool) -> str | None:
    """Return url as a link destination, or None when it may not be one: a scheme other than http, https
    and mailto, or any scheme or host at all when only the mirror's own pages may be linked (remote False).

    Spaces, parentheses and the like are percent-encoded; so is an "&" that starts a character reference,
    which GitHub's renderer would decode even after a backslash (`javascript&colon;` is `javascript:`)."""
    url = CONTROL.sub("", url).strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not url or (scheme and scheme not in ("http", "https", "mailto")) or ((scheme or parts.netloc) and not remote):
        return None
    return quote(ENTITY_LIKE.sub("%26", url), safe=URL_SAFE)
