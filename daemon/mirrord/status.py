"""`mirrord status`: what the state says of each source and each mirror's remotes, and what stands out."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from mirrord.log import scrub
from mirrord.model import Config, SourceRecord
from mirrord.state import State

QUIET_FACTOR = 4  # silent for this many usual gaps between publishing cycles: stands out
QUIET_FLOOR = timedelta(hours=1)
QUIET_HISTORY = 5  # publishing cycles needed before "usual" means anything
OVERDUE = timedelta(minutes=15)  # a next run this far in the past: the daemon is not running


@dataclass(frozen=True)
class SourceStatus:
    name: str
    mirror: str
    last_cycle: datetime | None
    duration_ms: int | None
    result: str
    error: str | None
    next_run: datetime | None
    failures: int
    published_24h: int
    last_published: datetime | None
    attention: str | None


@dataclass(frozen=True)
class RemoteStatus:
    url: str
    pushed_commit: str | None
    unpushed: int | None
    last_error: str | None
    last_success: datetime | None


@dataclass(frozen=True)
class MirrorStatus:
    name: str
    head: str | None
    commits: int | None
    size_bytes: int | None
    remotes: tuple[RemoteStatus, ...]


def is_quiet(publish_times: list[datetime], now: datetime) -> bool:
    """Tell whether a source has published nothing for much longer than usual, given its publishing
    cycles newest first: QUIET_FACTOR times its median gap, and at least QUIET_FLOOR."""
    if len(publish_times) < QUIET_HISTORY:
        return False
    gaps = sorted(newer - older for newer, older in zip(publish_times, publish_times[1:], strict=False))
    return now - publish_times[0] > max(QUIET_FACTOR * gaps[len(gaps) // 2], QUIET_FLOOR)


def attention(record: SourceRecord | None, publish_times: list[datetime], now: datetime) -> str | None:
    """Return why a source stands out (failing, quiet, overdue), None when it looks healthy."""
    if record and record.failures:
        return "failing"
    if is_quiet(publish_times, now):
        return "quiet"
    if record and record.next_run and now - record.next_run > OVERDUE:
        return "overdue"
    return None


def source_statuses(config: Config, state: State, now: datetime) -> list[SourceStatus]:
    records = state.source_records()
    statuses = []
    for name, source in config.sources.items():
        record, times = records.get(name), state.publish_times(name)
        result = "never run" if record is None or record.last_cycle is None else "failed" if record.error else "ok"
        statuses.append(SourceStatus(
            name, source.mirror, record and record.last_cycle, record and record.duration_ms, result,
            record and record.error, record and record.next_run, record.failures if record else 0,
            state.published_since(name, now - timedelta(hours=24)), times[0] if times else None,
            attention(record, times, now)))
    return statuses


def mirror_statuses(config: Config, state: State) -> list[MirrorStatus]:
    statuses = []
    for name, mirror in config.mirrors.items():
        known = {row[0]: row for row in state.remote_records(name)}
        remotes = []
        for url in mirror.remotes:
            _, pushed, error, success, unpushed = known.get(url, (url, None, None, None, None))
            last_success = datetime.fromisoformat(success) if success else None
            remotes.append(RemoteStatus(scrub(url), pushed, unpushed, error, last_success))
        head, commits, size = state.repository_record(name) or (None, None, None)
        statuses.append(MirrorStatus(name, head, commits, size, tuple(remotes)))
    return statuses


def gather(config: Config, now: datetime | None = None) -> tuple[list[SourceStatus], list[MirrorStatus]]:
    """Return the status of every configured source and mirror, as the state records it."""
    state = State(config.state_dir / "state.sqlite3")
    try:
        return source_statuses(config, state, now or datetime.now(timezone.utc)), mirror_statuses(config, state)
    finally:
        state.close()


def as_json(sources: list[SourceStatus], mirrors: list[MirrorStatus]) -> dict:
    """Return the status as plain JSON values, times in RFC 3339."""
    def plain(value):
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        return value

    return {"sources": [plain(asdict(s)) for s in sources], "mirrors": [plain(asdict(m)) for m in mirrors]}
