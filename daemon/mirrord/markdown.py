"""Sanitized HTML as Markdown, for `body = "markdown"`: a converter of our own, iterative, escaping all text.

It reads the tree of HTML that went through the sanitizer and writes only what that tree holds:
paragraphs, the headings, lists, quotes, code, tables and emphasis the HTML had, and the links and
pictures the mirror's policies allow (`links = "neutralize"` writes no link, `"rewrite"` only links to
pages of the mirror; `images = "drop"` no picture), with http, https and mailto URLs only. Text is
escaped wherever Markdown would read it as syntax: `\\`, `` ` ``, `*`, `_`, `[`, `]`, `<`, `>`, `&`,
`|`, `~`, `$`, `#`, `^` everywhere; `-`, `+`, `=` and `1.` at the start of a line; `!` before a link;
`://` and `www.`, which GitHub turns into links. So no text becomes a heading, a list, a quote, a table, a link, a
picture, raw HTML, or a comment hiding the rest of the page. No raw HTML is written but for an empty
comment between the name and the `@` of an e-mail address, the one way to keep GitHub from making it
a link: it never starts a line, so it never opens an HTML block.

The walk over the tree keeps its own stack (no recursion a page could exhaust); lists and quotes nest
at most MAX_CONTAINERS deep and emphasis MAX_EMPHASIS deep, deeper ones go on as plain blocks and text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from mirrord.markup import bound_depth

MAX_CONTAINERS = 12
MAX_EMPHASIS = 6
EMAIL_BREAK = "<!-- -->"

BLOCKS = {
    "address", "article", "aside", "blockquote", "caption", "center", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup",
    "li", "main", "menu", "nav", "ol", "p", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "ul"}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
# Strong, emphasis and strikethrough each take a character of their own, so that the delimiters of one
# never join those of another in a run that CommonMark would pair its own way; "**" works inside words
# (Chinese has no spaces), "_" does not, but italics are rare there.
EMPHASIS = {"b": "**", "strong": "**", "i": "_", "em": "_", "cite": "_", "dfn": "_", "var": "_", "del": "~~",
            "s": "~~", "strike": "~~"}
CODE = {"code", "kbd", "samp", "tt"}
LEFT_OUT = {"script", "style", "template", "svg", "math", "iframe", "object", "noscript", "textarea", "select",
            "head", "title"}
HTML_SPACE = re.compile(r"[ \t\n\f\r]+")
ALWAYS_ESCAPED = re.compile(r"([\\`*_\[\]<>&|~$#^])")
AUTOLINK = re.compile(r"(?<=[Ww][Ww][Ww])\.|:(?=//)")
EMAIL_AT = re.compile(r"(?<=[A-Za-z0-9._+-])@(?=[A-Za-z0-9])")
LINE_START = re.compile(r"[-+=]|(\d{1,9})([.)])")
ENTITY_LIKE = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
URL_SAFE = ":/?#[]@!$&'*+,;=%~"
BACKTICKS = re.compile(r"`+")


def html_to_markdown(fragment: str, links: str = "keep", images: str = "hotlink") -> str:
    """Return sanitized HTML as Markdown under the mirror's link and picture policies."""
    if not fragment.strip():
        return ""
    body = LexborHTMLParser(f"<body>{bound_depth(fragment)}</body>").body
    return Converter(links, images).convert(body) if body is not None else ""


TEXT, SPACE, BREAK, OPEN, CLOSE, ATOM = "text", "space", "break", "open", "close", "atom"


@dataclass
class Token:
    """One piece of a paragraph: text, a space, a line break, a delimiter of a pair, or ready Markdown."""

    kind: str
    value: str = ""
    pair: int = 0  # an OPEN and its CLOSE share it
    code: str | None = None  # the text of an ATOM that is a code span


@dataclass
class Container:
    """A block that holds blocks: the page itself, a quote, or a list item (with its marker)."""

    kind: str
    marker: str = ""
    blocks: list[tuple[list[str], int]] = field(default_factory=list)  # lines, and the list they are an item of


@dataclass
class Formatting:
    """An emphasis or link open in the HTML; each block closes it and the next one opens it again."""

    node: int
    opening: str
    closing: str
    pair: int = 0


