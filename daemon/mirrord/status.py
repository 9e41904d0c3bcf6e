"""`mirrord status`: what the state says of each source and each mirror's remotes, and what stands out."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from mirrord.errors import Problem, SetupError
from mirrord.log import scrub
from mirrord.model import Config, Failure, HeldBackRecord, SourceRecord
from mirrord.outcome import BROKEN_AFTER
from mirrord.preflight import existing_state
from mirrord.schema import Invalid, remote_url
from mirrord.state import State

QUIET_FACTOR = 4  # silent for this many usual gaps between publishing cycles: stands out
QUIET_FLOOR = timedelta(hours=1)
QUIET_HISTORY = 5  # publishing cycles needed before "usual" means anything
OVERDUE = timedelta(minutes=15)  # a next run this far in the past: the daemon is not running
# git's messages reach the state on one line (publish.git_reason): `stderr: '...' stdout: '...'`, its own
# lines joined by spaces. These find where its lines began, and those that say nothing about the failure.
GIT_OUTPUT = re.compile(r"'?\s*\b(?:stderr|stdout): '")
GIT_LINE = re.compile(r"\s+(?=(?:remote|hint|error|fatal|warning): |! |To \S+$)")
GIT_DONE = re.compile(r"\s+Done$")
GIT_NOISE = re.compile(r"(?:remote|hint): |To \S+$|error: failed to push some refs|Done$")


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
    fetched: int = 0  # of the last cycle that fetched any article
    held_back: int = 0  # of the same cycle
    broken_cycles: int = 0
    held_back_reason: str | None = None
    articles_held_back: tuple[HeldBackRecord, ...] = ()  # waiting to be tried again, or given up
    failure: Failure | None = None  # the last cycle's first failure: scope, url, hint, ...


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
    """Return why a source stands out (broken, failing, quiet, overdue), None when it looks healthy."""
    if record and record.broken_cycles >= BROKEN_AFTER:
        return "broken"
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
            attention(record, times, now), *held_back_of(record), tuple(state.held_back(source=name)),
            record and record.failure))
    return statuses


def held_back_of(record: SourceRecord | None) -> tuple[int, int, int, str | None]:
    """Return (fetched, held back, broken cycles, held-back reason) as the state remembers them."""
    if record is None:
        return 0, 0, 0, None
    return record.fetched, record.held_back, record.broken_cycles, record.held_back_reason


def broken_reason(source: SourceStatus) -> str:
    """Return why a broken source is broken, for the line `status` gives it."""
    return (f"broken: held back all {source.held_back} articles fetched, {source.broken_cycles} cycles in a row: "
            f"{source.held_back_reason}")


def mirror_statuses(config: Config, state: State) -> list[MirrorStatus]:
    statuses = []
    for name, mirror in config.mirrors.items():
        known = {row[0]: row for row in state.remote_records(name)}
        remotes = []
        for url in mirror.remotes:
            _, pushed, error, success, unpushed = known.get(url, (url, None, None, None, None))
            last_success = datetime.fromisoformat(success) if success else None
            remotes.append(RemoteStatus(shown_url(url), pushed, unpushed, error, last_success))
        head, commits, size = state.repository_record(name) or (None, None, None)
        statuses.append(MirrorStatus(name, head, commits, size, tuple(remotes)))
    return statuses


def shown_url(url: str) -> str:
    """Return a remote's URL whole for people. The config refuses credentials in remote URLs (any password,
    a user name over http(s)), and the user of an ssh URL (`ssh://git@host/...`) is no secret, so a URL the
    config accepts is shown as it is; any other has its credentials hidden."""
    try:
        remote_url(url)
    except Invalid:
        return scrub(url)
    return url


def gather(config: Config, now: datetime | None = None) -> tuple[list[SourceStatus], list[MirrorStatus]]:
    """Return the status of every configured source and mirror, as the state records it. The state is only
    read: raise SetupError, saying where it looked, when there is none where the config says."""
    path = existing_state(config)
    try:
        with closing(State(path, readonly=True)) as state:
            return source_statuses(config, state, now or datetime.now(timezone.utc)), mirror_statuses(config, state)
    except sqlite3.Error as error:
        raise SetupError(str(config.path), [Problem(
            "state_dir", f"'{path}' ({config.state_dir_from}), which cannot be read ({error})",
            "mirrord's state database: see that the user running this may read it")]) from None


def is_troubled(sources: list[SourceStatus], mirrors: list[MirrorStatus]) -> bool:
    """Tell whether a source is failing (its last cycles failed) or broken (every article held back), or a
    remote's last push failed: `status` exits 1 then, so that a monitoring check needs no parsing."""
    return (any(s.failures or s.attention == "broken" for s in sources)
            or any(r.last_error for m in mirrors for r in m.remotes))


def first_line(error: str) -> str:
    """Return the line of an error that says what went wrong, for the one line `status` gives it: git's
    output is cut into its lines, and the remote's own chatter (`remote:`), git's advice (`hint:`), the
    destination (`To URL`) and the summary that every failed push ends with are left out. What comes before
    git's output (such as `push to URL:`) is kept in front."""
    context, _, output = GIT_OUTPUT.sub("\n", error, count=1).partition("\n")
    if not output:
        return error.strip()
    output = GIT_OUTPUT.sub("\n", output.strip().removesuffix("'"))
    lines = [GIT_DONE.sub("", line.strip()).removeprefix("! ") for line in GIT_LINE.sub("\n", output).splitlines()]
    meaningful = [line for line in lines if line and not GIT_NOISE.match(line)]
    line = (meaningful or [line for line in lines if line] or [""])[0]
    return f"{context.strip()} {line}".strip()


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
