"""Carry out a commit plan: render the pages, indexes, feeds and README, write them, commit once, record.

The ledger rows of a commit are set aside before it is made and recorded after, so that a crash in
between is settled on the next run (`State.settle_cycle`): recorded if the commit exists, dropped if not.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from mirrord.feeds import EntryXml, assembled, entry_id, entry_xml, feed_entry, feed_path, written_entries
from mirrord.gitimport import Import
from mirrord.index import index_path, render_index, render_readme
from mirrord.ledger import CommitPlan
from mirrord.ledgerfile import LEDGER_DIR, ledger_path, order, parse_ledger, render_ledger, updated_ledger
from mirrord.log import get_logger
from mirrord.model import Channel, LedgerRow, Mirror, PageFile, Source
from mirrord.publish import Workspace
from mirrord.rebuild import head_ledger
from mirrord.render import page_path, render_page
from mirrord.state import State

log = get_logger()
# The indexes a cycle that found nothing new compared with the clone and found as it renders them: (clone, channel)
# -> (hash of the mirror, title and stored rows they were rendered from, the file's signature). Rendering them again
# at each poll was most of what such a cycle cost on a mirror of many pages.
CHECKED_INDEXES: dict[tuple[str, str], tuple[int, tuple[int, ...]]] = {}


@dataclass(frozen=True)
class Committed:
    """What a commit holds: its sha (None when nothing changed), the pages it added and those it pruned."""

    commit: str | None = None
    published: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)


def commit_plan(plan: CommitPlan, mirror: Mirror, sources: list[Source], polled: list[Source], workspace: Workspace,
                state: State, now: datetime) -> Committed:
    """Write and commit what the plan says, and record its ledger rows; `sources` are all the mirror's, `polled`
    those of this cycle. Raise PublishError if git fails.

    The pages go ahead of the rest: git takes their contents (`Workspace.start_commit`) and the clone's files
    are written, in threads, while the indexes, feeds and ledger are made; a burst of file creations can take
    tenths of a second on a busy disk."""
    pages = plan.carried + [file for article in plan.articles for file in render_page(article, mirror)]
    if not pages:
        return commit_files(plan, mirror, sources, polled, workspace, state, now, Ahead())
    with ThreadPoolExecutor(1, thread_name_prefix="mirrord-pages") as writer:  # its end waits for the files
        ahead = Ahead(workspace.start_commit(pages), writer.submit(workspace.write, pages, []), pages)
        try:
            return commit_files(plan, mirror, sources, polled, workspace, state, now, ahead)
        finally:
            ahead.close()


@dataclass
class Ahead:
    """The pages of a commit on their way: to git (`importing`) and to the clone's files (`writing`)."""

    importing: Import | None = None
    writing: Future | None = None
    pages: list[PageFile] = field(default_factory=list)

    def written(self) -> None:
        """Wait for the pages' files; raise what writing them raised."""
        if self.writing is not None:
            self.writing.result()

    def close(self) -> None:
        """End the import of a commit that was not made (a made one is ended already)."""
        if self.importing is not None:
            self.importing.close()


def commit_files(plan: CommitPlan, mirror: Mirror, sources: list[Source], polled: list[Source], workspace: Workspace,
                 state: State, now: datetime, ahead: Ahead) -> Committed:
    """Commit the pages gone ahead with the indexes, ledger, feeds and README they change, and record the
    plan's rows."""
    indexes = changed_indexes(mirror, sources, plan.shown, workspace, checked(plan, polled))
    files = ahead.pages + indexes + ledger_files(plan, mirror, workspace, state, now)
    if not (files or plan.deleted or plan.merge):
        state.record_cycle(plan.new_rows, plan.pruned_rows, "")
        return Committed()
    written = {file.path: file.data for file in files}
    files += changed_feeds(mirror, sources, plan.shown, workspace, written, indexed_channels(indexes))
    files.append(readme_file(mirror, sources, plan.shown, now))
    state.begin_cycle(mirror.name, plan.base or workspace.head(), plan.new_rows, plan.pruned_rows)
    workspace.write(files[len(ahead.pages):], plan.deleted)
    ahead.written()
    published = len(plan.articles) + sum(file.path.endswith(".md") for file in plan.carried)
    message = mirror.commit_message.format(time=now.strftime("%Y-%m-%d %H:%M UTC"), new=published,
                                           pruned=len(plan.deleted))
    commit = workspace.commit(files, plan.deleted, message, plan.merge, ahead.importing)
    state.finish_cycle(mirror.name, commit)
    state.note_ledger_tree(mirror.name, workspace.tree("HEAD", LEDGER_DIR), workspace.head())
    for article in plan.articles:
        log.info("article.published", mirror=mirror.name, source=article.source, channel=article.channel,
                 article=article.id, url=article.url)
    pruned = [path for path in plan.deleted if path.endswith(".md")]
    log.info("commit.done", mirror=mirror.name, commit=commit, new=len(plan.articles), pruned=len(pruned))
    return Committed(commit, [page_path(a.channel, a.id) for a in plan.articles], pruned)


