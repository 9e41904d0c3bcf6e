"""Ledger arithmetic: from what the mirror holds and what the channels list, decide what a cycle does.

Pure functions over values. The pipeline reads a `LedgerView` once per cycle; `plan_fetches` picks the
articles to fetch, `plan_commit` turns the fetched ones into a `CommitPlan` (pages to write, paths to
delete, each channel's index rows, ledger rows to record); the pipeline carries it out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property

from mirrord.model import Article, Candidate, Channel, Discovery, Entry, LedgerRow, PageFile
from mirrord.render import page_path

# Room for the wanted name in a distinct one: 91 characters, a dash and 8 of a hash make the 100 ids may have.
NAME_ROOM = 91
KEEP_MARGIN = 2


@dataclass(frozen=True)
class LedgerView:
    """The part of a mirror's ledger a cycle needs, oldest row first: every live row, and every row (pruned
    ones too) of the articles the cycle's channels list, found by identity or by the names they want."""

    mirror: str
    rows: tuple[LedgerRow, ...] = ()
    top: int = 0  # the highest ordinal of any row of the mirror, also of rows not in the view

    @cached_property
    def last_ordinal(self) -> int:
        """Return the ordinal new rows are numbered after."""
        return max([self.top, *(row.seq for row in self.rows)])

    @cached_property
    def live(self) -> tuple[LedgerRow, ...]:
        return tuple(row for row in self.rows if not row.pruned)

    @cached_property
    def by_channel(self) -> dict[tuple[str, str], LedgerRow]:
        """Return (channel, identity) -> row: what each channel already published or pruned."""
        return {(row.channel, row.key): row for row in self.rows if row.key}

    @cached_property
    def names(self) -> dict[tuple[str, str], str]:
        """Return (channel, page name) -> the identity holding it ("" when only the path is known)."""
        return {(row.channel, row.id): row.key for row in self.rows}

    @cached_property
    def first_by_key(self) -> dict[str, LedgerRow]:
        """Return, for each article published under any channel, its oldest row."""
        first: dict[str, LedgerRow] = {}
        for row in self.rows:
            if row.key:
                first.setdefault(row.key, row)
        return first

    @cached_property
    def live_by_channel(self) -> dict[str, list[LedgerRow]]:
        """Return channel -> its live rows, oldest first: sorted once, as a cycle asks for every channel of its
        mirror (scanning every live row for each made the work grow with channels times pages)."""
        by_channel: dict[str, list[LedgerRow]] = {}
        for row in self.live:
            by_channel.setdefault(row.channel, []).append(row)
        return by_channel

    def live_rows(self, channel: str) -> list[LedgerRow]:
        return list(self.live_by_channel.get(channel, ()))

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

    def knows(self, channel: str, entry: Entry) -> bool:
        """Tell whether a channel already published (or pruned) the entry's article, by its identity: never by
        a name, which many articles may want."""
        return (channel, entry.key) in self.by_channel


@dataclass(frozen=True)
class FetchPlan:
    """What discovery leaves to do: the articles to fetch (each entry carrying its page's final name),
    where already published ones are (identity -> path), every new (channel, entry) in ledger order
    (channel by channel, oldest entry first, so that each index keeps its channel's own order even for
    articles that another channel published), the names that had to differ from the wanted ones, and
    how many new entries of each channel are left for a later cycle."""

    candidates: list[Candidate] = field(default_factory=list)
    pages: dict[str, str] = field(default_factory=dict)
    listed: list[tuple[Channel, Entry]] = field(default_factory=list)
    old: list[LedgerRow] = field(default_factory=list)
    renamed: list[tuple[Channel, Entry, str]] = field(default_factory=list)
    left: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CommitPlan:
    """What one commit writes and records; bringing in a remote that moved, also the pages of ours it lacks
    (`carried`), our commit it merges (`merge`, when ours went to another remote already) and the commit an
    interruption before the commit returns the clone to (`base`: ours; HEAD when None)."""

    articles: list[Article]
    deleted: list[str]
    shown: dict[str, list[LedgerRow]]
    new_rows: list[LedgerRow]
    pruned_rows: list[LedgerRow]
    carried: list[PageFile] = field(default_factory=list)
    merge: str | None = None
    base: str | None = None


