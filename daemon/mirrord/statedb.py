"""The state database's shape: its schema, the upgrade of databases older releases made, opening one for
reading only, and the conversions between rows and values. Used by `state` alone."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from mirrord.identity import identity
from mirrord.model import HeldBackRecord, LedgerRow

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    mirror TEXT NOT NULL, channel TEXT NOT NULL, id TEXT NOT NULL,
    path TEXT NOT NULL, title TEXT NOT NULL, url TEXT NOT NULL, source TEXT NOT NULL,
    time TEXT NOT NULL, commit_sha TEXT, pruned INTEGER NOT NULL DEFAULT 0, key TEXT NOT NULL DEFAULT '',
    ordinal INTEGER NOT NULL DEFAULT 0, pruned_at TEXT, UNIQUE (mirror, channel, id));
CREATE INDEX IF NOT EXISTS articles_by_url ON articles (mirror, url);
CREATE INDEX IF NOT EXISTS articles_by_path ON articles (mirror, path);
CREATE INDEX IF NOT EXISTS articles_live ON articles (mirror) WHERE pruned = 0;
-- A cycle that finds nothing new counts each channel's live rows and reads those of its own channels alone.
CREATE INDEX IF NOT EXISTS articles_live_by_channel ON articles (mirror, channel) WHERE pruned = 0;
-- `status` asks each source's publishing times: without it, two reads of every article per source.
CREATE INDEX IF NOT EXISTS articles_by_source ON articles (source, time);
CREATE TABLE IF NOT EXISTS channel_validators (
    mirror TEXT NOT NULL, channel TEXT NOT NULL, url TEXT NOT NULL, etag TEXT, last_modified TEXT,
    PRIMARY KEY (mirror, channel));
CREATE TABLE IF NOT EXISTS sources (
    source TEXT PRIMARY KEY, mirror TEXT NOT NULL, last_cycle TEXT, duration_ms INTEGER,
    published INTEGER NOT NULL DEFAULT 0, error TEXT, failures INTEGER NOT NULL DEFAULT 0, next_run TEXT,
    fetched INTEGER NOT NULL DEFAULT 0, held_back INTEGER NOT NULL DEFAULT 0,
    broken_cycles INTEGER NOT NULL DEFAULT 0, held_back_reason TEXT, failure TEXT);
CREATE TABLE IF NOT EXISTS channels (
    source TEXT NOT NULL, channel TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT, last_attempt TEXT, last_success TEXT, transient INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (source, channel));
CREATE TABLE IF NOT EXISTS remotes (
    mirror TEXT NOT NULL, remote TEXT NOT NULL, pushed_commit TEXT, last_error TEXT,
    last_attempt TEXT, last_success TEXT, failures INTEGER NOT NULL DEFAULT 0, unpushed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (mirror, remote));
CREATE TABLE IF NOT EXISTS mirrors (
    mirror TEXT PRIMARY KEY, head TEXT, commits INTEGER, size_bytes INTEGER, updated TEXT);
CREATE TABLE IF NOT EXISTS held_back (
    mirror TEXT NOT NULL, channel TEXT NOT NULL, key TEXT NOT NULL, source TEXT NOT NULL, url TEXT NOT NULL,
    reason TEXT NOT NULL, attempts INTEGER NOT NULL, first_attempt TEXT NOT NULL, last_attempt TEXT NOT NULL,
    gave_up INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (mirror, channel, key));
CREATE TABLE IF NOT EXISTS ledgers (mirror TEXT PRIMARY KEY, tree TEXT NOT NULL, head TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS pending (
    mirror TEXT PRIMARY KEY, base TEXT NOT NULL, new_rows TEXT NOT NULL, pruned_rows TEXT NOT NULL);
"""
ROW_COLUMNS = "mirror, channel, id, path, title, url, source, time, commit_sha, pruned, ordinal, key, pruned_at"
# The order of a mirror's rows, the same on every host: the ordinal the mirror's ledger gives each row (two
# hosts publishing at once may give one ordinal twice), then the time and identity.
ROW_ORDER = "ordinal, time, channel, key"
HELD_BACK_COLUMNS = "mirror, channel, key, source, url, reason, attempts, first_attempt, last_attempt, gave_up"
# Indexes on columns that older databases gain on open (ADDED_COLUMNS), so made after them. The partial ones
# hold only the rows `upgrade` looks for (an older release sharing the database may still write such rows),
# so that opening the state does not read every article.
LATE_INDEXES = """CREATE INDEX IF NOT EXISTS articles_by_key ON articles (mirror, key);
CREATE INDEX IF NOT EXISTS articles_unkeyed ON articles (seq) WHERE key = '';
CREATE INDEX IF NOT EXISTS articles_unnumbered ON articles (seq) WHERE ordinal = 0;
CREATE INDEX IF NOT EXISTS articles_pruned_undated ON articles (seq) WHERE pruned = 1 AND pruned_at IS NULL;"""


