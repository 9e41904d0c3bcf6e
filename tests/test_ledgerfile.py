"""The mirror's own ledger file as tables: rows in, text out and back; two hosts' ledgers merged as sets.

Pure: no git, no SQLite.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from mirrord.ledgerfile import (
    HEADER,
    LedgerFormatError,
    channel_of,
    ledger_path,
    merge_rows,
    parse_ledger,
    render_ledger,
    updated_ledger,
)
from mirrord.model import LedgerRow

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
HORIZON = 180 * 86400


def row(name: str, ordinal: int, *, pruned_days_ago: int | None = None, time: datetime = NOW - 200 * DAY,
        title: str | None = None) -> LedgerRow:
    url = f"https://site.test/{name}.html"
    pruned_at = NOW - pruned_days_ago * DAY if pruned_days_ago is not None else None
    return LedgerRow("news", "world", name, f"pages/world/{name}.md", title or f"Story {name}", url, "daily", time,
                     None, pruned_at is not None, ordinal, f"//site.test/{name}.html", pruned_at)


def names(rows) -> list[str]:
    return [f"{r.id}{'-' if r.pruned else ''}" for r in rows]


def test_a_ledger_reads_back_as_the_rows_it_was_written_from_in_the_mirrors_order():
    rows = [row("b", 1, pruned_days_ago=3), row("a", 2), row("c", 3, title='Tabs\tand "quotes" and 中文\nlines')]
    text = render_ledger(rows).decode("utf-8")
    assert text.startswith(HEADER + "\n") and text.endswith("\n")
    lines = text.splitlines()[1:]
    assert lines == sorted(lines) and len(lines) == 3, "one line per article, sorted: concurrent additions merge"
    assert parse_ledger("news", "world", text) == rows


def test_two_hosts_ledgers_merge_as_a_set_a_pruned_row_stays_pruned_the_first_record_stays():
    ours = [row("a", 1), row("b", 2), row("mine", 3, time=NOW)]
    theirs = [row("a", 1), row("b", 2, pruned_days_ago=1), row("theirs", 3, time=NOW - DAY),
              replace(row("mine", 4, time=NOW + DAY), id="mine-again")]
    merged = merge_rows(ours + theirs)
    assert names(merged) == ["a", "b-", "theirs", "mine"], "ordinal, then time: the same order on every host"
    assert merge_rows(theirs + ours) == merged


def test_a_file_that_git_merged_keeping_both_sides_lines_reads_as_the_union():
    one, two = render_ledger([row("a", 1), row("b", 2)]), render_ledger([row("a", 1, pruned_days_ago=0), row("c", 3)])
    both = one.decode() + "\n".join(two.decode().splitlines()[1:])
    assert names(parse_ledger("news", "world", both)) == ["a-", "b", "c"]


def test_pruned_rows_expire_after_the_horizon_live_ones_never():
    rows = [row("old", 1, pruned_days_ago=181), row("recent", 2, pruned_days_ago=179), row("live", 3)]
    assert names(updated_ledger(rows, [], [], NOW, HORIZON)) == ["recent-", "live"]


def test_a_commit_adds_its_rows_and_marks_its_pruned_ones_with_the_time():
    new = row("new", 3, time=NOW)
    updated = updated_ledger([row("a", 1), row("b", 2)], [new], [row("a", 1)], NOW, HORIZON)
    assert names(updated) == ["a-", "b", "new"] and updated[0].pruned_at == NOW


def test_a_ledger_of_a_newer_format_or_a_broken_line_is_refused_with_what_to_do():
    with pytest.raises(LedgerFormatError, match="upgrade mirrord"):
        parse_ledger("news", "world", "# mirrord ledger v2: something new\n")
    with pytest.raises(LedgerFormatError, match="line 2 of .mirrord/ledger/world.jsonl"):
        parse_ledger("news", "world", f"{HEADER}\n{{not json\n")


def test_ledger_files_are_told_from_other_files():
    assert channel_of(ledger_path("world")) == "world"
    assert channel_of(".mirrord/ledger/README.md") is None and channel_of("pages/world/a.jsonl") is None


def test_a_row_is_one_line_whatever_characters_its_url_and_title_hold():
    odd = replace(row("odd", 1), url="https://site.test/a\u2028b\x85c.html", title="line\u2029break\r\nand more")
    text = render_ledger([odd]).decode("utf-8")
    assert len(text.splitlines()) == 2, "the header and one row, also for readers that split at U+2028"
    assert parse_ledger("news", "world", text) == [odd]