def unchanged(mirror: Mirror, polled: list[Source], workspace: Workspace, state: State) -> bool:
    """Tell whether a cycle whose channels list nothing would commit nothing, asking only about the live rows of
    the channels it polled: the mirror has its own ledger (or nothing to write in one yet), no channel is past
    `keep` (nothing to prune: a lowered `keep` still prunes at the next poll), and the polled channels' indexes
    are as the clone has them (a renamed channel's shows its new title). Planning a commit reads every live row
    of the mirror, which made the cost of a poll that finds nothing new grow with the pages its mirror keeps."""
    if ((head_ledger(mirror, workspace, state) is None and state.has_articles(mirror.name))
            or state.past_keep(mirror.name, mirror.keep)):
        return False
    channels = [channel for source in polled for channel in source.channels]
    digests = state.live_digests(mirror.name, [channel.name for channel in channels])
    return not any(index_changed(mirror, channel, digests[channel.name], workspace, state) for channel in channels)


def index_changed(mirror: Mirror, channel: Channel, digest: int, workspace: Workspace, state: State) -> bool:
    """Tell whether a channel's index would change: rendered from its live rows and compared with the clone's
    file, unless that file, untouched since, was found so for the same mirror, title and rows (`digest`, see
    `CHECKED_INDEXES`; never with templates of the mirror's own, which may be edited)."""
    path, key = index_path(channel.name), (str(workspace.root), channel.name)
    made_from, found = hash((mirror, channel.title, digest)), workspace.signature(path)
    if mirror.templates is None and found is not None and CHECKED_INDEXES.get(key) == (made_from, found):
        return False
    rows = state.live_rows(mirror.name, [channel.name])
    if workspace.read(path) != render_index(mirror, channel.title, rows).encode("utf-8"):
        return True
    CHECKED_INDEXES[key] = (made_from, found)
    return False


def checked(plan: CommitPlan, polled: list[Source]) -> set[str]:
    """Return the channels whose index a cycle renders and compares with the clone's: those it polled (their
    titles may have changed) and those it adds or prunes rows of. No other index can change, and rendering
    every index of a mirror of many sources for each poll made the cost of a poll grow with the sources of
    its mirror."""
    return ({channel.name for source in polled for channel in source.channels}
            | {row.channel for row in plan.new_rows + plan.pruned_rows})


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


def indexed_channels(indexes: list[PageFile]) -> set[str]:
    """Return the channels of these index files."""
    return {file.path.removeprefix("indexes/").removesuffix(".md") for file in indexes}


def changed_feeds(mirror: Mirror, sources: list[Source], shown: dict[str, list[LedgerRow]], workspace: Workspace,
                  written: dict[str, bytes], channels: set[str]) -> list[PageFile]:
    """Return the feeds whose text changes, of the named channels (those whose pages changed) and of those
    that have none yet; `written` holds the pages of this commit, the others are read from the clone."""
    changed = []
    for source in sources:
        for channel in source.channels:
            path, rows = feed_path(channel.name), shown.get(channel.name, [])
            old = workspace.read(path)
            if (channel.name in channels or old is None) and rows:
                data = channel_feed(mirror, f"{source.title} · {channel.title}", channel.name, rows, workspace,
                                    written, old)
                if data is not None and data != old:
                    changed.append(PageFile(path, data))
    return changed


def channel_feed(mirror: Mirror, title: str, channel: str, rows: list[LedgerRow], workspace: Workspace,
                 written: dict[str, bytes], old: bytes | None = None) -> bytes | None:
    """Return the feed of a channel's newest `keep` pages (all with keep = 0); None when none can be read.
    The entries of the old feed are carried as they are, but for the pages this commit writes."""
    newest = sorted(rows, key=order, reverse=True)[:mirror.keep or None]
    carried = written_entries(old, mirror, channel, title)
    entries = [entry for row in newest if (entry := feed_entry_xml(row, mirror, workspace, written, carried))]
    return assembled(mirror, channel, title, entries) if entries else None


def feed_entry_xml(row: LedgerRow, mirror: Mirror, workspace: Workspace, written: dict[str, bytes],
                   carried: dict[str, EntryXml]) -> EntryXml | None:
    """Return a page's feed entry: carried from the old feed, or made from the page (None when it cannot be
    read)."""
    if row.path not in written and (entry := carried.get(entry_id(row.url))):
        return entry
    entry = feed_entry(row, page_text(row.path, workspace, written), mirror)
    return entry_xml(entry, mirror) if entry else None


def page_text(path: str, workspace: Workspace, written: dict[str, bytes]) -> str:
    data = written[path] if path in written else workspace.read(path)
    return data.decode("utf-8", errors="replace") if data is not None else ""


def ledger_files(plan: CommitPlan, mirror: Mirror, workspace: Workspace, state: State,
                 now: datetime) -> list[PageFile]:
    """Return the mirror's ledger files the commit changes: those of the channels it records rows of, and
    every channel's, from this host's state, when the mirror has no ledger yet (made by an older release)."""
    whole = head_ledger(mirror, workspace, state) is None
    known = state.all_rows(mirror.name) if whole else []
    changes = plan.new_rows + plan.pruned_rows
    files = []
    for channel in dict.fromkeys(row.channel for row in known + changes):
        rows = ([r for r in known if r.channel == channel] if whole else
                parse_ledger(mirror.name, channel, workspace.read_text(ledger_path(channel)) or ""))
        updated = updated_ledger(rows, [r for r in plan.new_rows if r.channel == channel], plan.pruned_rows, now,
                                 mirror.forget_pruned_after)
        data = render_ledger(updated)
        if workspace.read(ledger_path(channel)) != data:
            files.append(PageFile(ledger_path(channel), data))
    return files


def readme_file(mirror: Mirror, sources: list[Source], shown: dict[str, list[LedgerRow]], now: datetime) -> PageFile:
    return PageFile("README.md", render_readme(mirror, sources, shown, now).encode("utf-8"))
