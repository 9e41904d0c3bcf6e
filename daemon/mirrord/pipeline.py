"""One cycle of a mirror, stage by stage: the only module that knows the order of the stages.

fetch → discover → (ledger view, plan) → fetch pages → extract → (plan) → render → index → commit → push.
An entry is recorded in the ledger only after the commit holding its page exists, and a channel's
HTTP validators are saved only when all of its entries were dealt with, so that a crash or a
failed article never makes mirrord skip an article for good.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterable, Mapping
from contextlib import closing, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any

from mirrord.articles import Fetched, fetch_article, start_workers
from mirrord.channels import discover_channel, save_validators
from mirrord.commit import Committed, commit_plan, unchanged
from mirrord.credentials import secrets_of
from mirrord.errors import LockHeld, PublishError
from mirrord.fetch import Fetcher
from mirrord.heldback import Waiting, remember, waiting
from mirrord.integrate import integrate_remote, prepare
from mirrord.ledger import FetchPlan, LedgerView, lookups, page_urls, plan_commit, plan_fetches
from mirrord.lock import mirror_lock
from mirrord.log import get_logger, register_secret
from mirrord.model import Article, Channel, Config, Discovery, Mirror, Options, Response, Source
from mirrord.outcome import Report, commit_failed, stopped
from mirrord.publish import Workspace
from mirrord.remotes import push_remotes, pushed_everywhere
from mirrord.render import page_path
from mirrord.sharedfetch import SharedFetcher
from mirrord.state import State

log = get_logger()


@dataclass(frozen=True)
class Collected:
    """What discovery and extraction found: the plan, the ledger view it was made on (None when no channel
    listed anything: nothing to plan, and the view was not read), the response each channel that could be
    read came from, and the articles extracted."""

    plan: FetchPlan
    view: LedgerView | None
    validators: dict[Channel, Response]
    articles: list[Article]


@dataclass(frozen=True)
class Discovered:
    """What reading a cycle's channels gave: what the held-back articles mean for it, and each channel that could
    be read with its discovery and the response it came from."""

    held: Waiting
    read: list[tuple[Channel, tuple[Discovery, Response]]]

    def listed(self) -> bool:
        """Tell whether a channel listed anything (a 304 lists nothing)."""
        return any(discovery.entries for _, (discovery, _) in self.read)


def run_once(config: Config, source_names: list[str], options: Options, shared: SharedFetcher | None = None,
             state: State | None = None, run: Callable[[Coroutine[Any, Any, list[Report]]], list[Report]] = asyncio.run
             ) -> list[Report]:
    """Run one cycle of the named sources (all when empty), one commit per mirror; with the daemon's Fetcher of
    the event loop (`shared`'s, within the process's limits) when given, else with one of its own; likewise
    with the daemon's open state, else the state opened for this run, and in the daemon's event loop of the
    thread (`run`), else in one of its own."""
    sources = [config.sources[name] for name in source_names] if source_names else list(config.sources.values())
    by_mirror: dict[str, list[Source]] = {}
    for source in sources:
        by_mirror.setdefault(source.mirror, []).append(source)
    with closing(State(config.state_dir / "state.sqlite3", copy=options.dry_run)) if state is None \
            else nullcontext(state) as opened:
        return run(run_mirrors(config, by_mirror, options, opened, shared))


async def run_mirrors(config: Config, by_mirror: Mapping[str, list[Source]], options: Options, state: State,
                      shared: SharedFetcher | None = None) -> list[Report]:
    register_secrets(config, by_mirror)
    async with Fetcher(config.http) if shared is None else shared.lent(config.http) as fetcher:
        return [await isolated(config, config.mirrors[name], sources, state, fetcher, options)
                for name, sources in by_mirror.items()]


def register_secrets(config: Config, mirrors: Iterable[str]) -> None:
    """Tell the status log which values must never appear in it: tokens and key paths of the mirrors a run
    touches (of those alone: the daemon runs one source at a time, and its mirrors may be many)."""
    for name in mirrors:
        for secret in secrets_of(config.mirrors[name], os.environ):
            register_secret(secret)


async def isolated(config: Config, mirror: Mirror, sources: list[Source], state: State, fetcher: Fetcher,
                   options: Options) -> Report:
    """Run one mirror's cycle so that what stops it (its lock held by another process, a clone the system
    cannot write) is its report's, and the mirrors after it still run."""
    try:
        return await run_mirror(config, mirror, sources, state, fetcher, options)
    except (LockHeld, OSError) as error:
        return stopped(mirror.name, error)


