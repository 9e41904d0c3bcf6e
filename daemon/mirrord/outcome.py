"""What a cycle did: each mirror's report, and each source's part of it kept in the state for `mirrord status`."""

from __future__ import annotations

from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone

from mirrord.errors import DiscoverError, FetchError, LockHeld
from mirrord.hints import LOCKED, PUSH, UNWRITABLE, hint
from mirrord.log import add_listener, get_logger, remove_listener
from mirrord.model import Channel, Config, Failure, SourceResult
from mirrord.state import State

log = get_logger()
# A source is broken when this many cycles in a row (or more) fetched articles and held back every one:
# a site redesign that the `content` selector no longer matches looks like this, and nothing fails.
BROKEN_AFTER = 2


@dataclass
class Report:
    """What a cycle of one mirror did: printed by `once`, turned into the exit code."""

    mirror: str
    published: list[str] = field(default_factory=list)
    held_back: list[tuple[str, str, str]] = field(default_factory=list)  # (url, reason, channel)
    fetched: dict[str, int] = field(default_factory=dict)  # channel -> articles whose page was fetched
    first_held_back: dict[str, int] = field(default_factory=dict)  # channel -> articles held back the first time
    skipped: list[tuple[str, str]] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    commit: str | None = None
    pushed: list[str] = field(default_factory=list)
    failed_remotes: set[str] = field(default_factory=set)
    unfinished_channels: set[str] = field(default_factory=set)
    renamed: dict[str, str] = field(default_factory=dict)  # page path -> the name its article wanted
    locked: bool = False  # another process held the mirror's lock: nothing was done

    @property
    def ok(self) -> bool:
        return not self.failures


def stopped(mirror: str, error: LockHeld | OSError) -> Report:
    """Return the report of a mirror whose cycle (or rebuild) was stopped before it wrote anything: its lock
    held by another process, or a clone the system cannot write; logged, so that the other mirrors go on."""
    if isinstance(error, LockHeld):
        log.warning("cycle.locked", mirror=mirror, error=str(error))
        return Report(mirror, failures=[Failure("mirror", mirror, str(error), hint=LOCKED, transient=True)],
                      locked=True)
    reason = f"mirror {mirror}: {error.strerror or error} ({error.filename or 'state_dir'})"
    log.error("commit.failed", mirror=mirror, error=reason)
    return Report(mirror, failures=[Failure("mirror", mirror, reason, hint=UNWRITABLE)])


def commit_failed(mirror: str, error: Exception, report: Report) -> None:
    """Log and report that git could not open, write or commit the mirror's clone."""
    log.error("commit.failed", mirror=mirror, error=str(error))
    report.failures.append(Failure("mirror", mirror, str(error)))


def request_failure(scope: str, mirror: str, channel: Channel, url: str,
                    error: FetchError | DiscoverError) -> Failure:
    """Return the Failure of a channel or article (`scope`) of `channel` whose request or reading failed,
    its hint chosen from the error's status, kind or selector."""
    status, kind, selector = (getattr(error, name, None) for name in ("status", "kind", "selector"))
    return Failure(scope, mirror, str(error), transient=getattr(error, "transient", True), source=channel.source,
                   channel=channel.name, url=url,
                   hint=hint(scope, status=status, kind=kind, selector=selector, source=channel.source,
                             channel=channel.name, url=url))


def push_failure(mirror: str, url: str, error: Exception) -> Failure:
    """Return the Failure of a push to the remote at `url`; worth trying again, as mirrord does."""
    return Failure("remote", mirror, str(error), hint=PUSH, transient=True, url=url)


def belongs_to(failure: Failure, source: str) -> bool:
    """Tell whether a failure counts for a source: one that names its source (a channel, an article) for
    that source only; one of the mirror or a remote for every source of the cycle."""
    return failure.source is None or failure.source == source


def source_results(config: Config, report: Report, names: list[str]) -> list[SourceResult]:
    """Return the part of a mirror's report that belongs to each of the named sources.

    Pages name their channel, and channel and article failures their source, so they go to that source
    alone; a failed commit or push counts for every source of the cycle."""
    sources = [config.sources[name] for name in names if config.sources[name].mirror == report.mirror]
    owners = {channel.name: source.name for source in sources for channel in source.channels}
    results = []
    for source in sources:
        published = [path for path in report.published if owners.get(path.split("/")[1]) == source.name]
        failed = [failure for failure in report.failures if belongs_to(failure, source.name)]
        held_back = [(url, reason) for url, reason, channel in report.held_back if owners.get(channel) == source.name]
        fetched, first = (sum(count for channel, count in counts.items() if owners.get(channel) == source.name)
                          for counts in (report.fetched, report.first_held_back))
        results.append(SourceResult(source.name, published, failed=failed, fetched=fetched, held_back=held_back,
                                    first_held_back=first))
    return results


