"""HTML as text, before any parser sees it: one linear pass that bounds how deep elements nest.

HTML parsers check scopes by walking their stack of open elements, and CSS matching, text collection
and serializing walk ancestors, so each element costs as much as the nesting is deep: 100,000 nested
`<div>`s (1 MB) cost Lexbor and nh3 minutes each. `bound_depth` reads the markup once with a tokenizer
of its own and writes it out again in a canonical form:

- text with every `<` escaped, so that no parser finds a tag, comment or raw text the pass did not see;
- comments, processing instructions and elements whose content is not markup (script, style, iframe,
  textarea, ...) left out, as the sanitizer drops them anyway; `title` and `xmp` text kept as text;
- start tags as they were, read the way the HTML tokenizer reads them (quoted attribute values may
  hold a ">"); tags whose name no browser would make an element of are left out, their text kept;
- every element closed explicitly, innermost first, where the HTML parsing rules close it (an end tag
  in scope, the optional end tags of p, li, dt, dd, tr, td, th, option...);
- start tags nested deeper than the bound left out with their end tags: their text stays.

A parser reading the output opens only the elements the pass kept, and closes each where the pass
closed it, so its tree is no deeper than the bound, give or take the elements parsers add by
themselves (the tbody and tr of a table, formatting elements re-opened after a block): at most a
small multiple of it. The pass is linear: every element is pushed and popped once, and the scope
checks look at the last position of a fixed set of names.
"""

from __future__ import annotations

import re
from collections import defaultdict

MAX_DEPTH = 512
# A page holding no more "<" than this has too few elements to nest deep enough to make a parser slow (Lexbor
# parses 4,000 nested elements in tens of milliseconds, in C); the pass over it would cost more (2-3 ms of
# Python for a 90 KB news page) than it saves, so such a page may be parsed as it is and only what is taken
# from it bounded (`extract.select_blocks`).
FEW_TAGS = 4096

SPACE = "\t\n\f\r "
TAG = re.compile(
    r"<(/?)([A-Za-z][^\t\n\f\r />]*+)"  # name
    r"((?:[\t\n\f\r /]++|[^\t\n\f\r />][^\t\n\f\r /=>]*+"  # attribute name
    r"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+\"|'[^']*+'|[^\t\n\f\r >]++))?+)*+)"  # value
    r"(?:>|\Z)")
COMMENT = re.compile(r"<!--(?:-?>|.*?(?:--!?>|\Z))", re.DOTALL)
DOCTYPE = re.compile(r"<!doctype[^>]*+(?:>|\Z)", re.IGNORECASE)
BOGUS_COMMENT = re.compile(r"<(?:[!?]|/(?![A-Za-z]))[^>]*+(?:>|\Z)")  # <!x>, <?x>, </ x>, </>
ELEMENT_NAME = re.compile(r"[a-z][a-z0-9._:-]*+")

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "image", "input", "link", "meta", "source", "track",
        "wbr", "param", "keygen", "basefont", "bgsound", "frame", "menuitem"}
# Raw text the sanitizer drops with its element: skipped with it, up to its end tag.
DROPPED = {"script", "style", "iframe", "noembed", "noframes", "noscript", "textarea", "plaintext"}
# Raw text readers see: kept as text, in an element of its own that holds nothing else.
TEXT_ONLY = {"title": "title", "xmp": "pre"}
ROOTS = {"html", "head", "body"}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
FORMATTING = {"a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u"}
SCOPE = {"applet", "caption", "html", "table", "td", "th", "marquee", "object", "template"}
SPECIAL = SCOPE | HEADINGS | {
    "address", "area", "article", "aside", "base", "basefont", "bgsound", "blockquote", "body", "br", "button",
    "center", "col", "colgroup", "dd", "details", "dir", "div", "dl", "dt", "embed", "fieldset", "figcaption",
    "figure", "footer", "form", "frame", "frameset", "head", "header", "hgroup", "hr", "iframe", "img", "input",
    "keygen", "li", "link", "listing", "main", "menu", "meta", "nav", "noembed", "noframes", "noscript", "ol",
    "p", "param", "plaintext", "pre", "script", "search", "section", "select", "source", "style", "summary",
    "tbody", "textarea", "tfoot", "thead", "title", "tr", "track", "ul", "wbr", "xmp"}