@dataclass
class Table:
    rows: list[list[str]] = field(default_factory=list)
    cells: list[str] | None = None  # the row being read


class Converter:
    """One conversion: the open containers, lists and tables, the paragraph being built, the open formatting."""

    def __init__(self, links: str, images: str):
        self.links = links
        self.images = images
        self.containers = [Container("root")]
        self.lists: list[list] = []  # per open list: [id, next number, ordered]
        self.tables: list[Table] = []
        self.inline: list[Token] = []
        self.formatting: list[Formatting] = []
        self.pairs = 0
        self.list_ids = 0
        self.heading = 0  # level of the heading being read, 0 outside one
        self.in_cell = False
        self.leaving: dict[int, str] = {}  # element (mem_id) -> what to do when the walk leaves it

    def convert(self, body: LexborNode) -> str:
        stack: list[tuple[LexborNode, bool]] = [(body, False)]
        while stack:
            node, leaving = stack.pop()
            if leaving:
                self.leave(node.mem_id)
            elif node.is_text_node:
                self.add_text(node.text_content or "")
            elif node.is_element_node and self.enter(node):
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(children(node)))
        self.end_block()
        while len(self.containers) > 1:
            self.close_container()
        return "\n".join(separated(self.containers[0].blocks))

    def enter(self, node: LexborNode) -> bool:
        """Handle an element's start; return whether to walk into it."""
        tag = node.tag or ""
        if tag in LEFT_OUT:
            return False
        if tag == "pre" or tag in CODE:
            self.add_code(raw_text(node), block=tag == "pre" and not self.in_line())
            return False
        if tag in ("br", "hr") and self.in_line():
            self.inline.append(Token(SPACE))
        elif tag == "br":
            self.inline.append(Token(BREAK))
        elif tag == "hr":
            self.end_block()
            self.add_block(["* * *"])
        elif tag == "img":
            self.add_image(node)
        elif tag in EMPHASIS or tag == "a":
            self.open_formatting(node, tag)
        elif tag in BLOCKS:
            self.enter_block(node.mem_id, tag)
        return True

    def enter_block(self, node: int, tag: str) -> None:
        if tag in ("td", "th") and self.tables and self.tables[-1].cells is not None and not self.in_line():
            self.end_block()
            self.in_cell = True
            self.leaving[node] = "cell"
            return
        if self.in_line():  # inside a heading or a table cell, blocks are spaces between words
            self.inline.append(Token(SPACE))
            return
        self.end_block()
        if tag == "table":
            self.tables.append(Table())
        elif tag == "tr" and self.tables:
            self.tables[-1].cells = []
        elif tag in ("ul", "ol"):
            self.list_ids += 1
            self.lists.append([self.list_ids, 1, tag == "ol"])
        elif tag in ("li", "blockquote") and len(self.containers) < MAX_CONTAINERS:
            self.open_container(tag)
            tag = "container"
        elif tag in HEADINGS:
            self.heading = int(tag[1])
        self.leaving[node] = tag

    def leave(self, node: int) -> None:
        what = self.leaving.pop(node, "")
        if what == "formatting":
            self.close_formatting(node)
        elif what == "cell":
            self.end_cell()
        elif what in HEADINGS:
            self.end_heading()
        elif what:
            self.end_block()
        if what == "table":
            self.end_table()
        elif what == "tr" and self.tables:
            self.end_row()
        elif what in ("ul", "ol"):
            self.lists.pop()
        elif what == "container":
            self.close_container()

    def in_line(self) -> bool:
        return bool(self.heading) or self.in_cell

    # Text, code and pictures

    def add_text(self, text: str) -> None:
        for index, part in enumerate(HTML_SPACE.split(text)):
            if index:
                self.inline.append(Token(SPACE))
            if part:
                self.inline.append(Token(TEXT, part))

    def add_code(self, text: str, block: bool) -> None:
        if block:
            self.end_block()
            if text.strip():
                self.add_block(code_block(text))
        elif text.strip():
            self.inline.append(Token(ATOM, code_span(text), code=text))
        elif text:
            self.inline.append(Token(SPACE))

    def add_image(self, node: LexborNode) -> None:
        source = None if self.images == "drop" else safe_url(node.attributes.get("src") or "", remote=True)
        if source:
            alt = escape_text(" ".join((node.attributes.get("alt") or "").split()), emails=False)
            self.inline.append(Token(ATOM, f"![{alt}]({source})"))

    # Emphasis and links

    def open_formatting(self, node: LexborNode, tag: str) -> None:
        if tag == "a":
            target = None if self.links == "neutralize" else safe_url(node.attributes.get("href") or "",
                                                                       remote=self.links == "keep")
            if not target or any(f.opening == "[" for f in self.formatting):
                return
            formatting = Formatting(node.mem_id, "[", f"]({target})")
        else:
            mark = EMPHASIS[tag]
            if len(self.formatting) >= MAX_EMPHASIS or any(f.opening == mark for f in self.formatting):
                return
            formatting = Formatting(node.mem_id, mark, mark)
        self.formatting.append(formatting)
        self.leaving[node.mem_id] = "formatting"
        self.open_token(formatting)

    def open_token(self, formatting: Formatting) -> None:
        self.pairs += 1
        formatting.pair = self.pairs
        self.inline.append(Token(OPEN, formatting.opening, self.pairs))

    def close_formatting(self, node: int) -> None:
        for index in range(len(self.formatting) - 1, -1, -1):
            if self.formatting[index].node == node:
                closing = self.formatting.pop(index)
                self.inline.append(Token(CLOSE, closing.closing, closing.pair))
                return

    def reopen_formatting(self) -> None:
        for formatting in self.formatting:
            self.open_token(formatting)

    def closed_paragraph(self) -> list[Token]:
        """Return the paragraph built so far with the open formatting closed, and start the next one."""
        tokens = self.inline + [Token(CLOSE, f.closing, f.pair) for f in reversed(self.formatting)]
        self.inline = []
        return tokens

    # Blocks

    def end_block(self) -> None:
        """Write the paragraph built so far; the formatting open in it goes on in the next."""
        text = paragraph(self.closed_paragraph())
        if text:
            self.add_block(text.split("\n"))
        self.reopen_formatting()

    def end_heading(self) -> None:
        text = paragraph(self.closed_paragraph(), one_line=True)
        if text:
            self.add_block(["#" * self.heading + " " + text])
        self.heading = 0
        self.reopen_formatting()

    def end_cell(self) -> None:
        if self.tables and self.tables[-1].cells is not None:
            self.tables[-1].cells.append(paragraph(self.closed_paragraph(), one_line=True, in_table=True))
        self.inline = []
        self.in_cell = False
        self.reopen_formatting()

    def end_row(self) -> None:
        table = self.tables[-1]
        if table.cells:
            table.rows.append(table.cells)
        table.cells = None

    def end_table(self) -> None:
        rows = self.tables.pop().rows
        width = max((len(row) for row in rows), default=0)
        if width:
            rows = [row + [""] * (width - len(row)) for row in rows]
            self.add_block([table_line(rows[0]), "|" + "|".join([" --- "] * width) + "|"]
                           + [table_line(row) for row in rows[1:]])

    def add_block(self, lines: list[str], item_of: int = 0) -> None:
        self.containers[-1].blocks.append((lines, item_of))

    def open_container(self, tag: str) -> None:
        if tag == "blockquote":
            self.containers.append(Container("blockquote"))
            return
        if not self.lists:
            self.list_ids += 1
            self.lists.append([self.list_ids, 1, False])
        number = self.lists[-1][1]
        self.lists[-1][1] += 1
        self.containers.append(Container("li", f"{number}. " if self.lists[-1][2] else "- "))

    def close_container(self) -> None:
        container = self.containers.pop()
        lines = separated(container.blocks, lists_follow_text=container.kind == "li")
        if not lines:
            return
        if container.kind == "blockquote":
            self.add_block([f"> {line}" if line else ">" for line in lines])
            return
        indent = " " * len(container.marker)
        self.add_block([container.marker + lines[0]] + [indent + line if line else "" for line in lines[1:]],
                       item_of=self.lists[-1][0] if self.lists else -1)


