"""The state database as the daemon uses it: several threads, real SQLite files."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from datetime import datetime, timezone

from mirrord.model import LedgerRow
from mirrord.state import State


def test_threads_opening_a_new_database_at_once_all_succeed(tmp_path):
    """The daemon's first jobs and its main thread open a database that does not exist yet together."""
    errors: list[str] = []

    def open_and_write(path):
        try:
            state = State(path)
            state.channel_succeeded("source", "channel")
            state.close()
        except Exception as error:  # the test reports every failure, whatever it is
            errors.append(repr(error))

    for round_ in range(100):
        path = tmp_path / str(round_) / "state.sqlite3"
        threads = [threading.Thread(target=open_and_write, args=(path,)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


def test_a_database_made_by_the_previous_release_opens_and_keeps_its_rows(tmp_path):
    """The release before retry.py had no `transient` column for channels and kept `next_attempt` for remotes."""
    path = tmp_path / "state.sqlite3"
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript("""
            CREATE TABLE channels (source TEXT NOT NULL, channel TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0,
                last_error TEXT, last_attempt TEXT, last_success TEXT, PRIMARY KEY (source, channel));
            CREATE TABLE remotes (mirror TEXT NOT NULL, remote TEXT NOT NULL, pushed_commit TEXT, last_error TEXT,
                last_attempt TEXT, last_success TEXT, failures INTEGER NOT NULL DEFAULT 0,
                unpushed INTEGER NOT NULL DEFAULT 0, next_attempt TEXT, PRIMARY KEY (mirror, remote));
            INSERT INTO channels VALUES ('site', 'gone', 4, 'timed out', '2026-11-01T00:00:00+00:00', NULL);
            INSERT INTO remotes VALUES ('news', 'r', NULL, 'refused', '2026-11-01T00:00:00+00:00', NULL, 2, 3,
                '2026-11-01T00:02:00+00:00');""")
    state = State(path)
    health = state.channel_health("site", "gone")
    assert (health.failures, health.last_error, health.transient) == (4, "timed out", True)
    state.push_failed("news", "r", "refused again", 4)
    assert state.remote_health("news", "r").failures == 3
    state.close()


def test_ledger_rows_are_the_live_ones_and_the_pruned_ones_asked_for_by_identity_or_name_oldest_first(tmp_path):
    when = datetime(2026, 11, 1, tzinfo=timezone.utc)
    rows = [LedgerRow(mirror, "world", name, f"pages/world/{name}.md", name, f"http://a/{name}", "daily", when,
                      key=f"key-{name}") for mirror, name in (("news", "live"), ("news", "by-key"), ("news", "by-name"),
                                                               ("news", "forgotten"), ("other", "elsewhere"))]
    state = State(tmp_path / "state.sqlite3")
    try:
        state.record_cycle(rows, rows[1:4], "c0ffee")
        found = state.ledger_rows("news", ["key-by-key", "key-elsewhere"], [("world", "by-name")])
        assert [(row.id, row.pruned) for row in found] == [("live", False), ("by-key", True), ("by-name", True)]
        assert [row.id for row in state.ledger_rows("news", [], [])] == ["live"]
    finally:
        state.close()


def test_live_rows_of_some_channels_and_whether_a_channel_is_past_keep_without_reading_the_others(tmp_path):
    when = datetime(2026, 11, 1, tzinfo=timezone.utc)
    rows = [LedgerRow(mirror, channel, name, f"pages/{channel}/{name}.md", name, f"http://a/{channel}/{name}", "daily",
                      when, key=f"{channel}-{name}")
            for mirror, channel, name in (("news", "world", "b"), ("news", "world", "a"), ("news", "local", "c"),
                                          ("news", "world", "gone"), ("news", "sport", "d"), ("other", "world", "e"),
                                          ("other", "world", "f"), ("other", "world", "g"))]
    state = State(tmp_path / "state.sqlite3")
    try:
        state.record_cycle(rows, [rows[3]], "c0ffee")
        assert [(row.channel, row.id) for row in state.live_rows("news", ["world", "local"])] == [
            ("world", "b"), ("world", "a"), ("local", "c")]
        assert state.live_rows("news", []) == []
        assert [state.past_keep("news", keep) for keep in (0, 1, 2)] == [False, True, False]
        assert [state.past_keep("other", keep) for keep in (2, 3)] == [True, False]
    finally:
        state.close()
