"""The mirror's own ledger, kept in its tree under `.mirrord/ledger/`: pure functions between rows and text.

One file per channel, `<channel>.jsonl`: a header line with the format's version, then one JSON object per
article, sorted by identity, so that two hosts adding articles at once touch different lines and their
ledgers merge as sets (`merge_rows`). It is written in the same commit as the pages it describes, so that
a fresh state_dir continues the mirror from any commit: nothing published twice, nothing lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from mirrord.errors import PublishError
from mirrord.model import LedgerRow

LEDGER_DIR = ".mirrord/ledger"
VERSION = 1
HEADER = f"# mirrord ledger v{VERSION}: one article per line, sorted by key; see docs/publishing.md"
SUFFIX = ".jsonl"
# Characters that readers of lines (Python's splitlines() among them) take for line breaks, and JSON leaves raw.
LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


class LedgerFormatError(PublishError):
    """A ledger file this release cannot read (a newer format, or a line that is not a row)."""


def ledger_path(channel: str) -> str:
    return f"{LEDGER_DIR}/{channel}{SUFFIX}"


def channel_of(path: str) -> str | None:
    """Return the channel a ledger file is of, None for another file."""
    name = path.removeprefix(f"{LEDGER_DIR}/")
    return name.removesuffix(SUFFIX) if name != path and name.endswith(SUFFIX) and "/" not in name else None


def row_line(row: LedgerRow) -> str:
    """Return a row as one line: identity first (the sort order), then what continuing the mirror needs."""
    values = {"key": row.key, "id": row.id, "path": row.path, "url": row.url, "title": row.title,
              "source": row.source, "n": row.seq, "published": row.time.isoformat()}
    if row.pruned:
        values["pruned"] = (row.pruned_at or row.time).isoformat()
    line = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return line.translate(LINE_BREAKS)


def render_ledger(rows: Iterable[LedgerRow]) -> bytes:
    """Return a channel's ledger file: the header and one sorted line per row."""
    lines = sorted({row_line(row) for row in rows})
    return "\n".join([HEADER, *lines, ""]).encode("utf-8")


def parse_ledger(mirror: str, channel: str, text: str) -> list[LedgerRow]:
    """Return the rows of a channel's ledger file; a line twice (a merge that kept both sides) counts once.
    Raise LedgerFormatError for a file of a newer format or a line that is not a row."""
    rows = []
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith("#"):
            check_version(line)
        elif line.strip():
            rows.append(parse_line(mirror, channel, line, number))
    return merge_rows(rows)


def check_version(line: str) -> None:
    if line.startswith("# mirrord ledger v") and not line.startswith(f"# mirrord ledger v{VERSION}:"):
        raise LedgerFormatError(f"the mirror's ledger has a newer format ({line.split(':')[0][2:]}): upgrade mirrord")


def parse_line(mirror: str, channel: str, line: str, number: int) -> LedgerRow:
    try:
        values = json.loads(line)
        pruned = values.get("pruned")
        return LedgerRow(mirror, channel, values["id"], values["path"], values["title"], values["url"],
                         values["source"], datetime.fromisoformat(values["published"]), None, pruned is not None,
                         int(values["n"]), values["key"], datetime.fromisoformat(pruned) if pruned else None)
    except (ValueError, KeyError, TypeError) as error:
        raise LedgerFormatError(f"line {number} of {ledger_path(channel)} is not a ledger row ({error}): restore "
                                "the file from the mirror's history") from None


def row_identity(row: LedgerRow) -> tuple[str, str]:
    return row.channel, row.key or f"path:{row.path}"


def merge_rows(rows: Iterable[LedgerRow]) -> list[LedgerRow]:
    """Return the rows as a set, one per (channel, article), in the mirror's order: where two hosts recorded
    one article, the first record stays, and pruned by either is pruned (at the earlier time)."""
    merged: dict[tuple[str, str], LedgerRow] = {}
    for row in rows:
        known = merged.get(row_identity(row))
        merged[row_identity(row)] = row if known is None else merge_two(known, row)
    return sorted(merged.values(), key=order)


def merge_two(one: LedgerRow, other: LedgerRow) -> LedgerRow:
    first, second = sorted((one, other), key=order)
    times = [r.pruned_at or r.time for r in (one, other) if r.pruned]
    return replace(first, pruned=bool(times), pruned_at=min(times) if times else None)


def order(row: LedgerRow) -> tuple:
    """The mirror's order of rows, the same on every host (two hosts may give one ordinal twice)."""
    return row.seq, row.time, row.channel, row.key, row.id


def unexpired(rows: Iterable[LedgerRow], now: datetime, horizon_seconds: int) -> list[LedgerRow]:
    """Return the rows without the pruned ones pruned longer ago than the horizon."""
    oldest = now - timedelta(seconds=horizon_seconds)
    return [row for row in rows if not row.pruned or (row.pruned_at or row.time) >= oldest]


def updated_ledger(rows: list[LedgerRow], new: list[LedgerRow], pruned: list[LedgerRow], now: datetime,
                   horizon_seconds: int) -> list[LedgerRow]:
    """Return a ledger's rows after a commit that adds `new` and prunes `pruned`, without the expired ones."""
    gone = {(r.channel, r.id) for r in pruned}
    marked = [replace(r, pruned=True, pruned_at=r.pruned_at or now) if (r.channel, r.id) in gone else r
              for r in [*rows, *new]]
    return unexpired(merge_rows(marked), now, horizon_seconds)
