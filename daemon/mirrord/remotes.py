"""The remote policy: which remotes to push and when, how to take in a remote that moved, when to squash.

Pushes never force: a remote with commits we lack is rebased onto (or merged, when rebasing would rewrite
commits another remote already has). Only a squash rewrites history, and its pushes are leased on what
each remote was last given.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from mirrord.errors import PublishError
from mirrord.log import get_logger
from mirrord.model import Mirror
from mirrord.outcome import Report, push_failure
from mirrord.publish import RemoteMoved, Workspace
from mirrord.retry import push_retry_at
from mirrord.state import State

log = get_logger()
PUSH_ROUNDS = 2  # a second round gives the remotes pushed before a later one moved HEAD the new HEAD
INTEGRATE_ATTEMPTS = 5  # another host may push again while we bring its commits in
# Bring in a remote that moved: (its name in the clone, whether our commits may be rewritten).
Integrate = Callable[[str, bool], None]


def catch_up(mirror: Mirror, workspace: Workspace, state: State, integrate: Integrate) -> None:
    """Before a cycle plans anything, take in what another host pushed to the first remote, so that it
    publishes nothing that host published: move to the remote's commit when it holds ours, bring it in when
    both moved. A remote that cannot be read is left to the push to report."""
    head = workspace.head()
    for name, url in workspace.remote_names()[:1]:
        try:
            theirs = workspace.fetch(name)
        except PublishError:
            return
        if head is None or theirs is None or theirs == head or workspace.is_ancestor(theirs, head):
            return
        if workspace.is_ancestor(head, theirs):
            workspace.move_to(theirs)
            return
        log.info("push.integrate", mirror=mirror.name, remote=url)
        integrate(name, not pushed_elsewhere(mirror, workspace, url, state))


def push_remotes(mirror: Mirror, workspace: Workspace, state: State, report: Report, backoff: bool,
                 integrate: Integrate) -> None:
    """Push to every remote that lacks HEAD, the first one first; one failing does not stop the others.
    With backoff (the daemon), a remote that failed waits its turn. Then squash the history if it grew
    past `squash_after`, and record the repository's size. A HEAD the state already recorded is not counted
    again: a cycle with nothing new runs no git process here."""
    if workspace.head() is None:
        return
    for round_ in range(PUSH_ROUNDS):
        for name, url in workspace.remote_names():
            if state.pushed_commit(mirror.name, url) == workspace.head() or url in report.failed_remotes:
                continue
            if backoff and not push_due(state, mirror.name, url):
                if round_ == 0:
                    log.info("push.deferred", mirror=mirror.name, remote=url)
                continue
            push_remote(mirror, workspace, (name, url), state, report, integrate)
    recorded = state.repository_record(mirror.name)
    unchanged = record_is_of(recorded, workspace.head())
    commits = recorded[1] if unchanged else history_length(mirror, workspace)
    if squash_due(mirror, commits) and not report.failures:
        squash_history(mirror, workspace, state, report, commits, integrate)
        commits, unchanged = workspace.commits_since(None), False
    if not unchanged:
        state.record_repository(mirror.name, workspace.head(), commits, workspace.size_bytes())


def pushed_everywhere(mirror: Mirror, head: str, state: State) -> bool:
    """Tell whether push_remotes would do nothing at HEAD `head`: every remote was given it, the repository's
    record is of it, and no squash is due. Asked from the state alone, without opening the clone."""
    recorded = state.repository_record(mirror.name)
    return (all(state.pushed_commit(mirror.name, url) == head for url in mirror.remotes)
            and record_is_of(recorded, head) and not squash_due(mirror, recorded[1]))


def record_is_of(recorded: tuple[str | None, int | None, int | None] | None, head: str | None) -> bool:
    """Tell whether the repository's record (HEAD, commits, size) is of this HEAD, its commits counted."""
    return recorded is not None and recorded[0] == head and recorded[1] is not None