def separated(blocks: list[tuple[list[str], int]], lists_follow_text: bool = False) -> list[str]:
    """Return the lines of blocks with a blank line between two blocks; items of one list follow each other,
    and in a list item, a list follows the item's first paragraph (a tight list, as HTML lists look)."""
    lines: list[str] = []
    previous = 0
    for index, (block, item_of) in enumerate(blocks):
        tight = item_of and (item_of == previous or (lists_follow_text and index == 1 and not previous))
        if lines and not tight:
            lines.append("")
        lines += block
        previous = item_of
    return lines


def children(node: LexborNode) -> list[LexborNode]:
    found = []
    child = node.child
    while child is not None:
        found.append(child)
        child = child.next
    return found


def raw_text(node: LexborNode) -> str:
    """Return the text under node as it is, <br> as a line break, walked with a stack of its own."""
    parts: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.is_text_node:
            parts.append(current.text_content or "")
        elif current.is_element_node and current.tag == "br":
            parts.append("\n")
        elif current.is_element_node and current.tag not in LEFT_OUT:
            stack.extend(reversed(children(current)))
    return "".join(parts).replace("\r\n", "\n").replace("\r", "\n")


# Paragraphs: tokens to one block of Markdown


def paragraph(tokens: list[Token], one_line: bool = False, in_table: bool = False) -> str:
    """Return a paragraph's tokens as Markdown: empty pairs dropped, spaces moved out of delimiters and
    collapsed, emphasis GitHub would not read as such left out, text escaped."""
    if one_line:
        tokens = [Token(SPACE) if t.kind == BREAK else t for t in tokens]
    tokens = flanked(spaced(without_empty_pairs(tokens)))
    return written(joined_code(tokens), in_table)


