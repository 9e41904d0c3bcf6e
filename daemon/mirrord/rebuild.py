"""Take the mirror's own ledger into the state, so that a fresh state_dir continues it exactly; settle a
cycle a crash interrupted.

A mirror made by an older release has no ledger of its own (`.mirrord/`): when the database was lost, its
live pages are read from the channel indexes and the pages' metadata lines, pruned ones from the git
history's deleted pages. Reading the clone is the only I/O; turning what it holds into rows is pure.
"""

from __future__ import annotations

from datetime import datetime, timezone

from mirrord.identity import identity
from mirrord.index import index_path, parse_index
from mirrord.ledgerfile import LEDGER_DIR, channel_of, merge_rows, parse_ledger
from mirrord.log import get_logger
from mirrord.model import Channel, LedgerRow, Mirror, Source
from mirrord.publish import Workspace
from mirrord.render import fetched_time, page_parts, parse_metadata
from mirrord.state import State

log = get_logger()


def rebuilt_ledger(mirror: str, channels: list[Channel], workspace: Workspace,
                   now: datetime) -> tuple[list[LedgerRow], list[LedgerRow]]:
    """Return the ledger rows the mirror itself records: (live rows, oldest first; pruned rows)."""
    live = [row for channel in channels
            for path in reversed(parse_index(workspace.read_text(index_path(channel.name)) or ""))
            if (row := row_from_page(mirror, channel, path, workspace.read_text(path) or ""))]
    return live, pruned_rows(mirror, workspace.deleted_pages(), now)


def row_from_page(mirror: str, channel: Channel, path: str, page: str) -> LedgerRow | None:
    """Return the ledger row a page's metadata line gives for one channel listing it; None if it has none."""
    meta = parse_metadata(page)
    fetched = fetched_time(meta)
    if meta is None or fetched is None:
        return None
    return LedgerRow(mirror, channel.name, meta["id"], path, meta.get("title") or meta["id"], meta["url"],
                     meta["source"], fetched, key=identity(meta["url"]))


def unknown(path: str) -> str:
    """Return the identity of a pruned page whose link cannot be read: its path, which no link can equal."""
    return f"path:{path}"


def pruned_rows(mirror: str, deleted: dict[str, str], now: datetime) -> list[LedgerRow]:
    """Return a pruned row for each deleted page (path -> its metadata line), so that its article is never
    published again: known by its identity, or by its path alone when its metadata line cannot be read."""
    rows = []
    for path, line in deleted.items():
        channel, page_id = page_parts(path) or ("", "")
        if not page_id:
            continue
        meta = parse_metadata(line) or {}
        url = meta.get("url", "")
        rows.append(LedgerRow(mirror, channel, page_id, path, meta.get("title") or page_id, url,
                              meta.get("source", ""), now, pruned=True, key=identity(url) if url else unknown(path)))
    return rows


def settle_interrupted(mirror: Mirror, workspace: Workspace, state: State) -> None:
    """Settle a cycle a crash interrupted: its rows recorded if its commit was made, forgotten if not."""
    settled = state.settle_cycle(mirror.name, workspace.head())
    if settled is not None:
        log.warning("cycle.recovered", mirror=mirror.name, commit=workspace.head(),
                    error="an interrupted cycle " + ("had committed: recorded" if settled else "had not committed"))


def ledger_at(mirror: str, workspace: Workspace, commit: str) -> list[LedgerRow]:
    """Return the rows of the mirror's ledger in commit (none when it has no ledger)."""
    paths = [path for path in workspace.paths_under(commit, LEDGER_DIR) if channel_of(path)]
    contents = workspace.contents([f"{commit}:{path}" for path in paths])
    return merge_rows(row for path, data in zip(paths, contents, strict=True)
                      for row in parse_ledger(mirror, channel_of(path) or "", (data or b"").decode("utf-8")))


def head_ledger(mirror: Mirror, workspace: Workspace, state: State) -> str | None:
    """Return the git tree of the ledger in the clone's HEAD, None when it has none."""
    return ledger_tree_at(workspace, workspace.head(), state.ledger_tree(mirror.name))


def ledger_tree_at(workspace: Workspace, head: str | None, noted: tuple[str, str] | None) -> str | None:
    """Return the git tree of the ledger in commit head, None when it has none. A commit's tree never
    changes, so the one the state `noted` for this commit is taken without asking git: a cycle with nothing
    new runs no git."""
    if head is None:
        return None
    if noted is not None and noted[1] == head:
        return noted[0] or None
    return workspace.tree(head, LEDGER_DIR)


def take_ledger(mirror: Mirror, workspace: Workspace, state: State) -> bool:
    """Take the ledger of the clone's HEAD into the state when it changed since; return whether HEAD has one.
    A state that did not know the mirror (a fresh state_dir) gets every row of it."""
    head, noted = workspace.head(), state.ledger_tree(mirror.name)
    tree = ledger_tree_at(workspace, head, noted)
    if tree is not None and (noted is None or noted[0] != tree):
        fresh = not state.knows_mirror(mirror.name)
        rows = ledger_at(mirror.name, workspace, "HEAD")
        state.take_ledger(rows)
        if fresh:
            log.info("ledger.loaded", mirror=mirror.name, new=sum(not r.pruned for r in rows),
                     pruned=sum(r.pruned for r in rows))
    if noted != (tree or "", head or ""):
        state.note_ledger_tree(mirror.name, tree, head)
    if tree is None:
        return False
    state.note_mirror(mirror.name)
    return True


def recover_ledger(mirror: Mirror, sources: list[Source], workspace: Workspace, state: State) -> bool:
    """Take in the mirror's own ledger, or, for a mirror an older release made, rebuild the ledger from the
    mirror when the database was lost; return whether it was rebuilt (so guessed)."""
    if take_ledger(mirror, workspace, state):
        return False
    if state.knows_mirror(mirror.name) or workspace.head() is None:
        state.note_mirror(mirror.name)
        restore_identities(mirror, workspace, state)
        return False
    channels = [channel for source in sources for channel in source.channels]
    live, pruned = rebuilt_ledger(mirror.name, channels, workspace, datetime.now(timezone.utc))
    state.restore(live, pruned)
    state.note_mirror(mirror.name)
    log.warning("ledger.rebuilt", mirror=mirror.name, new=len(live), pruned=len(pruned))
    return True


def restore_identities(mirror: Mirror, workspace: Workspace, state: State) -> None:
    """Give the pruned pages an older release's rebuild knew by path alone their identity, read from their
    metadata lines in git history; done once (a page whose line cannot be read is known by its path)."""
    keyless = state.keyless_paths(mirror.name)
    if keyless:
        deleted = workspace.deleted_pages()
        lines = {path: deleted.get(path, "") for path in keyless}
        state.restore_identities(pruned_rows(mirror.name, lines, datetime.now(timezone.utc)))
