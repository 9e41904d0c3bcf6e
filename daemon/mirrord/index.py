"""Render the channel indexes and the README from the ledger: pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from mirrord.ledgerfile import order
from mirrord.model import LedgerRow, Mirror, Source
from mirrord.templating import environment, markdown_title

INDEX_LINK = re.compile(r"^#### \[.*\]\(\.\./(pages/[^)]+\.md)\)$", re.MULTILINE)


@dataclass(frozen=True)
class IndexLine:
    title: str
    link: str


def index_path(channel: str) -> str:
    return f"indexes/{channel}.md"


def parse_index(text: str) -> list[str]:
    """Return the page paths an index links to, newest first (the inverse of render_index)."""
    return [match.group(1) for match in INDEX_LINK.finditer(text)]


def render_index(mirror: Mirror, title: str, rows: list[LedgerRow]) -> str:
    """Return a channel's index: its live pages, newest first, one line each."""
    ordered = sorted(rows, key=order, reverse=True)
    pages = [IndexLine(markdown_title(row.title), f"../{row.path}") for row in ordered]
    return environment(mirror.templates).get_template("index.md.j2").render(
        title=markdown_title(title), mirror_title=markdown_title(mirror.title), pages=pages)


def render_readme(mirror: Mirror, sources: list[Source], counts: dict[str, int], changed: datetime) -> str:
    """Return the README: the mirror's title, its header, each source with its channels' indexes."""
    listed = [{"title": markdown_title(source.title),
               "channels": [{"name": c.name, "title": markdown_title(c.title), "count": counts.get(c.name, 0)}
                            for c in source.channels]}
              for source in sources]
    return environment(mirror.templates).get_template("readme.md.j2").render(
        title=markdown_title(mirror.title), readme_header=mirror.readme_header, sources=listed,
        changed=changed.strftime("%Y-%m-%d %H:%M UTC"))
