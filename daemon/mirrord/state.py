"""The only module that touches SQLite: the ledger, HTTP validators, channel health and push state.

The database's shape (schema, upgrades of older databases, row conversions) is in `statedb`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from mirrord.model import Failure, Health, HeldBackRecord, LedgerRow, SourceRecord, SourceResult
from mirrord.statedb import (
    HELD_BACK_COLUMNS,
    ROW_COLUMNS,
    ROW_ORDER,
    SCHEMA,
    now,
    open_readonly,
    parse_time,
    row_from_json,
    row_to_json,
    to_held_back,
    to_row,
    upgrade,
    use_wal,
)


class State:
    """mirrord's memory between cycles, in `<state_dir>/state.sqlite3`."""

    def __init__(self, path: Path, *, copy: bool = False, readonly: bool = False, cache_kib: int | None = None):
        """Open the state at path; with copy, an in-memory copy of it instead (empty when there is none),
        for dry runs, which may read mirrord's memory but must not change it; with readonly, the database
        itself for reading only (see open_readonly). cache_kib caps the pages kept in memory (SQLite's
        default is 2 MB), for a process that holds many connections open."""
        self.joined = False  # inside together(): writes join its transaction
        if readonly:
            self.db = open_readonly(path)
            return
        if copy:
            self.db = sqlite3.connect(":memory:")
            if path.is_file():
                with closing(open_readonly(path)) as disk:
                    disk.backup(self.db)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Not checked for the thread: the daemon keeps one State per thread and closes them all at its stop.
            self.db = sqlite3.connect(path, timeout=30, check_same_thread=False)
            use_wal(self.db)
        if cache_kib is not None:
            self.db.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
        self.db.executescript(SCHEMA)
        upgrade(self.db)

    def close(self) -> None:
        self.db.close()

    def writing(self) -> AbstractContextManager:
        """The transaction of one write: its own, committed at once, or the enclosing `together()`'s."""
        return nullcontext() if self.joined else self.db

    @contextmanager
    def together(self) -> Iterator[None]:
        """Make the writes inside one transaction, committed (and synced to disk) once at the end, rolled back
        if what is inside raises: the daemon records each cycle's outcome and the source's next run so, as one
        sync costs more CPU than the rest of recording a quiet cycle. Inside another, it is part of that one."""
        if self.joined:
            yield
            return
        self.joined = True
        try:
            with self.db:
                yield
        finally:
            self.joined = False

    def ledger_rows(self, mirror: str, keys: Iterable[str], names: Iterable[tuple[str, str]]) -> list[LedgerRow]:
        """Return, oldest first, every live row of a mirror and every row (pruned ones too) whose article
        identity is one of keys or whose (channel, id) is one of names: all that planning a cycle needs."""
        cursor = self.db.execute(  # a union, each part on its index: the pruned rows pile up, and must not be read
            f"SELECT {ROW_COLUMNS} FROM articles WHERE seq IN ("
            "SELECT seq FROM articles WHERE mirror = ?1 AND pruned = 0 "
            "UNION SELECT seq FROM articles WHERE mirror = ?1 AND key IN (SELECT value FROM json_each(?2)) "
            "UNION SELECT seq FROM articles WHERE mirror = ?1 AND (channel, id) IN "
            "(SELECT value ->> 0, value ->> 1 FROM json_each(?3))) "
            f"ORDER BY {ROW_ORDER}",
            (mirror, json.dumps(sorted(set(keys))), json.dumps(sorted(set(names)))))
        return [to_row(values) for values in cursor]

    def live_rows(self, mirror: str, channels: Iterable[str]) -> list[LedgerRow]:
        """Return, oldest first, the live rows of a mirror's named channels."""
        return [to_row(values) for values in self.live_values(mirror, channels)]

    def live_digests(self, mirror: str, channels: Iterable[str]) -> dict[str, int]:
        """Return, for each named channel, a hash of its live rows as stored, which changes when any of them
        does: a quiet cycle tells by it that an index shows the rows it showed, without making the rows."""
        grouped: dict[str, list[tuple]] = {channel: [] for channel in set(channels)}
        for values in self.live_values(mirror, grouped):
            grouped[values[1]].append(values)
        return {channel: hash(tuple(rows)) for channel, rows in grouped.items()}

    def live_values(self, mirror: str, channels: Iterable[str]) -> sqlite3.Cursor:
        """The stored live rows of a mirror's named channels, oldest first."""
        return self.db.execute(f"SELECT {ROW_COLUMNS} FROM articles WHERE mirror = ? AND pruned = 0 AND channel IN "
                               f"(SELECT value FROM json_each(?)) ORDER BY {ROW_ORDER}",
                               (mirror, json.dumps(sorted(set(channels)))))

    def past_keep(self, mirror: str, keep: int) -> bool:
        """Tell whether a channel of the mirror has more than `keep` live rows (never, with keep 0): counted by
        SQLite, without reading the rows."""
        return bool(keep) and self.db.execute(
            "SELECT 1 FROM articles WHERE mirror = ? AND pruned = 0 GROUP BY channel HAVING COUNT(*) > ? LIMIT 1",
            (mirror, keep)).fetchone() is not None

    def record_cycle(self, new: list[LedgerRow], pruned: list[LedgerRow], commit: str) -> None:
        """Record what one commit published and pruned, in one transaction."""
        with self.writing():
            self.record_rows(new, pruned, commit)

    def all_rows(self, mirror: str) -> list[LedgerRow]:
        """Return every row of a mirror, pruned ones too, in the mirror's order."""
        cursor = self.db.execute(f"SELECT {ROW_COLUMNS} FROM articles WHERE mirror = ? ORDER BY {ROW_ORDER}",
                                 (mirror,))
        return [to_row(values) for values in cursor]

    def top_ordinal(self, mirror: str) -> int:
        """Return the highest ordinal a row of the mirror has (0 when none): new rows are numbered after it."""
        return self.db.execute("SELECT COALESCE(MAX(ordinal), 0) FROM articles WHERE mirror = ?",
                               (mirror,)).fetchone()[0]

    def record_rows(self, new: list[LedgerRow], pruned: list[LedgerRow], commit: str) -> None:
        """Insert the new rows (numbered after the others when they have no ordinal yet) and mark the pruned."""
        self.db.executemany(
            "INSERT OR IGNORE INTO articles (mirror, channel, id, path, title, url, source, time, commit_sha, key, "
            "ordinal) VALUES (?1, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "COALESCE(NULLIF(?, 0), (SELECT COALESCE(MAX(ordinal), 0) + 1 FROM articles WHERE mirror = ?1)))",
            [(r.mirror, r.channel, r.id, r.path, r.title, r.url, r.source, r.time.isoformat(), commit, r.key, r.seq)
             for r in new])
        self.db.executemany("UPDATE articles SET pruned = 1, pruned_at = COALESCE(pruned_at, ?) "
                            "WHERE mirror = ? AND channel = ? AND id = ?",
                            [((r.pruned_at or r.time).isoformat(), r.mirror, r.channel, r.id) for r in pruned])

    def take_ledger(self, rows: list[LedgerRow]) -> None:
        """Take in the rows of the mirror's own ledger (this host's cache of it): rows it lacks are added, the
        others take the ledger's values, and a pruned row stays pruned."""
        with self.writing():
            self.db.executemany(
                "INSERT INTO articles (mirror, channel, id, path, title, url, source, time, commit_sha, key, ordinal, "
                "pruned, pruned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "path = excluded.path, title = excluded.title, url = excluded.url, source = excluded.source, "
                "time = excluded.time, key = excluded.key, ordinal = excluded.ordinal, "
                "pruned = MAX(pruned, excluded.pruned), pruned_at = COALESCE(pruned_at, excluded.pruned_at)",
                [(r.mirror, r.channel, r.id, r.path, r.title, r.url, r.source, r.time.isoformat(), r.key, r.seq,
                  int(r.pruned), r.pruned_at.isoformat() if r.pruned_at else None) for r in rows])

    def ledger_tree(self, mirror: str) -> tuple[str, str] | None:
        """Return (tree, commit): the git tree of the mirror's ledger this cache last took in or wrote ("" for a
        mirror without one) and the commit that has it (None: never)."""
        found = self.db.execute("SELECT tree, head FROM ledgers WHERE mirror = ?", (mirror,)).fetchone()
        return (found[0], found[1]) if found else None

    def note_ledger_tree(self, mirror: str, tree: str | None, head: str | None) -> None:
        with self.writing():
            self.db.execute("INSERT OR REPLACE INTO ledgers (mirror, tree, head) VALUES (?, ?, ?)",
                            (mirror, tree or "", head or ""))

    def begin_cycle(self, mirror: str, base: str | None, new: list[LedgerRow], pruned: list[LedgerRow]) -> None:
        """Remember what a commit about to be made records, so that a crash between the commit and
        `finish_cycle` is settled by `settle_cycle`: recorded if the commit exists, forgotten if not."""
        with self.writing():
            self.db.execute("INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?)",
                            (mirror, base or "", json.dumps([row_to_json(r) for r in new]),
                             json.dumps([row_to_json(r) for r in pruned])))

    def finish_cycle(self, mirror: str, commit: str | None) -> None:
        """Record the pending rows as published by commit, in one transaction with clearing them."""
        found = self.db.execute("SELECT new_rows, pruned_rows FROM pending WHERE mirror = ?", (mirror,)).fetchone()
        if found is None:
            return
        new, pruned = ([row_from_json(v) for v in json.loads(text)] for text in found)
        with self.writing():
            self.record_rows(new, pruned, commit or "")
            self.db.execute("DELETE FROM pending WHERE mirror = ?", (mirror,))

    def cycle_pending(self, mirror: str) -> bool:
        """Tell whether a crash left a cycle of the mirror to settle (see settle_cycle)."""
        return self.db.execute("SELECT 1 FROM pending WHERE mirror = ?", (mirror,)).fetchone() is not None

    def settle_cycle(self, mirror: str, head: str | None) -> bool | None:
        """Settle a cycle a crash interrupted: True if its commit was made (rows recorded), False if not
        (rows forgotten, the articles are fetched again), None if no cycle was pending."""
        found = self.db.execute("SELECT base FROM pending WHERE mirror = ?", (mirror,)).fetchone()
        if found is None:
            return None
        committed = (head or "") != found[0]
        if committed:
            self.finish_cycle(mirror, head)
        else:
            with self.writing():
                self.db.execute("DELETE FROM pending WHERE mirror = ?", (mirror,))
        return committed

    def knows_mirror(self, mirror: str) -> bool:
        """Tell whether this database has ever run a cycle of the mirror: when not, and the mirror has
        commits, the database was lost (or the mirror made elsewhere) and its ledger must be rebuilt."""
        return any(self.db.execute(f"SELECT 1 FROM {table} WHERE mirror = ? LIMIT 1", (mirror,)).fetchone()
                   for table in ("articles", "mirrors"))

    def has_articles(self, mirror: str) -> bool:
        """Tell whether the ledger has any row of the mirror, pruned ones too."""
        return self.db.execute("SELECT 1 FROM articles WHERE mirror = ? LIMIT 1", (mirror,)).fetchone() is not None

    def keyless_paths(self, mirror: str) -> set[str]:
        """Return the page paths of pruned rows known by path alone (a ledger an older release rebuilt)."""
        cursor = self.db.execute("SELECT path FROM articles WHERE mirror = ? AND key = ''", (mirror,))
        return {path for (path,) in cursor}

    def restore_identities(self, rows: list[LedgerRow]) -> None:
        """Give rows known by path alone the identity, url and title of the rows rebuilt from history for the
        same page; rows[*].key is never empty, so this is done once."""
        with self.writing():
            self.db.executemany("UPDATE articles SET key = ?, url = ?, title = ? WHERE mirror = ? AND path = ? "
                                "AND key = ''", [(r.key, r.url, r.title, r.mirror, r.path) for r in rows])

    def note_mirror(self, mirror: str) -> None:
        """Remember that this database runs the mirror, even before it publishes anything."""
        with self.writing():
            self.db.execute("INSERT OR IGNORE INTO mirrors (mirror, updated) VALUES (?, ?)", (mirror, now()))

    def restore(self, live: list[LedgerRow], pruned: list[LedgerRow]) -> None:
        """Put back rows rebuilt from the mirror itself (after the database was lost), oldest live first."""
        self.record_cycle(live + pruned, pruned, "")

    def validators(self, mirror: str, channel: str, url: str) -> tuple[str | None, str | None]:
        """Return the ETag and Last-Modified that this mirror's channel last read at url. They belong to
        the (mirror, channel) that polled: another mirror polling the same URL has seen none of it."""
        found = self.db.execute("SELECT etag, last_modified FROM channel_validators WHERE mirror = ? AND "
                                "channel = ? AND url = ?", (mirror, channel, url)).fetchone()
        return (found[0], found[1]) if found else (None, None)

    def save_validators(self, mirror: str, channel: str, url: str, etag: str | None,
                        last_modified: str | None) -> None:
        """Remember a channel's validators; the same ones again (after a 304) write nothing."""
        with self.writing():
            self.db.execute("INSERT INTO channel_validators VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                            "url = excluded.url, etag = excluded.etag, last_modified = excluded.last_modified "
                            "WHERE (url, etag, last_modified) IS NOT (excluded.url, excluded.etag, "
                            "excluded.last_modified)", (mirror, channel, url, etag, last_modified))

    def channel_succeeded(self, source: str, channel: str) -> None:
        """Clear a channel's failures. A channel that had none writes nothing: its last attempt matters only
        while it fails (see retry.channel_retry_at), and a write per poll of a thousand sources does."""
        with self.writing():
            self.db.execute(
                "INSERT INTO channels (source, channel, failures, last_attempt, last_success) VALUES (?, ?, 0, ?, ?) "
                "ON CONFLICT DO UPDATE SET failures = 0, last_attempt = excluded.last_attempt, "
                "last_success = excluded.last_success WHERE failures != 0", (source, channel, now(), now()))

    def channel_failed(self, source: str, channel: str, error: str, transient: bool) -> None:
        with self.writing():
            self.db.execute(
                "INSERT INTO channels (source, channel, failures, last_error, last_attempt, transient) "
                "VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT DO UPDATE SET failures = failures + 1, "
                "last_error = excluded.last_error, last_attempt = excluded.last_attempt, "
                "transient = excluded.transient", (source, channel, error, now(), int(transient)))

    def channel_health(self, source: str, channel: str) -> Health:
        """Return the failures in a row of a channel, its last error and attempt, and whether it may pass."""
        found = self.db.execute("SELECT failures, last_error, last_attempt, transient FROM channels "
                                "WHERE source = ? AND channel = ?", (source, channel)).fetchone()
        if not found:
            return Health()
        return Health(found[0], found[1] or "", parse_time(found[2]), bool(found[3]))

    def source_cycle_done(self, mirror: str, result: SourceResult, started: datetime, duration_ms: int,
                          broken_cycles: int = 0) -> None:
        """Record a source's cycle; its failures count up while cycles fail and go back to 0 on a clean one.
        The fetched and held-back counts and the held-back reason are those of the last cycle that fetched
        any article, so that a cycle with nothing new does not wipe out why a source is broken."""
        error = result.failed[0].line() if result.failed else None
        failure = json.dumps(asdict(result.failed[0])) if result.failed else None
        reason = result.held_back[0][1] if result.held_back else None
        with self.writing():
            self.db.execute(
                "INSERT INTO sources (source, mirror, last_cycle, duration_ms, published, error, failures, fetched, "
                "held_back, broken_cycles, held_back_reason, failure) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO UPDATE SET mirror = excluded.mirror, "
                "last_cycle = excluded.last_cycle, duration_ms = excluded.duration_ms, "
                "published = excluded.published, error = excluded.error, failure = excluded.failure, "
                "failures = CASE WHEN excluded.error IS NULL THEN 0 ELSE failures + 1 END, "
                "fetched = CASE WHEN excluded.fetched > 0 THEN excluded.fetched ELSE fetched END, "
                "held_back = CASE WHEN excluded.fetched > 0 THEN excluded.held_back ELSE held_back END, "
                "broken_cycles = excluded.broken_cycles, "
                "held_back_reason = CASE WHEN excluded.held_back_reason IS NOT NULL THEN excluded.held_back_reason "
                "WHEN excluded.broken_cycles > 0 THEN held_back_reason END",
                (result.source, mirror, started.isoformat(timespec="seconds"), duration_ms, len(result.published),
                 error, 1 if error else 0, result.fetched, len(result.held_back), broken_cycles, reason, failure))

    def broken_cycles(self, source: str) -> int:
        """Return how many cycles in a row the source held back every article it fetched."""
        found = self.db.execute("SELECT broken_cycles FROM sources WHERE source = ?", (source,)).fetchone()
        return found[0] if found else 0

    def source_scheduled(self, source: str, mirror: str, next_run: datetime | None) -> None:
        """Remember when the daemon runs a source next, for `mirrord status` in another process."""
        when = next_run.astimezone(timezone.utc).isoformat(timespec="seconds") if next_run else None
        with self.writing():
            self.db.execute("INSERT INTO sources (source, mirror, next_run) VALUES (?, ?, ?) "
                            "ON CONFLICT DO UPDATE SET mirror = excluded.mirror, next_run = excluded.next_run",
                            (source, mirror, when))

    def source_records(self, source: str | None = None) -> dict[str, SourceRecord]:
        """Return what the state remembers of each source (of that one source when named); a database of an
        older release, read by `status` without being upgraded, has no broken counts yet: they read as none."""
        present = {info[1] for info in self.db.execute("PRAGMA table_info(sources)")}
        added = ", ".join(column if column in present else "NULL" if column in ("held_back_reason", "failure") else "0"
                          for column in ("fetched", "held_back", "broken_cycles", "held_back_reason", "failure"))
        cursor = self.db.execute("SELECT source, mirror, last_cycle, duration_ms, published, error, failures, "
                                 f"next_run, {added} FROM sources WHERE ?1 IS NULL OR source = ?1", (source,))
        return {values[0]: SourceRecord(values[0], values[1], parse_time(values[2]), values[3], values[4],
                                        values[5], values[6], parse_time(values[7]), *values[8:12],
                                        Failure(**json.loads(values[12])) if values[12] else None)
                for values in cursor}

    def published_since(self, source: str, since: datetime) -> int:
        """Return how many pages a source published since a time (an article in two channels counts once)."""
        return self.db.execute("SELECT COUNT(DISTINCT mirror || path) FROM articles WHERE source = ? AND time >= ? "
                               "AND commit_sha != ''", (source, since.isoformat())).fetchone()[0]

    def publish_times(self, source: str, limit: int = 30) -> list[datetime]:
        """Return the times of a source's last cycles that published something, newest first."""
        cursor = self.db.execute("SELECT DISTINCT time FROM articles WHERE source = ? AND commit_sha != '' "
                                 "ORDER BY time DESC LIMIT ?", (source, limit))
        return [datetime.fromisoformat(time) for (time,) in cursor]

    def remote_records(self, mirror: str) -> list[tuple[str, str | None, str | None, str | None, int]]:
        """Return (remote, pushed commit, last error, last success, commits not pushed) of each remote a
        mirror pushed to."""
        cursor = self.db.execute("SELECT remote, pushed_commit, last_error, last_success, unpushed FROM remotes "
                                 "WHERE mirror = ? ORDER BY remote", (mirror,))
        return cursor.fetchall()

    def repository_record(self, mirror: str) -> tuple[str | None, int | None, int | None] | None:
        """Return (head, commits, size in bytes) of a mirror's clone as its last cycle left it."""
        return self.db.execute("SELECT head, commits, size_bytes FROM mirrors WHERE mirror = ?", (mirror,)).fetchone()

    def pushed_commit(self, mirror: str, remote: str) -> str | None:
        found = self.db.execute("SELECT pushed_commit FROM remotes WHERE mirror = ? AND remote = ?",
                                (mirror, remote)).fetchone()
        return found[0] if found else None

    def remote_health(self, mirror: str, remote: str) -> Health:
        """Return the failed pushes in a row to a remote, its last error and when it was last tried."""
        found = self.db.execute("SELECT failures, last_error, last_attempt FROM remotes WHERE mirror = ? "
                                "AND remote = ?", (mirror, remote)).fetchone()
        return Health(found[0], found[1] or "", parse_time(found[2])) if found else Health()

    def push_succeeded(self, mirror: str, remote: str, commit: str) -> None:
        with self.writing():
            self.db.execute(
                "INSERT INTO remotes (mirror, remote, pushed_commit, last_attempt, last_success) "
                "VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT DO UPDATE SET pushed_commit = excluded.pushed_commit, last_error = NULL, failures = 0, "
                "unpushed = 0, last_attempt = excluded.last_attempt, "
                "last_success = excluded.last_success", (mirror, remote, commit, now(), now()))

    def push_failed(self, mirror: str, remote: str, error: str, unpushed: int) -> None:
        """Record a failed push: its reason, one more failure in a row, and the commits still to push."""
        with self.writing():
            self.db.execute(
                "INSERT INTO remotes (mirror, remote, last_error, last_attempt, failures, unpushed) "
                "VALUES (?, ?, ?, ?, 1, ?) "
                "ON CONFLICT DO UPDATE SET last_error = excluded.last_error, last_attempt = excluded.last_attempt, "
                "failures = failures + 1, unpushed = excluded.unpushed", (mirror, remote, error, now(), unpushed))

    def record_repository(self, mirror: str, head: str | None, commits: int, size_bytes: int) -> None:
        with self.writing():
            self.db.execute("INSERT OR REPLACE INTO mirrors VALUES (?, ?, ?, ?, ?)",
                            (mirror, head, commits, size_bytes, now()))

    def held_back(self, mirror: str | None = None, source: str | None = None) -> list[HeldBackRecord]:
        """Return the held-back articles of a mirror or a source (all when neither), oldest first. A database
        of an older release, read by `status` without being upgraded, has none."""
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'held_back'").fetchone():
            return []
        cursor = self.db.execute(f"SELECT {HELD_BACK_COLUMNS} FROM held_back WHERE (?1 IS NULL OR mirror = ?1) "
                                 "AND (?2 IS NULL OR source = ?2) ORDER BY first_attempt, url", (mirror, source))
        return [to_held_back(values) for values in cursor]

    def article_held_back(self, mirror: str, source: str, channel: str, key: str, url: str,
                          reason: str) -> tuple[HeldBackRecord, bool]:
        """Count one more attempt of a held-back article, with its latest reason (after `mirrord retry`, the
        first again: its give-up clock starts over); return its record and whether it was held back before."""
        where = "WHERE mirror = ? AND channel = ? AND key = ?"
        known = self.db.execute(f"SELECT 1 FROM held_back {where}", (mirror, channel, key)).fetchone() is not None
        with self.writing():
            self.db.execute(
                f"INSERT INTO held_back ({HELD_BACK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, 0) "
                "ON CONFLICT DO UPDATE SET url = excluded.url, reason = excluded.reason, attempts = attempts + 1, "
                "first_attempt = CASE WHEN attempts = 0 THEN excluded.first_attempt ELSE first_attempt END, "
                "last_attempt = excluded.last_attempt", (mirror, channel, key, source, url, reason, now(), now()))
        found = self.db.execute(f"SELECT {HELD_BACK_COLUMNS} FROM held_back {where}", (mirror, channel, key))
        return to_held_back(found.fetchone()), known

    def give_up(self, mirror: str, channel: str, key: str) -> None:
        with self.writing():
            self.db.execute("UPDATE held_back SET gave_up = 1 WHERE mirror = ? AND channel = ? AND key = ?",
                            (mirror, channel, key))

    def forget_held_back(self, mirror: str, channel: str, key: str) -> None:
        """Forget an article that is held back no more (it was extracted)."""
        with self.writing():
            self.db.execute("DELETE FROM held_back WHERE mirror = ? AND channel = ? AND key = ?",
                            (mirror, channel, key))

    def retry_held_back(self, sources: Iterable[str]) -> int:
        """Make the held-back articles of the sources, given up or waiting, due next cycle, their attempts and
        give-up clock started over; return how many. They stay known, so that being held back again is not
        taken for a new article held back (see outcome.broken_cycles); being due, their channels are read
        without validators (heldback.Waiting), so that a 304 does not hide them."""
        with self.writing():
            return self.db.execute("UPDATE held_back SET attempts = 0, gave_up = 0 WHERE source IN "
                                   "(SELECT value FROM json_each(?))", (json.dumps(sorted(set(sources))),)).rowcount
