"""The only module that touches SQLite: the ledger, HTTP validators, channel health and push state."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from mirrord.model import LedgerRow

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    mirror TEXT NOT NULL, channel TEXT NOT NULL, id TEXT NOT NULL,
    path TEXT NOT NULL, title TEXT NOT NULL, url TEXT NOT NULL, source TEXT NOT NULL,
    time TEXT NOT NULL, commit_sha TEXT, pruned INTEGER NOT NULL DEFAULT 0,
    UNIQUE (mirror, channel, id));
CREATE INDEX IF NOT EXISTS articles_by_url ON articles (mirror, url);
CREATE INDEX IF NOT EXISTS articles_by_path ON articles (mirror, path);
CREATE TABLE IF NOT EXISTS validators (
    url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT);
CREATE TABLE IF NOT EXISTS channels (
    source TEXT NOT NULL, channel TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT, last_attempt TEXT, last_success TEXT,
    PRIMARY KEY (source, channel));
CREATE TABLE IF NOT EXISTS remotes (
    mirror TEXT NOT NULL, remote TEXT NOT NULL, pushed_commit TEXT, last_error TEXT,
    last_attempt TEXT, last_success TEXT,
    PRIMARY KEY (mirror, remote));
"""
ROW_COLUMNS = "mirror, channel, id, path, title, url, source, time, commit_sha, pruned, seq"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def to_row(values: tuple) -> LedgerRow:
    mirror, channel, id_, path, title, url, source, time, commit, pruned, seq = values
    return LedgerRow(mirror, channel, id_, path, title, url, source, datetime.fromisoformat(time), commit,
                     bool(pruned), seq)


class State:
    """mirrord's memory between cycles, in `<state_dir>/state.sqlite3`."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def known_ids(self, mirror: str, channel: str) -> set[str]:
        """Return the ids ever published in a channel, pruned ones included: they never come back."""
        cursor = self.db.execute("SELECT id FROM articles WHERE mirror = ? AND channel = ?", (mirror, channel))
        return {id_ for (id_,) in cursor}

    def rows_by_url(self, mirror: str, urls: Iterable[str]) -> dict[str, LedgerRow]:
        """Return, for each url published in the mirror under any channel, its first ledger row."""
        found: dict[str, LedgerRow] = {}
        for url in set(urls):
            values = self.db.execute(f"SELECT {ROW_COLUMNS} FROM articles WHERE mirror = ? AND url = ? "
                                     "ORDER BY seq LIMIT 1", (mirror, url)).fetchone()
            if values:
                found[url] = to_row(values)
        return found

    def live_rows(self, mirror: str, channel: str) -> list[LedgerRow]:
        """Return the rows of a channel's pages still in the mirror, oldest first."""
        cursor = self.db.execute(f"SELECT {ROW_COLUMNS} FROM articles WHERE mirror = ? AND channel = ? "
                                 "AND pruned = 0 ORDER BY seq", (mirror, channel))
        return [to_row(values) for values in cursor]

    def live_paths_by_url(self, mirror: str) -> dict[str, str]:
        """Return url -> page path of every page in the mirror (for `links = "rewrite"`)."""
        cursor = self.db.execute("SELECT url, path FROM articles WHERE mirror = ? AND pruned = 0", (mirror,))
        return dict(cursor.fetchall())

    def path_in_use(self, mirror: str, path: str, ignoring: set[tuple[str, str]]) -> bool:
        """Tell whether a live row other than those in ignoring (channel, id) still shows path."""
        cursor = self.db.execute("SELECT channel, id FROM articles WHERE mirror = ? AND path = ? AND pruned = 0",
                                 (mirror, path))
        return any((channel, id_) not in ignoring for channel, id_ in cursor)

    def record_cycle(self, new: list[LedgerRow], pruned: list[LedgerRow], commit: str) -> None:
        """Record what one commit published and pruned, in one transaction."""
        with self.db:
            self.db.executemany(
                "INSERT OR IGNORE INTO articles (mirror, channel, id, path, title, url, source, time, commit_sha) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.mirror, r.channel, r.id, r.path, r.title, r.url, r.source, r.time.isoformat(), commit)
                 for r in new])
            self.db.executemany("UPDATE articles SET pruned = 1 WHERE mirror = ? AND channel = ? AND id = ?",
                                [(r.mirror, r.channel, r.id) for r in pruned])

    def has_rows(self, mirror: str) -> bool:
        return self.db.execute("SELECT 1 FROM articles WHERE mirror = ? LIMIT 1", (mirror,)).fetchone() is not None

    def restore(self, live: list[LedgerRow], pruned: list[LedgerRow]) -> None:
        """Put back rows rebuilt from the mirror itself (after the database was lost), oldest live first."""
        self.record_cycle(live + pruned, pruned, "")

    def validators(self, url: str) -> tuple[str | None, str | None]:
        found = self.db.execute("SELECT etag, last_modified FROM validators WHERE url = ?", (url,)).fetchone()
        return (found[0], found[1]) if found else (None, None)

    def save_validators(self, url: str, etag: str | None, last_modified: str | None) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO validators VALUES (?, ?, ?)", (url, etag, last_modified))

    def channel_succeeded(self, source: str, channel: str) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO channels (source, channel, failures, last_attempt, last_success) VALUES (?, ?, 0, ?, ?) "
                "ON CONFLICT DO UPDATE SET failures = 0, last_attempt = excluded.last_attempt, "
                "last_success = excluded.last_success", (source, channel, now(), now()))

    def channel_failed(self, source: str, channel: str, error: str) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO channels (source, channel, failures, last_error, last_attempt) VALUES (?, ?, 1, ?, ?) "
                "ON CONFLICT DO UPDATE SET failures = failures + 1, last_error = excluded.last_error, "
                "last_attempt = excluded.last_attempt", (source, channel, error, now()))

    def pushed_commit(self, mirror: str, remote: str) -> str | None:
        found = self.db.execute("SELECT pushed_commit FROM remotes WHERE mirror = ? AND remote = ?",
                                (mirror, remote)).fetchone()
        return found[0] if found else None

    def push_succeeded(self, mirror: str, remote: str, commit: str) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO remotes (mirror, remote, pushed_commit, last_attempt, last_success) "
                "VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT DO UPDATE SET pushed_commit = excluded.pushed_commit, last_error = NULL, "
                "last_attempt = excluded.last_attempt, last_success = excluded.last_success",
                (mirror, remote, commit, now(), now()))

    def push_failed(self, mirror: str, remote: str, error: str) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO remotes (mirror, remote, last_error, last_attempt) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO UPDATE SET last_error = excluded.last_error, last_attempt = excluded.last_attempt",
                (mirror, remote, error, now()))