# Start tags that close an open p (in button scope) before they open.
CLOSES_P = HEADINGS | {
    "address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div", "dl", "fieldset",
    "figcaption", "figure", "footer", "form", "header", "hgroup", "hr", "li", "dd", "dt", "listing", "main",
    "menu", "nav", "ol", "p", "pre", "search", "section", "summary", "ul"}
TABLE_PARTS = {"tbody", "thead", "tfoot", "tr", "td", "th"}
TABLE_SCOPED = TABLE_PARTS | {"table", "caption"}
IMPLIES = HEADINGS | TABLE_PARTS | {"li", "dd", "dt", "a", "button", "nobr", "option", "optgroup"}


def has_few_tags(markup: str) -> bool:
    """Tell whether markup is small enough in tags to be parsed unbounded (see FEW_TAGS)."""
    return markup.count("<") <= FEW_TAGS


def bound_depth(markup: str, limit: int = MAX_DEPTH) -> str:
    """Return markup written out canonically with no element nested deeper than limit (their text kept)."""
    return Bounder(limit).run(markup)


def bounded(markup: str, limit: int = MAX_DEPTH) -> str:
    """Return markup as it is when it holds too few tags to nest deeper than limit (each element needs a
    "<"), else bound_depth's: for markup that a parser wrote and the sanitizer reads next (a page's blocks),
    where the pass's rewriting changes nothing readers see and costs more than the rest of the extraction."""
    return markup if markup.count("<") <= limit else bound_depth(markup, limit)