def squash_due(mirror: Mirror, commits: int) -> bool:
    return bool(mirror.squash_after) and commits > mirror.squash_after


def history_length(mirror: Mirror, workspace: Workspace) -> int:
    """Return how many commits the branch has; a shallow clone (a fresh runner) is deepened just past
    `squash_after` for it, so that runners that never keep a clone still squash."""
    commits = workspace.commits_since(None)
    if mirror.squash_after and commits <= mirror.squash_after and workspace.is_shallow():
        workspace.deepen(by=mirror.squash_after - commits + 1)
        commits = workspace.commits_since(None)
    return commits


def push_due(state: State, mirror: str, url: str) -> bool:
    """Tell whether a remote may be pushed now: it has not failed, or its backoff has passed."""
    health = state.remote_health(mirror, url)
    retry_at = push_retry_at(health.failures, health.last_attempt)
    return retry_at is None or retry_at <= datetime.now(timezone.utc)


def push_remote(mirror: Mirror, workspace: Workspace, remote: tuple[str, str], state: State, report: Report,
                integrate: Integrate) -> None:
    """Push to one remote; if it moved, bring its commits in first (never force), again while another host
    keeps pushing. Record the outcome."""
    name, url = remote
    try:
        for attempt in range(INTEGRATE_ATTEMPTS + 1):
            try:
                workspace.push(name)
                break
            except RemoteMoved:
                if attempt == INTEGRATE_ATTEMPTS:
                    raise
                log.info("push.integrate", mirror=mirror.name, remote=url)
                integrate(name, not pushed_elsewhere(mirror, workspace, url, state))
    except PublishError as error:
        unpushed = workspace.commits_since(state.pushed_commit(mirror.name, url))
        failure = push_failure(mirror.name, url, error)
        log.warning("push.failed", mirror=mirror.name, remote=url, error=failure.message, hint=failure.hint,
                    unpushed=unpushed)
        state.push_failed(mirror.name, url, failure.message, unpushed)
        report.failures.append(failure)
        report.failed_remotes.add(url)
        return
    state.push_succeeded(mirror.name, url, workspace.head())
    report.pushed.append(url)
    log.info("push.done", mirror=mirror.name, remote=url, commit=workspace.head())


def pushed_elsewhere(mirror: Mirror, workspace: Workspace, url: str, state: State) -> bool:
    """Tell whether another remote has commits that rebasing onto `url`'s branch would rewrite."""
    others = [state.pushed_commit(mirror.name, other) for _, other in workspace.remote_names() if other != url]
    return any(sha and not workspace.is_ancestor(sha, "FETCH_HEAD") for sha in others)


def squash_history(mirror: Mirror, workspace: Workspace, state: State, report: Report, count: int,
                   integrate: Integrate) -> None:
    """Replace the history by one commit with the same tree and force-push it, each push leased on the
    commit that remote was last given, so that a remote that moved meanwhile is never overwritten: its
    commits are brought in instead and pushed on top (that remote keeps its history until a later squash)."""
    before = workspace.head()
    single = workspace.squash(f"mirrord: history squashed ({count} commits, squash_after = {mirror.squash_after})")
    log.info("commit.squashed", mirror=mirror.name, commit=single, pruned=count)
    for name, url in workspace.remote_names():
        try:
            workspace.push(name, lease=before)
        except RemoteMoved:
            log.info("push.integrate", mirror=mirror.name, remote=url)
            push_remote(mirror, workspace, (name, url), state, report, integrate)
            continue
        except PublishError as error:
            failure = push_failure(mirror.name, url, error)
            log.warning("push.failed", mirror=mirror.name, remote=url, error=failure.message, hint=failure.hint)
            state.push_failed(mirror.name, url, failure.message, 1)
            report.failures.append(failure)
            continue
        state.push_succeeded(mirror.name, url, single)
        log.info("push.done", mirror=mirror.name, remote=url, commit=single)
