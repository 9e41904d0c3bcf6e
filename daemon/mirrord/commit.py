"""Carry out a commit plan: render the pages, indexes and README, write them, commit once, record.

The ledger rows of a commit are set aside before it is made and recorded after, so that a crash in
between is settled on the next run (`State.settle_cycle`): recorded if the commit exists, dropped if not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mirrord.index import index_path, render_index, render_readme
from mirrord.ledger import CommitPlan
from mirrord.log import get_logger
from mirrord.model import LedgerRow, Mirror, PageFile, Source
from mirrord.publish import Workspace
from mirrord.render import page_path, render_page
from mirrord.state import State

log = get_logger()


@dataclass(frozen=True)
class Committed:
    """What a commit holds: its sha (None when nothing changed), the pages it added and those it pruned."""

    commit: str | None = None
    published: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)


def commit_plan(plan: CommitPlan, mirror: Mirror, sources: list[Source], polled: list[Source], workspace: Workspace,
                state: State, now: datetime) -> Committed:
    """Write and commit what the plan says, and record its ledger rows; `sources` are all the mirror's, `polled`
    those of this cycle. Raise PublishError if git fails."""
    files = [file for article in plan.articles for file in render_page(article, mirror)]
    indexes = changed_indexes(mirror, sources, plan.shown, workspace, checked(plan, polled))
    if not (files or plan.deleted or indexes):
        state.record_cycle(plan.new_rows, plan.pruned_rows, "")
        return Committed()
    files += indexes + [readme_file(mirror, sources, plan.shown, now)]
    state.begin_cycle(mirror.name, workspace.head(), plan.new_rows, plan.pruned_rows)
    workspace.write(files, plan.deleted)
    message = mirror.commit_message.format(time=now.strftime("%Y-%m-%d %H:%M UTC"), new=len(plan.articles),
                                           pruned=len(plan.deleted))
    commit = workspace.commit(files, plan.deleted, message)
    state.finish_cycle(mirror.name, commit)
    for article in plan.articles:
        log.info("article.published", mirror=mirror.name, source=article.source, channel=article.channel,
                 article=article.id, url=article.url)
    pruned = [path for path in plan.deleted if path.endswith(".md")]
    log.info("commit.done", mirror=mirror.name, commit=commit, new=len(plan.articles), pruned=len(pruned))
    return Committed(commit, [page_path(a.channel, a.id) for a in plan.articles], pruned)


def checked(plan: CommitPlan, polled: list[Source]) -> set[str]:
    """Return the channels whose index a cycle renders and compares with the clone's: those it polled (their
    titles may have changed) and those it adds rows to. No other index can change (pruning takes only rows
    of channels with new ones), and rendering every index of a mirror of many sources for each poll made
    the cost of a poll grow with the sources of its mirror."""
    return {channel.name for source in polled for channel in source.channels} | {row.channel for row in plan.new_rows}


def changed_indexes(mirror: Mirror, sources: list[Source], shown: dict[str, list[LedgerRow]],
                    workspace: Workspace, channels: set[str]) -> list[PageFile]:
    """Return those of the named channels' indexes whose text changes (or that do not exist yet); `shown` has
    each channel's rows after this cycle."""
    changed = []
    for source in sources:
        for channel in (channel for channel in source.channels if channel.name in channels):
            data = render_index(mirror, channel.title, shown[channel.name]).encode("utf-8")
            if workspace.read(index_path(channel.name)) != data:
                changed.append(PageFile(index_path(channel.name), data))
    return changed


def readme_file(mirror: Mirror, sources: list[Source], shown: dict[str, list[LedgerRow]], now: datetime) -> PageFile:
    counts = {name: len(rows) for name, rows in shown.items()}
    return PageFile("README.md", render_readme(mirror, sources, counts, now).encode("utf-8"))