def distinct_name(entry: Entry) -> str:
    """Return the name a page takes when the name it wants is another article's: the wanted name and a
    short hash of the article's identity, stable from run to run and host to host."""
    return f"{entry.id[:NAME_ROOM]}-{hashlib.sha256(entry.key.encode('utf-8')).hexdigest()[:8]}"


def lookups(found: Iterable[tuple[Channel, Discovery]]) -> tuple[set[str], set[tuple[str, str]]]:
    """Return the identities and the (channel, name) pairs a view must cover for these discoveries."""
    listed = [(channel.name, entry) for channel, discovery in found for entry in discovery.entries]
    names = {(channel, name) for channel, entry in listed for name in (entry.id, distinct_name(entry))}
    return {entry.key for _, entry in listed}, names


def plan_fetches(view: LedgerView, found: list[tuple[Channel, Discovery]], rebuilt: bool, now: datetime,
                 keep: int = 0, waiting: frozenset[str] = frozenset()) -> FetchPlan:
    """Decide what to fetch: articles a channel has not published yet, each once even when several
    channels list it, each under a page name no other article of its channel has.

    Work stays bounded by `keep` and `max_new`, not by the length of the listing: new entries listed
    below the newest KEEP_MARGIN × `keep` new ones would be pruned as soon as written (the margin leaves
    room for newer ones that are held back), so they are recorded as pruned without being fetched; of
    the rest, only the newest `max_new` (a channel's rule) are fetched, and the others are left for later
    cycles (`left`).
    Right after the ledger of a mirror without one of its own (`.mirrord/`, see ledgerfile) was rebuilt
    from its pages and history, entries listed below the lowest one the mirror knows are taken as old ones
    that `keep` dropped before they were ever written, and recorded without being published; those above
    it are new, also below a story pinned on top of the listing. A mirror with its own ledger never guesses.
    Held-back articles whose next attempt is not due, or that were given up, (their identities: `waiting`)
    are not fetched: they stay new, neither recorded nor fetched, until they are due or retried.
    """
    plan = FetchPlan()
    fresh: dict[str, list[Entry]] = {}
    for channel, discovery in found:
        new, old = new_entries(view, channel.name, discovery, rebuilt)
        if keep:
            new, old = new[:KEEP_MARGIN * keep], new[KEEP_MARGIN * keep:] + old
        max_new = channel.rules.max_new
        if max_new is not None and len(new) > max_new:
            plan.left[channel.name], new = len(new) - max_new, new[:max_new]
        entries = named(view, channel, list(reversed(new)) + old, plan.renamed)
        fresh[channel.name] = entries[:len(new)]
        plan.old.extend(LedgerRow(view.mirror, channel.name, e.id, page_path(channel.name, e.id), e.title, e.url,
                                  channel.source, now, pruned=True, key=e.key) for e in entries[len(new):])
    published = {e.key: view.first_by_key[e.key] for entries in fresh.values() for e in entries
                 if e.key in view.first_by_key}
    plan.pages.update({key: row.path for key, row in published.items() if view.path_in_use(row.path)})
    fetching: set[str] = set()
    for channel, _ in found:
        for entry in fresh[channel.name]:
            plan.listed.append((channel, entry))
            if entry.key not in published and entry.key not in fetching and entry.key not in waiting:
                fetching.add(entry.key)
                plan.candidates.append(Candidate(entry, channel))
    return plan


def new_entries(view: LedgerView, channel: str, discovery: Discovery,
                older_are_old: bool) -> tuple[list[Entry], list[Entry]]:
    """Return the listed entries the channel has not published: (new ones, old ones: when asked, those
    listed below the lowest entry it knows)."""
    listed = list(discovery.entries)
    known = [view.knows(channel, entry) for entry in listed]
    below = len(listed) - known[::-1].index(True) if older_are_old and True in known else len(listed)
    return ([e for e, k in zip(listed[:below], known, strict=False) if not k],
            [e for e, k in zip(listed[below:], known[below:], strict=True) if not k])