class Bounder:
    """The state of one pass: the open elements (kept ones and those left out), and where each name is."""

    def __init__(self, limit: int):
        self.limit = limit
        self.out: list[str] = []
        self.names: list[str] = []  # open elements, outermost first
        self.kept: list[bool] = []  # whether each was written out (False: nested too deep, left out)
        self.depth = 0  # open elements written out
        self.where: dict[str, list[int]] = defaultdict(list)  # name -> its positions in names
        self.specials: list[int] = []  # positions of open special elements
        self.scopes: list[int] = []  # positions of open elements that bound a scope
        self.roots: set[str] = set()
        self.first = 0  # where the markup's first non-space character is

    def run(self, markup: str) -> str:
        out, position, end = self.out, 0, len(markup)
        self.first = end - len(markup.lstrip())
        while position < end:
            opening = markup.find("<", position)
            if opening < 0:
                opening = end
            if opening > position:
                out.append(markup[position:opening])  # holds no "<": it ends at the next one
            if opening == end:
                break
            tag = TAG.match(markup, opening)
            position = self.read_tag(markup, tag) if tag else self.read_other(markup, opening)
        self.close_to(0)
        return "".join(out)

    def read_other(self, markup: str, at: int) -> int:
        """Handle a "<" that starts no tag: a comment, a doctype, a bogus comment, or text; return where the
        text goes on. Only a doctype before anything else is kept: it decides how parsers read the page."""
        for pattern in (COMMENT, DOCTYPE, BOGUS_COMMENT):
            found = pattern.match(markup, at)
            if found:
                if pattern is DOCTYPE and at == self.first:
                    self.out.append("<" + found.group()[1:].replace("<", "&lt;"))
                return found.end()
        self.out.append("&lt;")
        return at + 1

    def read_tag(self, markup: str, tag: re.Match) -> int:
        closing, name = tag.group(1, 2)
        name = name.lower()
        if closing:
            names = self.names
            if names and names[-1] == name:  # the common case: it closes the innermost element
                self.close_to(len(names) - 1)
            else:
                self.end_tag(name)
        elif name in DROPPED or name in TEXT_ONLY:
            return self.raw_text(markup, name, tag.end())
        elif ELEMENT_NAME.fullmatch(name) and tag.group().endswith(">"):
            self.start_tag(name, tag.group())
        return tag.end()

    def raw_text(self, markup: str, name: str, start: int) -> int:
        """Skip an element whose content is not markup, up to its end tag; write its text when readers see it."""
        if name == "plaintext":
            self.out.append(markup[start:].replace("<", "&lt;"))
            return len(markup)
        closing = re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE).search(markup, start)
        stop = closing.start() if closing else len(markup)
        if name in TEXT_ONLY:
            element = TEXT_ONLY[name]
            self.close_p_for(element)
            self.out.append(f"<{element}>{markup[start:stop].replace('<', '&lt;')}</{element}>")
        after = markup.find(">", stop)
        return len(markup) if closing is None or after < 0 else after + 1

    def start_tag(self, name: str, text: str) -> None:
        if name in ROOTS:  # written once, never counted: parsers make one of each whatever the page says
            if name not in self.roots:
                self.roots.add(name)
                self.out.append(text)
            return
        self.close_implied(name)
        if name in VOID:
            self.out.append(text)
            return
        keep = self.depth < self.limit and (not self.kept or self.kept[-1])
        if keep:
            self.out.append(text)
            self.depth += 1
        position = len(self.names)
        self.where[name].append(position)
        if name in SPECIAL:
            self.specials.append(position)
        if name in SCOPE:
            self.scopes.append(position)
        self.names.append(name)
        self.kept.append(keep)

    def close_implied(self, name: str) -> None:
        """Close what a start tag closes by the parsing rules: an open p, a list item, a cell, a row..."""
        if name in IMPLIES:
            if name == "li" or name in ("dd", "dt"):
                self.close_list_item(("li",) if name == "li" else ("dd", "dt"))
            if name in HEADINGS and self.names and self.names[-1] in HEADINGS:
                self.close_to(len(self.names) - 1)
            elif name in TABLE_PARTS:
                self.close_table_parts(name)
            elif name in ("a", "button", "nobr") and self.in_scope(name):
                self.close_to(self.where[name][-1])
            elif name in ("option", "optgroup") and self.names and self.names[-1] == "option":
                self.close_to(len(self.names) - 1)
        self.close_p_for(name)

    def close_list_item(self, items: tuple[str, ...]) -> None:
        """The parsing rules look down the open elements for a list item, stopping at any special element
        but address, div and p; the last few are enough, past them the item stays open (deeper, not wrong)."""
        for position in reversed(self.specials[-8:]):
            if self.names[position] in items:
                self.close_to(position)
                return
            if self.names[position] not in ("address", "div", "p"):
                return

    def close_p_for(self, name: str) -> None:
        if name in CLOSES_P and self.in_scope("p", ("button",)):
            self.close_to(self.where["p"][-1])

    def close_table_parts(self, name: str) -> None:
        """A cell closes the open cell, a row the open row, a table section everything down to its table."""
        table = self.last_of(("table",))
        parts = ("td", "th") if name in ("td", "th") else ("tr",) if name == "tr" else TABLE_PARTS
        found = self.last_of(parts)
        if found is not None and table is not None and found > table:
            self.close_to(found if name in ("td", "th", "tr") else table + 1)

    def end_tag(self, name: str) -> None:
        if name == "br":
            self.out.append("<br>")
            return
        where = self.where.get(name)
        if not where or name in ROOTS:
            return
        if name in HEADINGS:
            heading = self.last_of(HEADINGS)
            if heading is not None and heading >= (self.scopes[-1] if self.scopes else -1):
                self.close_to(heading)
        elif name in TABLE_SCOPED:
            if where[-1] > (self.last_of(("table", "template", "html"), exclude=name) or -1):
                self.close_to(where[-1])
        elif name in SPECIAL or name in FORMATTING:
            if self.in_scope(name, ("ol", "ul") if name == "li" else ("button",) if name == "p" else ()):
                self.close_to(where[-1])
        elif where[-1] > (self.specials[-1] if self.specials else -1):
            self.close_to(where[-1])

    def in_scope(self, name: str, extra: tuple[str, ...] = ()) -> bool:
        """Tell whether an element named name is open with no scope boundary above it (it may be one)."""
        where = self.where.get(name)
        if not where:
            return False
        boundary = self.scopes[-1] if self.scopes else -1
        if extra:
            boundary = max(boundary, self.last_of(extra, exclude=name) or -1)
        return where[-1] >= boundary

    def last_of(self, names, exclude: str = "") -> int | None:
        positions = [self.where[name][-1] for name in names if name != exclude and self.where.get(name)]
        return max(positions) if positions else None

    def close_to(self, position: int) -> None:
        """Close every open element from the innermost down to the one at position, writing their end tags."""
        names, kept, where, out = self.names, self.kept, self.where, self.out
        while len(names) > position:
            name = names.pop()
            where[name].pop()
            top = len(names)
            if self.specials and self.specials[-1] == top:
                self.specials.pop()
            if self.scopes and self.scopes[-1] == top:
                self.scopes.pop()
            if kept.pop():
                out.append(f"</{name}>")
                self.depth -= 1