def joined_code(tokens: list[Token]) -> list[Token]:
    """Make code spans side by side one: their backticks would make one run, which reads differently."""
    out: list[Token] = []
    for token in tokens:
        if token.code is not None and out and out[-1].code is not None:
            text = out.pop().code + token.code
            token = Token(ATOM, code_span(text), code=text)
        out.append(token)
    return out


def without_empty_pairs(tokens: list[Token]) -> list[Token]:
    """Drop each OPEN and CLOSE with nothing but spaces and line breaks between them (or no partner)."""
    out: list[Token] = []
    opened: list[tuple[int, int, int]] = []  # (index in out, pair, content count when opened)
    content = 0
    for token in tokens:
        if token.kind == OPEN:
            opened.append((len(out), token.pair, content))
        elif token.kind == CLOSE:
            if not opened or opened[-1][1] != token.pair:
                continue
            index, _, before = opened.pop()
            if before == content:
                del out[index]
                continue
        elif token.kind in (TEXT, ATOM):
            content += 1
        out.append(token)
    for index, _, _ in reversed(opened):
        del out[index]
    return out


def spaced(tokens: list[Token]) -> list[Token]:
    """Move spaces out of delimiters (`** x **` is no emphasis), one space at most between words, none at
    the start or end of a line; line breaks only between lines with something on them."""
    out: list[Token] = []
    run: list[Token] = []
    line_empty = True  # nothing but delimiters on the line so far
    for token in [*tokens, Token(BREAK)]:
        if token.kind in (SPACE, OPEN, CLOSE):
            run.append(token)
            continue
        at_edge = line_empty or token.kind == BREAK
        closes = [t for t in run if t.kind == CLOSE]
        opens = [t for t in run if t.kind == OPEN]
        space = [Token(SPACE)] if any(t.kind == SPACE for t in run) and not at_edge else []
        out += closes + space + opens
        run = []
        if token.kind != BREAK:
            out.append(token)
            line_empty = False
        elif not line_empty:
            out.append(token)
            line_empty = True
    return without_last_breaks(out)


def without_last_breaks(tokens: list[Token]) -> list[Token]:
    """Drop the line breaks with nothing but delimiters after them (a break at the end of a paragraph)."""
    kept: list[Token] = []
    content_after = False
    for token in reversed(tokens):
        if token.kind == BREAK:
            if not content_after:
                continue
            content_after = False
        elif token.kind in (TEXT, ATOM):
            content_after = True
        kept.append(token)
    return kept[::-1]


