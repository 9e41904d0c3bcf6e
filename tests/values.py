"""Builders of the frozen values mirrord's stages take, with the config's defaults."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from mirrord.model import Article, Channel, Entry, Mirror, Rules

FETCHED = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


def rules(**changes) -> Rules:
    return replace(Rules(content="div.body", lead=None, remove=(), id="stem", exclude=(), min_text=20,
                         hosts=frozenset()), **changes)


def mirror(**changes) -> Mirror:
    return replace(Mirror(name="news", title="News", remotes=(), branch="main", public_url=None, keep=300,
                          links="keep", images="hotlink", body="html", qr=False, header=None, footer=None,
                          readme_header=None, templates=None, commit_message="sync", author="m <m@localhost>",
                          ssh_key=None, token_env=None, squash_after=0), **changes)


def channel(**changes) -> Channel:
    rule_changes = changes.pop("rules", {})
    return replace(Channel(name="world", title="World", source="daily", url="http://site.test/feed.xml",
                           items=None, rules=rules(**rule_changes)), **changes)


def entry(url: str = "http://site.test/2026/11/a1.html", **changes) -> Entry:
    return replace(Entry(id="a1", url=url, title="A title"), **changes)


def article(**changes) -> Article:
    return replace(Article(id="a1", url="http://site.test/2026/11/a1.html", title="A title", source="daily",
                           channel="world", lead_html="", body_html="<p>Body text of the article.</p>",
                           text_length=26, fetched=FETCHED), **changes)


def templates_dir(tmp: Path, **templates: str) -> Path:
    for name, text in templates.items():
        (tmp / f"{name}.md.j2").write_text(text, encoding="utf-8")
    return tmp
