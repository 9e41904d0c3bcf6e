"""Ledger arithmetic: from what the mirror holds and what the channels list, decide what a cycle does.

Pure functions over values. The pipeline reads a `LedgerView` once per cycle; `plan_fetches` picks the
articles to fetch, `plan_commit` turns the fetched ones into a `CommitPlan` (pages to write, paths to
delete, each channel's index rows, ledger rows to record); the pipeline carries it out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property

from mirrord.model import Article, Candidate, Channel, Discovery, Entry, LedgerRow
from mirrord.render import page_path


@dataclass(frozen=True)
class LedgerView:
    """The part of a mirror's ledger a cycle needs, oldest row first: every live row, and every row (pruned
    ones too) of the entries the cycle's channels list."""

    mirror: str
    rows: tuple[LedgerRow, ...] = ()

    @cached_property
    def live(self) -> tuple[LedgerRow, ...]:
        return tuple(row for row in self.rows if not row.pruned)

    def known_ids(self, channel: str) -> set[str]:
        """Return the ids a channel ever published, pruned ones included: they never come back."""
        return {row.id for row in self.rows if row.channel == channel}

    @cached_property
    def first_by_url(self) -> dict[str, LedgerRow]:
        """Return, for each url published under any channel, its oldest row."""
        first: dict[str, LedgerRow] = {}
        for row in self.rows:
            first.setdefault(row.url, row)
        return first

    def live_rows(self, channel: str) -> list[LedgerRow]:
        return [row for row in self.live if row.channel == channel]

    @cached_property
    def live_paths(self) -> dict[str, set[tuple[str, str]]]:
        """Return path -> the (channel, id) of every live row showing it."""
        shown: dict[str, set[tuple[str, str]]] = {}
        for row in self.live:
            shown.setdefault(row.path, set()).add((row.channel, row.id))
        return shown

    def path_in_use(self, path: str, ignoring: set[tuple[str, str]] = frozenset()) -> bool:
        """Tell whether a live row other than those in ignoring (channel, id) still shows path."""
        return bool(self.live_paths.get(path, set()) - ignoring)


@dataclass(frozen=True)
class FetchPlan:
    """What discovery leaves to do: the articles to fetch, where already published ones are, and every new
    (channel, entry) in ledger order: channel by channel, oldest entry first, so that each index keeps its
    channel's own order even for articles that another channel published."""

    candidates: list[Candidate] = field(default_factory=list)
    pages: dict[str, str] = field(default_factory=dict)
    listed: list[tuple[Channel, Entry]] = field(default_factory=list)
    old: list[LedgerRow] = field(default_factory=list)


@dataclass(frozen=True)
class CommitPlan:
    """What one commit writes and records."""

    articles: list[Article]
    deleted: list[str]
    shown: dict[str, list[LedgerRow]]
    new_rows: list[LedgerRow]
    pruned_rows: list[LedgerRow]


def lookups(found: Iterable[tuple[Channel, Discovery]]) -> tuple[set[str], set[tuple[str, str]]]:
    """Return the urls and (channel, id) keys a view must cover for these discoveries."""
    listed = [(channel.name, entry) for channel, discovery in found for entry in discovery.entries]
    return {entry.url for _, entry in listed}, {(channel, entry.id) for channel, entry in listed}


def plan_fetches(view: LedgerView, found: list[tuple[Channel, Discovery]], rebuilt: bool,
                 now: datetime) -> FetchPlan:
    """Decide what to fetch: entries not in the ledger, each article once even when several channels list it.

    Right after the ledger was rebuilt, entries listed below a page the mirror has are taken as old
    ones that `keep` dropped before they were ever written, and recorded without being published.
    """
    plan = FetchPlan()
    fresh: dict[str, list[Entry]] = {}
    for channel, discovery in found:
        fresh[channel.name], old = new_entries(view.known_ids(channel.name), discovery, rebuilt)
        plan.old.extend(LedgerRow(view.mirror, channel.name, e.id, page_path(channel.name, e.id), e.title, e.url,
                                  channel.source, now, pruned=True) for e in old)
    published = {e.url: view.first_by_url[e.url] for entries in fresh.values() for e in entries
                 if e.url in view.first_by_url}
    plan.pages.update({url: row.path for url, row in published.items() if view.path_in_use(row.path)})
    fetching: set[str] = set()
    for channel, _ in found:
        for entry in reversed(fresh[channel.name]):
            plan.listed.append((channel, entry))
            if entry.url not in published and entry.url not in fetching:
                fetching.add(entry.url)
                plan.candidates.append(Candidate(entry, channel))
    return plan


