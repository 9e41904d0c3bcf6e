"""Bring in a remote that moved (another host ran the mirror, or squashed it): the two ledgers merged as sets.

No git merge of the files: the rows of both sides' ledgers are merged (an article recorded by both is one
row, pruned by either is pruned), the branch is moved onto the remote's commit, and one commit on top puts
back the pages of ours it lacks, prunes what `keep` now drops and writes the indexes, README and ledger
anew from the merged rows. So nothing is published twice, nothing is lost, and it works the same on a
shallow clone and after either side squashed the history. A side without a ledger (a mirror an older
release made) is brought in by git's rebase or merge, as before.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from mirrord.commit import commit_plan
from mirrord.ledger import FetchPlan, LedgerView, plan_commit
from mirrord.ledgerfile import LEDGER_DIR, merge_rows, row_identity
from mirrord.model import LedgerRow, Mirror, PageFile, Source
from mirrord.publish import Workspace
from mirrord.rebuild import ledger_at, recover_ledger, settle_interrupted
from mirrord.remotes import Integrate, catch_up
from mirrord.state import State


def integrate_remote(mirror: Mirror, sources: list[Source], workspace: Workspace, state: State, remote: str,
                     rewrite: bool) -> None:
    """Bring the remote's commits in under ours; without rewrite (ours went to another remote already), our
    commit stays in the history as a merged parent. Raise PublishError when git fails."""
    before = workspace.head()
    theirs = workspace.fetch(remote)
    if theirs is None or before is None:
        return
    if workspace.tree(theirs, LEDGER_DIR) is None or workspace.tree(before, LEDGER_DIR) is None:
        workspace.integrate(remote, rewrite)
        return
    their_rows = {row_identity(row): row for row in ledger_at(mirror.name, workspace, theirs)}
    rows = merge_rows([*ledger_at(mirror.name, workspace, before), *their_rows.values()])
    state.take_ledger(rows)
    workspace.move_to(theirs, ours=before)
    carried = our_pages(workspace, rows, before, theirs)
    now = datetime.now(timezone.utc)
    view = LedgerView(mirror.name, tuple(state.ledger_rows(mirror.name, (), ())), state.top_ordinal(mirror.name))
    channels = [channel.name for source in sources for channel in source.channels]
    plan = plan_commit(view, mirror.keep, channels, FetchPlan(), [], now)
    lacking = [row for row in rows if their_rows.get(row_identity(row)) != row]
    deleted = plan.deleted + pruned_here(rows, their_rows)
    plan = replace(plan, new_rows=lacking + plan.new_rows, deleted=deleted, carried=kept(carried, deleted),
                   merge=None if rewrite else before, base=before)
    commit_plan(plan, mirror, sources, sources, workspace, state, now)
    workspace.moved_back()
    state.note_ledger_tree(mirror.name, workspace.tree("HEAD", LEDGER_DIR), workspace.head())


def our_pages(workspace: Workspace, rows: list[LedgerRow], ours: str, theirs: str) -> list[PageFile]:
    """Return the files of the live pages our commit has and theirs has not (with their pictures)."""
    present = set(workspace.paths_under(theirs, "pages", recursive=True))
    missing = [path for path in dict.fromkeys(row.path for row in rows if not row.pruned) if path not in present]
    return workspace.files_at(ours, [p for path in missing for p in page_files(path)])


def pruned_here(rows: list[LedgerRow], their_rows: dict[tuple[str, str], LedgerRow]) -> list[str]:
    """Return the files of the pages we pruned that the remote still has, unless a live row shows them."""
    shown = {row.path for row in rows if not row.pruned}
    stale = [row.path for row in rows if row.pruned and row.path not in shown
             and not getattr(their_rows.get(row_identity(row)), "pruned", True)]
    return [path for stale_path in dict.fromkeys(stale) for path in page_files(stale_path)]


def page_files(path: str) -> list[str]:
    """Return the paths a page may have: itself, its QR code, its folder of pictures."""
    return [path, f"{path}.png", path.removesuffix(".md") + ".files"]


def kept(files: list[PageFile], deleted: list[str]) -> list[PageFile]:
    """Return the files that are not deleted, nor inside a deleted folder."""
    gone = set(deleted)
    return [file for file in files
            if file.path not in gone and not any(file.path.startswith(f"{folder}/") for folder in gone)]


def prepare(mirror: Mirror, sources: list[Source], workspace: Workspace, state: State,
            integrate: Integrate | None) -> bool:
    """Before planning: settle what a crash left, take in what other hosts pushed (when pushing), take the
    mirror's ledger into the state; return whether the ledger had to be rebuilt (a mirror without one)."""
    settle_interrupted(mirror, workspace, state)
    if integrate is not None:
        catch_up(mirror, workspace, state, integrate)
    return recover_ledger(mirror, sources, workspace, state)