def named(view: LedgerView, channel: Channel, entries: list[Entry],
          renamed: list[tuple[Channel, Entry, str]]) -> list[Entry]:
    """Return the entries, in order, each with a page name that no other article of the channel holds
    in the ledger or earlier in this list; note in renamed those whose wanted name was taken."""
    taken = {name: key for (holder, name), key in view.names.items() if holder == channel.name}
    result = []
    for entry in entries:
        name = entry.id
        if taken.get(name, entry.key) != entry.key:
            name = distinct_name(entry)
            if taken.get(name, entry.key) != entry.key:
                name = hashlib.sha256(entry.key.encode("utf-8")).hexdigest()[:16]
            renamed.append((channel, entry, name))
        taken[name] = entry.key
        result.append(replace(entry, id=name))
    return result


def page_urls(view: LedgerView, plan: FetchPlan) -> dict[str, str]:
    """Return url -> path of every page the mirror will have: the live ones and those being fetched."""
    pages = {row.url: row.path for row in view.live}
    pages.update({c.entry.url: page_path(c.channel.name, c.entry.id) for c in plan.candidates})
    return pages


def plan_commit(view: LedgerView, keep: int, channels: list[str], plan: FetchPlan, articles: list[Article],
                now: datetime) -> CommitPlan:
    """Return what the cycle commits: the fetched articles that `keep` does not prune at once, the files of
    pruned pages that no live row still shows, each channel's rows after the cycle, and the ledger rows."""
    numbered = numbered_rows(view.last_ordinal, ledger_rows(view.mirror, plan, articles, now) + plan.old)
    new_rows, old = numbered[:len(numbered) - len(plan.old)], numbered[len(numbered) - len(plan.old):]
    pruned = rows_to_prune(view, keep, new_rows)
    gone = {(r.channel, r.id) for r in pruned}
    return CommitPlan(
        articles=[a for a in articles if (a.channel, a.id) not in gone],
        deleted=deleted_paths(view, pruned, new_rows),
        shown={channel: channel_rows(view, channel, new_rows, gone) for channel in channels},
        new_rows=new_rows + old,
        pruned_rows=pruned + old,
    )


def numbered_rows(top: int, rows: list[LedgerRow]) -> list[LedgerRow]:
    """Return the rows with the ordinals after top, in their order: the mirror's order on every host."""
    return [replace(row, seq=top + i) for i, row in enumerate(rows, 1)]


def ledger_rows(mirror: str, plan: FetchPlan, articles: list[Article], now: datetime) -> list[LedgerRow]:
    """Return a row for every new (channel, entry) whose page exists now, in the plan's order."""
    pages = plan.pages | {a.key: page_path(a.channel, a.id) for a in articles}
    return [LedgerRow(mirror, channel.name, entry.id, pages[entry.key], entry.title, entry.url, channel.source, now,
                      key=entry.key)
            for channel, entry in plan.listed if entry.key in pages]


def rows_to_prune(view: LedgerView, keep: int, new_rows: list[LedgerRow]) -> list[LedgerRow]:
    """Return the rows past `keep` in each channel, oldest first; none when keep is 0. Channels without new
    rows count too: two hosts' commits brought together may leave one past `keep`."""
    if keep == 0:
        return []
    pruned = []
    for channel in dict.fromkeys([*view.live_by_channel, *(row.channel for row in new_rows)]):
        live = view.live_rows(channel) + [r for r in new_rows if r.channel == channel]
        pruned += live[: max(0, len(live) - keep)]
    return pruned


def deleted_paths(view: LedgerView, pruned: list[LedgerRow], new_rows: list[LedgerRow]) -> list[str]:
    """Return the files of pruned pages that no live row of any channel still shows."""
    gone = {(r.channel, r.id) for r in pruned}
    still_new = {r.path for r in new_rows if (r.channel, r.id) not in gone}
    written = {(r.channel, r.id) for r in view.live}
    paths = []
    for path in dict.fromkeys(r.path for r in pruned if (r.channel, r.id) in written):
        if path not in still_new and not view.path_in_use(path, gone):
            paths += [path, f"{path}.png", path.removesuffix(".md") + ".files"]
    return paths


def channel_rows(view: LedgerView, channel: str, new_rows: list[LedgerRow],
                 gone: set[tuple[str, str]]) -> list[LedgerRow]:
    """Return the rows a channel's index shows after this cycle, new rows last (newest)."""
    rows = view.live_rows(channel) + [r for r in new_rows if r.channel == channel]
    return [r for r in rows if (r.channel, r.id) not in gone]
