"""What a cycle did: each mirror's report, and each source's part of it kept in the state for `mirrord status`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from mirrord.model import Config, SourceResult
from mirrord.state import State


@dataclass
class Report:
    """What a cycle of one mirror did: printed by `once`, turned into the exit code."""

    mirror: str
    published: list[str] = field(default_factory=list)
    held_back: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    commit: str | None = None
    pushed: list[str] = field(default_factory=list)
    failed_remotes: set[str] = field(default_factory=set)
    unfinished_channels: set[str] = field(default_factory=set)
    renamed: dict[str, str] = field(default_factory=dict)  # page path -> the name its article wanted
    locked: bool = False  # another process held the mirror's lock: nothing was done

    @property
    def ok(self) -> bool:
        return not self.failures


def source_results(config: Config, report: Report, names: list[str]) -> list[SourceResult]:
    """Return the part of a mirror's report that belongs to each of the named sources.

    Pages and channel failures name their channel, so they go to its source alone; a failed article,
    commit or push cannot be told apart and counts for every source of the cycle."""
    sources = [config.sources[name] for name in names if config.sources[name].mirror == report.mirror]
    owners = {channel.name: source.name for source in sources for channel in source.channels}
    results = []
    for source in sources:
        published = [path for path in report.published if owners.get(path.split("/")[1]) == source.name]
        failed = [failure for failure in report.failures
                  if not failure.startswith("channel ") or failure.startswith(f"channel {source.name}/")]
        results.append(SourceResult(source.name, published, failed=failed))
    return results


def record_results(config: Config, results: list[tuple[str, SourceResult]], started: datetime) -> None:
    """Record each (mirror, result) of a cycle that started at `started` and ends now."""
    duration_ms = int((datetime.now(timezone.utc) - started).total_seconds() * 1000)
    state = State(config.state_dir / "state.sqlite3")
    try:
        for mirror, result in results:
            state.source_cycle_done(mirror, result, started, duration_ms)
    finally:
        state.close()
