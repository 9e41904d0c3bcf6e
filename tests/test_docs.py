"""The docs keep up with the code: every command and option, every status-log event, every link."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mirrord.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "daemon" / "mirrord"
LOG_CALL = re.compile(r"log\.(?:debug|info|warning|error|critical|exception)\(([^=]+)")  # up to the first keyword
EVENT_NAME = re.compile(r'"([a-z_]+\.[a-z_]+)"')
EVENT_ROW = re.compile(r"^\| `([a-z_]+\.[a-z_]+)` \|", re.MULTILINE)
LOCAL_LINK = re.compile(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)")


def docs_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(DOCS.glob("*.md")))


def commands_and_options() -> list[str]:
    """Return `mirrord COMMAND` for every command and every option string of the parser and its commands."""
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    found = [o for a in parser._actions for o in a.option_strings if o not in ("-h", "--help")]
    for name, sub in commands.items():
        found += [f"mirrord {name}"] + [o for a in sub._actions for o in a.option_strings if o not in ("-h", "--help")]
    return found


def logged_events() -> set[str]:
    """Return every event name the package logs (a conditional event name gives both)."""
    return {name for path in PACKAGE.glob("*.py") for call in LOG_CALL.findall(path.read_text(encoding="utf-8"))
            for name in EVENT_NAME.findall(call)}


def test_docs_name_every_command_and_option():
    text = docs_text()
    assert [item for item in commands_and_options() if item not in text] == []


def test_status_log_doc_explains_every_event_the_code_logs():
    documented = EVENT_ROW.findall((DOCS / "status-log.md").read_text(encoding="utf-8"))
    events = logged_events()
    assert len(events) > 20, "the event pattern no longer finds the log calls"
    assert sorted(events - set(documented)) == [], "events missing from docs/status-log.md"
    assert sorted(set(documented) - events) == [], "docs/status-log.md explains events the code never logs"


@pytest.mark.parametrize("page", sorted(p.name for p in [*DOCS.glob("*.md"), ROOT / "README.md"]))
def test_links_between_docs_lead_somewhere(page):
    path = DOCS / page if (DOCS / page).is_file() else ROOT / page
    for target in LOCAL_LINK.findall(path.read_text(encoding="utf-8")):
        assert (path.parent / target).is_file(), f"{page} links to missing {target}"