def flanked(tokens: list[Token]) -> list[Token]:
    """Drop the emphasis pairs whose delimiters GitHub would show as they are (CommonMark's flanking rules)."""
    for _ in range(8):
        tokens = unmixed(tokens)
        failing = {t.pair for i, t in enumerate(tokens) if is_emphasis(t) and not can_delimit(tokens, i)}
        if not failing:
            return tokens
        tokens = [t for t in tokens if t.kind not in (OPEN, CLOSE) or t.pair not in failing]
    return [t for t in tokens if not is_emphasis(t)]


def unmixed(tokens: list[Token]) -> list[Token]:
    """Keep emphasis that ends from touching emphasis that starts with the same character: the delimiters
    would make one run, which CommonMark reads its own way (`**a****b**` is no emphasis). An emphasis ending
    where the same one starts again goes on instead; another starting there is left out."""
    out: list[Token] = []
    goes_on: dict[int, int] = {}  # pair -> the pair it continues
    dropped: set[int] = set()
    for token in tokens:
        if token.kind == CLOSE and (token.pair in goes_on or token.pair in dropped):
            if token.pair in dropped:
                continue
            token = Token(CLOSE, token.value, goes_on[token.pair])
        elif token.kind == OPEN and is_emphasis(token) and out and out[-1].kind == CLOSE and is_emphasis(out[-1]) \
                and out[-1].value[0] == token.value[0]:
            if out[-1].value == token.value:
                goes_on[token.pair] = out.pop().pair
            else:
                dropped.add(token.pair)
            continue
        out.append(token)
    return out


def is_emphasis(token: Token) -> bool:
    return token.kind in (OPEN, CLOSE) and token.value[0] in "*_~"


def can_delimit(tokens: list[Token], index: int) -> bool:
    """Tell whether GitHub reads tokens[index] as the delimiter it is (CommonMark's flanking rules)."""
    token = tokens[index]
    if token.value[0] == "~" and any(0 <= i < len(tokens) and is_emphasis(tokens[i]) for i in (index - 1, index + 1)):
        return False  # cmark-gfm pairs a strikethrough touching other emphasis in ways of its own
    before, after = neighbour(tokens, index, -1), neighbour(tokens, index, 1)
    left = not is_space(after) and (not is_punctuation(after) or is_space(before) or is_punctuation(before))
    right = not is_space(before) and (not is_punctuation(before) or is_space(after) or is_punctuation(after))
    if token.value[0] == "_":  # no "_" emphasis inside a word
        left, right = left and (not right or is_punctuation(before)), right and (not left or is_punctuation(after))
    return left if token.kind == OPEN else right


def neighbour(tokens: list[Token], index: int, step: int) -> str:
    """Return the character beside the run of delimiters of the same character around tokens[index]."""
    mark = tokens[index].value[0]
    index += step
    while 0 <= index < len(tokens):
        token = tokens[index]
        if token.kind in (OPEN, CLOSE) and token.value[0] == mark and mark in "*_~":
            index += step
            continue
        if token.kind in (SPACE, BREAK):
            return " "
        text = token.value
        return text[-1] if step < 0 else text[0]
    return " "


def is_space(char: str) -> bool:
    return char in "\t\n\f\r " or unicodedata.category(char) == "Zs"


def is_punctuation(char: str) -> bool:
    return (char.isascii() and not char.isalnum() and char.isprintable() and char != " ") or \
        unicodedata.category(char).startswith("P")


def written(tokens: list[Token], in_table: bool) -> str:
    """Return the tokens as Markdown text, escaping each run of text where it stands."""
    out: list[str] = []
    run: list[str] = []
    line_start = True
    for token in [*tokens, Token(BREAK, "end")]:
        if token.kind in (TEXT, SPACE):
            run.append(token.value or " ")
            continue
        if run:
            out.append(escape_text("".join(run), line_start=line_start))
            line_start, run = False, []
        if token.kind == BREAK:
            if token.value != "end":
                out.append("\\\n")
                line_start = True
            continue
        out.append(token.value.replace("|", "\\|") if in_table and token.code is not None else token.value)
        line_start = False
    return "".join(out)


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