def broken_cycles(previous: int, result: SourceResult) -> int:
    """Return the cycles in a row, this one included, that held back every article they fetched, new ones
    among them.

    Publishing anything ends the run. A cycle that fetched nothing new (no new article, a failing channel,
    only a stub or video page tried again) says nothing about the rules and leaves the count as it was: a
    quiet cycle never hides a broken source, and a source with one stub that stays held back is not broken."""
    if result.published:
        return 0
    if result.first_held_back and len(result.held_back) >= result.fetched:
        return previous + 1
    return previous


def record_results(config: Config, results: list[tuple[str, SourceResult]], started: datetime,
                   state: State | None = None) -> set[str]:
    """Record each (mirror, result) of a cycle that started at `started` and ends now, in the daemon's open
    state when given; return the sources that are broken (see BROKEN_AFTER), each logged as `source.broken`
    every cycle it stays so."""
    duration_ms = int((datetime.now(timezone.utc) - started).total_seconds() * 1000)
    broken = set()
    with closing(State(config.state_dir / "state.sqlite3")) if state is None else nullcontext(state) as opened:
        for mirror, result in results:
            previous = opened.broken_cycles(result.source)
            count = broken_cycles(previous, result)
            opened.source_cycle_done(mirror, result, started, duration_ms, count)
            if note_broken(mirror, result, previous, count, opened):
                broken.add(result.source)
    return broken


def note_broken(mirror: str, result: SourceResult, previous: int, count: int, state: State) -> bool:
    """Log a broken source (a warning every cycle, so that alerts and metrics see it after a restart too)
    and its recovery (once); tell whether it is broken."""
    if count >= BROKEN_AFTER:
        record = state.source_records(result.source)[result.source]
        log.warning("source.broken", mirror=mirror, source=result.source, broken_cycles=count,
                    fetched=record.fetched, held_back=record.held_back,
                    error=f"every article fetched was held back, {count} cycles in a row: "
                          f"{record.held_back_reason}")
        return True
    if previous >= BROKEN_AFTER and count == 0:
        log.info("source.recovered", mirror=mirror, source=result.source, new=len(result.published))
    return False


@dataclass
class Reached:
    """How far one mirror's cycle got, as its events told."""

    started: bool = False
    committed: bool = False
    done: bool = False
    pushed: set[str] = field(default_factory=set)


class CycleWatch:
    """What each mirror's cycle of a `once` got to, followed through the status log's events: an interrupted
    cycle leaves no Report, yet the user must learn what was committed and what was not."""

    def __init__(self, config: Config, source_names: list[str]):
        """Watch the mirrors of the named sources (of all when none is named)."""
        self.config = config
        self.reached = {config.sources[name].mirror: Reached() for name in source_names or config.sources}

    def __enter__(self) -> CycleWatch:
        add_listener(self.observe)
        return self

    def __exit__(self, *_exc) -> None:
        remove_listener(self.observe)

    def observe(self, event: dict) -> None:
        reached, name = self.reached.get(str(event.get("mirror"))), event.get("event")
        if reached is None:
            return
        reached.started |= name == "cycle.start"
        reached.committed |= name == "commit.done"
        reached.done |= name == "cycle.done"
        if name == "push.done":
            reached.pushed.add(str(event.get("remote")))

    def said(self, mirror: str) -> str:
        """Return what an interruption left of a mirror's cycle, in words for people."""
        reached = self.reached[mirror]
        if not reached.started:
            return f"mirror {mirror} was not started"
        if reached.committed:
            unpushed = set(self.config.mirrors[mirror].remotes) - reached.pushed
            return f"the commit of mirror {mirror} was made" + (" and will be pushed next run" if unpushed else
                                                                 " and pushed" if reached.pushed else "")
        if reached.done:
            return f"mirror {mirror} had finished its cycle"
        return f"nothing was committed for mirror {mirror}"

    def note_interrupted(self) -> str:
        """Log cycle.interrupted for each mirror and return the one line that tells people what happened."""
        said = {mirror: self.said(mirror) for mirror in self.reached}
        for mirror, what in said.items():
            log.warning("cycle.interrupted", mirror=mirror, error=f"interrupted: {what}")
        return "interrupted: " + "; ".join(said.values())
