"""Sanitized HTML as Markdown, for `body = "markdown"`: a converter of our own, iterative, escaping all text.

It reads the tree of HTML that went through the sanitizer and writes only what that tree holds:
paragraphs, the headings, lists, quotes, code, tables and emphasis the HTML had, and the links and
pictures the mirror's policies allow (`links = "neutralize"` writes no link, `"rewrite"` only links to
pages of the mirror; `images = "drop"` no picture), with http, https and mailto URLs only. This module
walks the tree and lays out the blocks; `inline` writes each paragraph, `escaping` makes text and URLs safe.

The walk over the tree keeps its own stack (no recursion a page could exhaust); lists and quotes nest
at most MAX_CONTAINERS deep and emphasis MAX_EMPHASIS deep, deeper ones go on as plain blocks and text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

from mirrord.escaping import code_block, code_span, escape_text, safe_url, table_line
from mirrord.inline import ATOM, BREAK, SPACE, TEXT, Formatting, Paragraph, Token, paragraph
from mirrord.markup import bound_depth

MAX_CONTAINERS = 12
MAX_EMPHASIS = 6

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


def html_to_markdown(fragment: str, links: str = "keep", images: str = "hotlink") -> str:
    """Return sanitized HTML as Markdown under the mirror's link and picture policies."""
    if not fragment.strip():
        return ""
    body = LexborHTMLParser(f"<body>{bound_depth(fragment)}</body>").body
    return Converter(links, images).convert(body) if body is not None else ""



@dataclass
class Container:
    """A block that holds blocks: the page itself, a quote, or a list item (with its marker)."""

    kind: str
    marker: str = ""
    blocks: list[tuple[list[str], int]] = field(default_factory=list)  # lines, and the list they are an item of


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
        self.inline = Paragraph()
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
            self.inline.add(Token(SPACE))
        elif tag == "br":
            self.inline.add(Token(BREAK))
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
            self.inline.add(Token(SPACE))
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
            self.inline.close(node)
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
                self.inline.add(Token(SPACE))
            if part:
                self.inline.add(Token(TEXT, part))

    def add_code(self, text: str, block: bool) -> None:
        if block:
            self.end_block()
            if text.strip():
                self.add_block(code_block(text))
        elif text.strip():
            self.inline.add(Token(ATOM, code_span(text), code=text))
        elif text:
            self.inline.add(Token(SPACE))

    def add_image(self, node: LexborNode) -> None:
        source = None if self.images == "drop" else safe_url(node.attributes.get("src") or "", remote=True)
        if source:
            alt = escape_text(" ".join((node.attributes.get("alt") or "").split()), emails=False)
            self.inline.add(Token(ATOM, f"![{alt}]({source})"))

    # Emphasis and links

    def open_formatting(self, node: LexborNode, tag: str) -> None:
        if tag == "a":
            target = None if self.links == "neutralize" else safe_url(node.attributes.get("href") or "",
                                                                       remote=self.links == "keep")
            if not target or any(f.opening == "[" for f in self.inline.formatting):
                return
            formatting = Formatting(node.mem_id, "[", f"]({target})")
        else:
            mark = EMPHASIS[tag]
            if len(self.inline.formatting) >= MAX_EMPHASIS or any(f.opening == mark for f in self.inline.formatting):
                return
            formatting = Formatting(node.mem_id, mark, mark)
        self.leaving[node.mem_id] = "formatting"
        self.inline.open(formatting)

    # Blocks

    def end_block(self) -> None:
        """Write the paragraph built so far; the formatting open in it goes on in the next."""
        text = paragraph(self.inline.closed())
        if text:
            self.add_block(text.split("\n"))
        self.inline.reopen()

    def end_heading(self) -> None:
        text = paragraph(self.inline.closed(), one_line=True)
        if text:
            self.add_block(["#" * self.heading + " " + text])
        self.heading = 0
        self.inline.reopen()

    def end_cell(self) -> None:
        if self.tables and self.tables[-1].cells is not None:
            self.tables[-1].cells.append(paragraph(self.inline.closed(), one_line=True, in_table=True))
        self.inline.tokens = []
        self.in_cell = False
        self.inline.reopen()

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