async def run_mirror(config: Config, mirror: Mirror, sources: list[Source], state: State, fetcher: Fetcher,
                     options: Options) -> Report:
    """One cycle of one mirror under its lock; a dry run reads and fetches but takes no lock and writes nothing."""
    report = Report(mirror.name)
    started = datetime.now(timezone.utc)
    log.info("cycle.start", mirror=mirror.name, sources=[s.name for s in sources])
    if options.dry_run:
        discovered = await discover(mirror, sources, state, fetcher, report)
        collected = await collect(mirror, state, fetcher, report, discovered, rebuilt=False, catch_up=None)
        report.published = [page_path(a.channel, a.id) for a in collected.articles]
        note_renamed(mirror, collected.plan, report)
    else:
        with mirror_lock(config.state_dir, mirror.name, options.lock_wait):
            await publish_cycle(config, mirror, sources, state, fetcher, report, options)
    log.info("cycle.done", mirror=mirror.name, new=len(report.published), pruned=len(report.pruned),
             failed=len(report.failures), duration_ms=elapsed_ms(started))
    return report


async def publish_cycle(config: Config, mirror: Mirror, sources: list[Source], state: State, fetcher: Fetcher,
                        report: Report, options: Options) -> None:
    """Read the channels; when they list nothing and the mirror needs nothing (`quiet`), keep their validators and
    end there; else open the clone, collect the new articles, commit them with the prune and indexes, push."""
    all_sources = config.sources_of(mirror.name)
    discovered = await discover(mirror, sources, state, fetcher, report)
    if quiet(config, mirror, sources, state, discovered, options):
        log.debug("cycle.planned", mirror=mirror.name, new=0)
        save_validators(mirror, dict(validators_of(discovered)), report, state)
        return
    try:
        workspace = Workspace.open(config.state_dir, mirror,
                                   shallow=options.shallow or not state.knows_mirror(mirror.name))
    except PublishError as error:
        commit_failed(mirror.name, error, report)
        return
    try:
        integrate = partial(integrate_remote, mirror, all_sources, workspace, state)
        catch_up = partial(prepare, mirror, all_sources, workspace, state, integrate) if options.push else None
        try:
            rebuilt = prepare(mirror, all_sources, workspace, state, None)
            collected = await collect(mirror, state, fetcher, report, discovered, rebuilt, catch_up)
        except PublishError as error:
            commit_failed(mirror.name, error, report)
            return
        try:
            committed = commit_collected(mirror, all_sources, sources, workspace, state, collected)
        except PublishError as error:
            commit_failed(mirror.name, error, report)
            return
        report.commit, report.published, report.pruned = committed.commit, committed.published, committed.pruned
        note_renamed(mirror, collected.plan, report)
        save_validators(mirror, collected.validators, report, state)
        if options.push:
            push_remotes(mirror, workspace, state, report, options.push_backoff, integrate)
    finally:
        workspace.close()


def quiet(config: Config, mirror: Mirror, sources: list[Source], state: State, discovered: Discovered,
          options: Options) -> bool:
    """Tell whether a cycle ends once its channels are read, without opening the clone: they listed nothing, and
    the mirror needs nothing that opening, preparing, committing or pushing would do: its clone exists with no
    interrupted cycle to undo or settle, the state took in the ledger of its HEAD, nothing is to prune or render
    anew (`commit.unchanged`), and every remote has HEAD (with no squash due). Such a cycle runs no git; opening
    and preparing the clone for it was a good part of what a poll that finds nothing new cost."""
    if discovered.listed() or state.cycle_pending(mirror.name):
        return False
    workspace = Workspace.settled(config.state_dir, mirror)
    if workspace is None:
        return False
    noted, head = state.ledger_tree(mirror.name), workspace.head()
    return (noted is not None and head is not None and noted[1] == head
            and (not options.push or pushed_everywhere(mirror, head, state))
            and unchanged(mirror, sources, workspace, state))


def commit_collected(mirror: Mirror, all_sources: list[Source], sources: list[Source], workspace: Workspace,
                     state: State, collected: Collected) -> Committed:
    """Plan the commit on the ledger view and make it; when no channel listed anything and nothing would
    change (`commit.unchanged`), neither the whole view is read nor anything planned."""
    if collected.view is None and unchanged(mirror, sources, workspace, state):
        return Committed()
    view = collected.view or read_view(mirror, state, [])
    now = datetime.now(timezone.utc)
    channels = [channel.name for source in all_sources for channel in source.channels]
    commit = plan_commit(view, mirror.keep, channels, collected.plan, collected.articles, now)
    return commit_plan(commit, mirror, all_sources, sources, workspace, state, now)


