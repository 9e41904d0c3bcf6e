"""Render the channel indexes and the README (the mirror's front page) from the ledger: pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from mirrord.catalogue import words
from mirrord.ledgerfile import order
from mirrord.model import LedgerRow, Mirror, Source
from mirrord.templating import environment, markdown_title
from mirrord.variant import convert_text

# An index line: the page's link, then (since the front page came) the date it was published on.
INDEX_LINK = re.compile(r"^#### \[.*\]\(\.\./(pages/[^)]+\.md)\)(?: · \d{4}-\d{2}-\d{2})?$", re.MULTILINE)


@dataclass(frozen=True)
class IndexLine:
    """One page as an index or the README lists it: its title (escaped), its link and the day (UTC) it was
    published on."""

    title: str
    link: str
    date: str


def index_path(channel: str) -> str:
    return f"indexes/{channel}.md"


def parse_index(text: str) -> list[str]:
    """Return the page paths an index links to, newest first (the inverse of render_index; indexes written
    before dates were shown too)."""
    return [match.group(1) for match in INDEX_LINK.finditer(text)]


def newest_first(mirror: Mirror, rows: list[LedgerRow], prefix: str) -> list[IndexLine]:
    """Return the rows as lines, newest first, titles in their source's script, links relative by prefix."""
    ordered = sorted(rows, key=order, reverse=True)
    return [IndexLine(markdown_title(convert_text(row.title, mirror.variant_of(row.source))), prefix + row.path,
                      row.time.astimezone(timezone.utc).strftime("%Y-%m-%d"))
            for row in ordered]


def mirror_words(mirror: Mirror, text: str) -> str:
    """Return a title the operator wrote as one inert line in the mirror's script."""
    return markdown_title(convert_text(text, mirror.variant))


def render_index(mirror: Mirror, title: str, rows: list[LedgerRow]) -> str:
    """Return a channel's index: its live pages, newest first, one line each with its date."""
    return environment(mirror.templates).get_template("index.md.j2").render(
        words=words(mirror.lang), title=mirror_words(mirror, title), mirror_title=mirror_words(mirror, mirror.title),
        pages=newest_first(mirror, rows, "../"))


def render_readme(mirror: Mirror, sources: list[Source], shown: dict[str, list[LedgerRow]],
                  changed: datetime) -> str:
    """Return the README: the mirror's title, its header, each source with its channels, each channel with
    its `front_page` newest headlines and a link to its full index."""
    listed = [{"title": mirror_words(mirror, source.title),
               "channels": [{"name": c.name, "title": mirror_words(mirror, c.title),
                             "count": len(shown.get(c.name, [])),
                             "headlines": newest_first(mirror, shown.get(c.name, []), "")[: mirror.front_page]}
                            for c in source.channels]}
              for source in sources]
    catalogue = words(mirror.lang)
    return environment(mirror.templates).get_template("readme.md.j2").render(
        words=catalogue, title=mirror_words(mirror, mirror.title), readme_header=mirror.readme_header,
        sources=listed, front_page=mirror.front_page, changed=changed.strftime(catalogue.time_format))
