"""A paragraph's pieces as Markdown: the passes that make emphasis read as emphasis and nothing else.

The converter adds a paragraph's pieces to a Paragraph as tokens (text, spaces, line breaks, the delimiters
of emphasis and links, ready Markdown); the passes here drop empty pairs, move spaces out of delimiters, leave
out the emphasis GitHub would show as it is (CommonMark's flanking rules), and write the rest, text escaped.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from mirrord.escaping import code_span, escape_text

TEXT, SPACE, BREAK, OPEN, CLOSE, ATOM = "text", "space", "break", "open", "close", "atom"


@dataclass
class Token:
    """One piece of a paragraph: text, a space, a line break, a delimiter of a pair, or ready Markdown."""

    kind: str
    value: str = ""
    pair: int = 0  # an OPEN and its CLOSE share it
    code: str | None = None  # the text of an ATOM that is a code span


@dataclass
class Formatting:
    """An emphasis or link open in the HTML; each block closes it and the next one opens it again."""

    node: int
    opening: str
    closing: str
    pair: int = 0


class Paragraph:
    """The paragraph being built: its tokens, and the emphasis and links open in it, which go on in the next."""

    def __init__(self):
        self.tokens: list[Token] = []
        self.formatting: list[Formatting] = []
        self.pairs = 0

    def add(self, token: Token) -> None:
        self.tokens.append(token)

    def open(self, formatting: Formatting) -> None:
        self.formatting.append(formatting)
        self.open_token(formatting)

    def open_token(self, formatting: Formatting) -> None:
        self.pairs += 1
        formatting.pair = self.pairs
        self.tokens.append(Token(OPEN, formatting.opening, self.pairs))

    def close(self, node: int) -> None:
        for index in range(len(self.formatting) - 1, -1, -1):
            if self.formatting[index].node == node:
                closing = self.formatting.pop(index)
                self.tokens.append(Token(CLOSE, closing.closing, closing.pair))
                return

    def reopen(self) -> None:
        for formatting in self.formatting:
            self.open_token(formatting)

    def closed(self) -> list[Token]:
        """Return the paragraph built so far with the open formatting closed, and start the next one."""
        tokens = self.tokens + [Token(CLOSE, f.closing, f.pair) for f in reversed(self.formatting)]
        self.tokens = []
        return tokens


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