def read_view(mirror: Mirror, state: State, found: list[tuple[Channel, Discovery]]) -> LedgerView:
    """Read the part of the mirror's ledger a cycle plans on: every live row, and the rows of what is listed."""
    return LedgerView(mirror.name, tuple(state.ledger_rows(mirror.name, *lookups(found))))


async def discover(mirror: Mirror, sources: list[Source], state: State, fetcher: Fetcher,
                   report: Report) -> Discovered:
    """Read every channel of the sources concurrently, those with a held-back article due without validators."""
    held = waiting(state.held_back(mirror.name), datetime.now(timezone.utc))
    channels = [channel for source in sources for channel in source.channels]
    discoveries = await asyncio.gather(*(discover_channel(c, mirror, state, fetcher, report,
                                                          conditional=c.name not in held.unconditional)
                                         for c in channels))
    return Discovered(held, [(channel, found) for channel, found in zip(channels, discoveries, strict=True)
                             if found is not None])


def validators_of(discovered: Discovered) -> list[tuple[Channel, Response]]:
    return [(channel, response) for channel, (_, response) in discovered.read]


async def collect(mirror: Mirror, state: State, fetcher: Fetcher, report: Report, discovered: Discovered,
                  rebuilt: bool, catch_up: Callable[[], bool] | None) -> Collected:
    """Plan against the ledger what the channels listed (held-back articles that are not due wait), then fetch
    and extract the new articles, all concurrently; remember what was held back. When the ledger does not know
    some article, what other hosts pushed is taken in first (`catch_up`) and the plan made again, so that no
    article another host published is fetched again; a cycle with nothing new asks no remote."""
    now = datetime.now(timezone.utc)
    held = discovered.held
    found = [(channel, discovery) for channel, (discovery, _) in discovered.read]
    view = read_view(mirror, state, found) if discovered.listed() else None
    planned_on = view or LedgerView(mirror.name)
    plan = plan_fetches(planned_on, found, rebuilt, now, mirror.keep, held.keys)
    if plan.candidates and catch_up is not None:
        rebuilt = catch_up() or rebuilt
        view = planned_on = read_view(mirror, state, found)
        plan = plan_fetches(view, found, rebuilt, now, mirror.keep, held.keys)
    log.debug("cycle.planned", mirror=mirror.name, new=len(plan.candidates))
    for channel, left in plan.left.items():
        log.info("channel.capped", mirror=mirror.name, channel=channel, new=left,
                 error=f"{left} more new articles than max_new: left for the next cycles")
    pages = page_urls(planned_on, plan)
    if plan.candidates:
        start_workers()
    results = await asyncio.gather(*(fetch_article(c, mirror, fetcher, pages) for c in plan.candidates))
    first = remember(mirror, results, state, datetime.now(timezone.utc))
    return Collected(plan, view, dict(validators_of(discovered)),
                     [result.article for result in results if note_fetched(result, report, first)])


def note_fetched(result: Fetched, report: Report, first_held_back: set[str]) -> bool:
    """Count a candidate whose page was fetched, and put one that yielded no article in the report (its
    channel's validators are then not saved, so that it is tried again when due); tell whether it yielded one."""
    channel = result.candidate.channel.name
    if result.article is not None or result.held_back is not None:
        report.fetched[channel] = report.fetched.get(channel, 0) + 1
    if result.candidate.entry.key in first_held_back:
        report.first_held_back[channel] = report.first_held_back.get(channel, 0) + 1
    if result.article is not None:
        return True
    if result.held_back is not None:
        report.held_back.append((result.candidate.entry.url, result.held_back, channel))
    if result.failure is not None:
        report.failures.append(result.failure)
    report.unfinished_channels.add(channel)
    return False


def note_renamed(mirror: Mirror, plan: FetchPlan, report: Report) -> None:
    """Say once, when its page is published (or would be, in a dry run), that an article got another name
    than the one it wanted because another article of its channel holds that one."""
    for channel, entry, name in plan.renamed:
        if page_path(channel.name, name) in report.published:
            report.renamed[page_path(channel.name, name)] = entry.id
            log.info("article.renamed", mirror=mirror.name, source=channel.source, channel=channel.name,
                     article=name, url=entry.url, error=f"the name {entry.id} is another article's")


def elapsed_ms(started: datetime) -> int:
    return int((datetime.now(timezone.utc) - started).total_seconds() * 1000)