WAL_ATTEMPTS = 100
# Columns added after the first release: (table, column, definition), added to older databases on open.
ADDED_COLUMNS = (("channels", "transient", "INTEGER NOT NULL DEFAULT 1"),
                 ("articles", "key", "TEXT NOT NULL DEFAULT ''"),
                 ("sources", "fetched", "INTEGER NOT NULL DEFAULT 0"),
                 ("sources", "held_back", "INTEGER NOT NULL DEFAULT 0"),
                 ("sources", "broken_cycles", "INTEGER NOT NULL DEFAULT 0"),
                 ("sources", "held_back_reason", "TEXT"),
                 ("sources", "failure", "TEXT"),
                 ("articles", "ordinal", "INTEGER NOT NULL DEFAULT 0"),
                 ("articles", "pruned_at", "TEXT"))


def use_wal(db: sqlite3.Connection) -> None:
    """Switch to write-ahead logging, so that `status` reads while a cycle writes. SQLite does not wait on
    its busy timeout for this switch, and two threads of the daemon may open a new database at once: retry."""
    for attempt in range(WAL_ATTEMPTS):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if attempt == WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.05)


def upgrade(db: sqlite3.Connection) -> None:
    """Bring a database made by an older release up to the current schema, keeping its rows: add the
    new columns, and give the articles it published their identity, taken from their URL."""
    with db:
        for table, column, definition in ADDED_COLUMNS:
            if column not in {info[1] for info in db.execute(f"PRAGMA table_info({table})")}:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
        db.executescript(LATE_INDEXES)
        unkeyed = db.execute("SELECT seq, url FROM articles WHERE key = '' AND url != ''").fetchall()
        db.executemany("UPDATE articles SET key = ? WHERE seq = ?", [(identity(url), seq) for seq, url in unkeyed])
        db.execute("UPDATE articles SET ordinal = seq WHERE ordinal = 0")
        db.execute("UPDATE articles SET pruned_at = ? WHERE pruned = 1 AND pruned_at IS NULL", (now(),))


def open_readonly(path: Path) -> sqlite3.Connection:
    """Open an existing database for reading, creating nothing: no folder, no database, and no -wal or -shm
    file when no writer has it open (a root `mirrord status` would leave them owned by root, and the
    service could no longer write). Raise sqlite3.OperationalError when there is no database at path."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    in_use = Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
    return sqlite3.connect(uri if in_use else f"{uri}&immutable=1", uri=True, timeout=30)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def row_to_json(row: LedgerRow) -> dict:
    return {**row.__dict__, "time": row.time.isoformat(), "pruned_at": iso_or_none(row.pruned_at)}


def row_from_json(values: dict) -> LedgerRow:
    """Return a row set aside by `begin_cycle`, also by a release whose rows had no key."""
    row = LedgerRow(**{**values, "time": datetime.fromisoformat(values["time"]),
                       "pruned_at": parse_time(values.get("pruned_at"))})
    return row if row.key or not row.url else replace(row, key=identity(row.url))


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def iso_or_none(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def to_row(values: tuple) -> LedgerRow:
    """Return a row of the articles table as a value; its seq is the row's ordinal in the mirror's ledger."""
    mirror, channel, id_, path, title, url, source, time, commit, pruned, ordinal, key, pruned_at = values
    return LedgerRow(mirror, channel, id_, path, title, url, source, datetime.fromisoformat(time), commit,
                     bool(pruned), ordinal, key, parse_time(pruned_at))


def to_held_back(values: tuple) -> HeldBackRecord:
    mirror, channel, key, source, url, reason, attempts, first, last, gave_up = values
    return HeldBackRecord(mirror, channel, key, source, url, reason, attempts, datetime.fromisoformat(first),
                          datetime.fromisoformat(last), bool(gave_up))