def new_entries(known: set[str], discovery: Discovery, older_are_old: bool) -> tuple[list[Entry], list[Entry]]:
    """Return the listed entries missing from the ledger: (new ones, old ones); old only when asked."""
    listed = list(discovery.entries)
    first_known = len(listed)
    if older_are_old:
        first_known = next((i for i, e in enumerate(listed) if e.id in known), first_known)
    return ([e for e in listed[:first_known] if e.id not in known],
            [e for e in listed[first_known:] if e.id not in known])


def page_urls(view: LedgerView, plan: FetchPlan) -> dict[str, str]:
    """Return url -> path of every page the mirror will have: the live ones and those being fetched."""
    pages = {row.url: row.path for row in view.live}
    pages.update({c.entry.url: page_path(c.channel.name, c.entry.id) for c in plan.candidates})
    return pages


def plan_commit(view: LedgerView, keep: int, channels: list[str], plan: FetchPlan, articles: list[Article],
                now: datetime) -> CommitPlan:
    """Return what the cycle commits: the fetched articles that `keep` does not prune at once, the files of
    pruned pages that no live row still shows, each channel's rows after the cycle, and the ledger rows."""
    new_rows = ledger_rows(view.mirror, plan, articles, now)
    pruned = rows_to_prune(view, keep, new_rows)
    gone = {(r.channel, r.id) for r in pruned}
    return CommitPlan(
        articles=[a for a in articles if (a.channel, a.id) not in gone],
        deleted=deleted_paths(view, pruned, new_rows),
        shown={channel: channel_rows(view, channel, new_rows, gone) for channel in channels},
        new_rows=new_rows + plan.old,
        pruned_rows=pruned + plan.old,
    )


def ledger_rows(mirror: str, plan: FetchPlan, articles: list[Article], now: datetime) -> list[LedgerRow]:
    """Return a row for every new (channel, entry) whose page exists now, in the plan's order."""
    pages = plan.pages | {a.url: page_path(a.channel, a.id) for a in articles}
    return [LedgerRow(mirror, channel.name, entry.id, pages[entry.url], entry.title, entry.url, channel.source, now)
            for channel, entry in plan.listed if entry.url in pages]


def rows_to_prune(view: LedgerView, keep: int, new_rows: list[LedgerRow]) -> list[LedgerRow]:
    """Return the rows past `keep` in each channel that gets new rows, oldest first; none when keep is 0."""
    if keep == 0:
        return []
    pruned = []
    for channel in dict.fromkeys(row.channel for row in new_rows):
        live = view.live_rows(channel) + [r for r in new_rows if r.channel == channel]
        pruned += live[: max(0, len(live) - keep)]
    return pruned


def deleted_paths(view: LedgerView, pruned: list[LedgerRow], new_rows: list[LedgerRow]) -> list[str]:
    """Return the files of pruned pages that no live row of any channel still shows."""
    gone = {(r.channel, r.id) for r in pruned}
    still_new = {r.path for r in new_rows if (r.channel, r.id) not in gone}
    paths = []
    for path in dict.fromkeys(r.path for r in pruned if r.seq):
        if path not in still_new and not view.path_in_use(path, gone):
            paths += [path, f"{path}.png", path.removesuffix(".md") + ".files"]
    return paths


def channel_rows(view: LedgerView, channel: str, new_rows: list[LedgerRow],
                 gone: set[tuple[str, str]]) -> list[LedgerRow]:
    """Return the rows a channel's index shows after this cycle, new rows last (newest) and numbered after
    the others."""
    rows = view.live_rows(channel) + [r for r in new_rows if r.channel == channel]
    rows = [r for r in rows if (r.channel, r.id) not in gone]
    top = max((r.seq for r in rows), default=0)
    return [r if r.seq else replace(r, seq=top + i + 1) for i, r in enumerate(rows)]
