"""The jinja2 environment shared by render and index, and the escaping that keeps titles inert.

jinja2 is imported when a page, an index or the README is first rendered, not with the modules that only
name page paths (ledger, articles): `check` and `status` never load it.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2

TITLE_LIMIT = 300
MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]()#!|~])")


@lru_cache(maxsize=16)
def environment(templates: Path | None) -> jinja2.Environment:
    """Return the environment for a mirror: its own templates folder first, then the built-in ones."""
    import jinja2

    loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader("mirrord", "templates")]
    if templates is not None:
        loaders.insert(0, jinja2.FileSystemLoader(templates))
    return jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=False, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def markdown_title(title: str) -> str:
    """Return title as one line of inert Markdown: no newline, heading mark, link or HTML can escape it."""
    line = " ".join(title.split())
    if len(line) > TITLE_LIMIT:
        line = line[: TITLE_LIMIT - 1].rstrip() + "…"
    return MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(line, quote=False))
