"""The only module that runs git: the mirror's working clone, commits, pushes and reading a remote.

Git runs through its command line (GitPython's `repo.git`), and each cycle opens and closes its
own Repo, because GitPython leaks in long-running processes. Only the paths a cycle changed are
staged: a mirror of 100k pages must not be scanned to commit 50. GitPython is imported, and the Repo
made, when git first has to run: HEAD and the clone's settings are read from its files (`gitfiles`), so
that a cycle with nothing new loads neither.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from mirrord.clonefiles import CloneFiles
from mirrord.credentials import git_environment, secrets_of
from mirrord.errors import PublishError, without_secrets
from mirrord.gitfiles import clone_settings, head_commit
from mirrord.gitimport import Import
from mirrord.gitstreams import batch_contents, fast_import_stream
from mirrord.ledgerfile import LEDGER_DIR
from mirrord.log import get_logger
from mirrord.model import Mirror, PageFile

if TYPE_CHECKING:
    import git

log = get_logger()
REMOTE_PREFIX = "mirrord-"
BATCH = 500


UNCHECKED = {"with_exceptions": False, "with_extended_output": True}
STALE_LOCKS = ("index.lock", "HEAD.lock", "config.lock", "packed-refs.lock", "shallow.lock")
WRITING_MARKER = "mirrord-writing"
INTEGRATING_MARKER = "mirrord-integrating"  # "<our commit> <the remote's>" while the branch is moved onto theirs
STALE_INDEX_MARKER = "mirrord-index-stale"
LINKS_LOGGED = 20
# What an interrupted cycle leaves in .git for `recover` to undo.
UNDONE_ON_OPEN = frozenset({"rebase-merge", "rebase-apply", INTEGRATING_MARKER, WRITING_MARKER})
# The remote has commits we lack: told before the push (fetch first, non-fast-forward, a lease's stale info), or
# by the remote when another push updated the branch while ours was being received.
MOVED = re.compile(r"fetch first|non-fast-forward|stale info|is at [0-9a-f]+ but expected")
# The clone's own settings: links checked out as plain files (see write()), paths in git's output as they are,
# no signing, gc in the foreground.
CLONE_SETTINGS = {"core.symlinks": "false", "core.quotepath": "false", "commit.gpgsign": "false",
                  "gc.autoDetach": "false"}


class RemoteMoved(PublishError):
    """The remote has commits we do not have: fetch and rebase, never force."""


def gitpython() -> ModuleType:
    """Return GitPython, imported when git first has to run (also in an `except` clause, evaluated only when
    something was raised)."""
    import git

    return git


def read_remote(mirror: Mirror, url: str, state_dir: Path, environ: dict[str, str] | None = None) -> str | None:
    """Return the commit of the mirror's branch on the remote at url (None when it has no such branch yet),
    read with `git ls-remote` and the credentials a push would use; it changes nothing anywhere.
    Raise PublishError with git's reason, no secret in it, when the remote cannot be read."""
    environ = dict(os.environ if environ is None else environ)
    runner = gitpython().Git()
    runner.update_environment(**git_environment(mirror, state_dir, environ))
    try:
        answer = runner.ls_remote(url, f"refs/heads/{mirror.branch}")
    except gitpython().GitCommandError as error:
        raise PublishError(git_reason(error, secrets_of(mirror, environ))) from None
    return answer.split()[0] if answer.strip() else None


class Workspace:
    """mirrord's working clone of one mirror, open for one cycle."""

    def __init__(self, root: Path, mirror: Mirror, env: dict[str, str], secrets: list[str]):
        self.root = root
        self.mirror = mirror
        self.secrets = secrets
        self.env = env
        self.files = CloneFiles(root, mirror.name)

    @cached_property
    def repo(self) -> git.Repo:
        """GitPython's Repo of the clone, made when git first has to run. Raise PublishError when the clone
        is no git repository (a part of its .git removed by hand), as opening it did when it was made there."""
        module = gitpython()
        try:
            repo = module.Repo(self.root)
        except module.GitError as error:
            raise PublishError(f"cannot prepare the working clone {self.root}: {error}") from None
        repo.git.update_environment(**self.env)
        return repo

    @property
    def git(self) -> git.Git:
        return self.repo.git

    @classmethod
    def open(cls, state_dir: Path, mirror: Mirror, environ: Mapping[str, str] | None = None,
             shallow: bool = False) -> Workspace:
        """Return the mirror's clone: created (from its first remote when that has history; its last commit
        only when shallow), and brought back to its last commit if a cycle was interrupted there."""
        environ = os.environ if environ is None else environ  # read only: a copy decodes every variable
        root = state_dir / "repos" / mirror.name
        secrets = secrets_of(mirror, environ)
        try:
            if not (root / ".git").is_dir():
                root.mkdir(parents=True, exist_ok=True)
                gitpython().Repo.init(root, initial_branch=mirror.branch).close()
            remove_stale_locks(root / ".git")
            workspace = cls(root, mirror, git_environment(mirror, state_dir, environ), secrets)
            settings = workspace.settings()
            workspace.configure(settings)  # before any checkout: core.symlinks, see write()
            workspace.recover()
            workspace.configure_remotes(settings)
            if workspace.head() is None:
                workspace.adopt_remote_history(shallow)
                workspace.report_links(None)
        except (OSError, gitpython().GitError) as error:
            reason = without_secrets(str(error), secrets)
            raise PublishError(f"cannot prepare the working clone {root}: {reason}") from None
        return workspace

    @classmethod
    def settled(cls, state_dir: Path, mirror: Mirror) -> Workspace | None:
        """Return the mirror's clone as it is, for reading its files and HEAD, without preparing it as `open` does
        (nor running git); None when there is no clone yet or an interrupted cycle left something to undo."""
        root = state_dir / "repos" / mirror.name
        try:
            if UNDONE_ON_OPEN & set(os.listdir(root / ".git")):
                return None
        except (FileNotFoundError, NotADirectoryError):
            return None
        return cls(root, mirror, {}, secrets_of(mirror, os.environ))

    def close(self) -> None:
        if "repo" in self.__dict__:
            self.repo.close()

    def message(self, error: git.GitCommandError) -> str:
        return git_reason(error, self.secrets)

    def recover(self) -> None:
        """Undo what an interrupted cycle left: a rebase in progress, written but uncommitted files."""
        git_dir = self.root / ".git"
        if not UNDONE_ON_OPEN & set(os.listdir(git_dir)):
            return  # nothing to undo: one listing of .git, as each cycle asks
        if (git_dir / "rebase-merge").exists() or (git_dir / "rebase-apply").exists():
            self.git.rebase("--abort")
        integrating = git_dir / INTEGRATING_MARKER
        if integrating.exists():
            ours, _, theirs = integrating.read_text().partition(" ")
            if self.head() == theirs.strip():
                self.git.reset("-q", "--hard", ours)  # the commit on top of theirs was not made: start again
            integrating.unlink()
        if (git_dir / WRITING_MARKER).exists() and self.head() is not None:
            self.git.reset("-q", "--hard", "HEAD")
            self.git.clean("-q", "-f", "-d")
            (git_dir / STALE_INDEX_MARKER).unlink(missing_ok=True)
        (git_dir / WRITING_MARKER).unlink(missing_ok=True)

    def configure(self, settings: dict[str, str]) -> None:
        """Give the clone (whose `settings` these are) the ones mirrord relies on that it lacks."""
        self.set_config({key: value for key, value in CLONE_SETTINGS.items() if settings.get(key.lower()) != value})

    def set_config(self, settings: dict[str, str]) -> None:
        """Write `section.key` settings into the clone's config file in one go, by GitPython's config writer,
        which takes git's lock on the file: a `git config` process for each cost a new clone a dozen ms."""
        if settings:
            with self.repo.config_writer() as writer:
                for key, value in settings.items():
                    section, _, option = key.partition(".")
                    writer.set_value(section, option, value)

    def configure_remotes(self, settings: dict[str, str]) -> None:
        """Make the clone's remotes (its `settings` tell them) exactly the configured ones, named mirrord-1,
        mirrord-2, ...; git runs only for a remote that differs."""
        wanted = dict(self.remote_names())
        present = {key[len("remote."):key.rindex(".")] for key in settings if key.startswith("remote.")}
        for name in present - wanted.keys():
            self.git.remote("remove", name)
        for name, url in wanted.items():
            if name not in present:
                self.git.remote("add", name, url)
            elif settings.get(f"remote.{name}.url") != url:
                self.git.remote("set-url", name, url)

    def settings(self) -> dict[str, str]:
        """Return the clone's own settings (`.git/config`) as `section.subsection.key` -> last value (section
        and key in lower case, as git compares them), read without running git: a cycle with nothing new
        must not pay a git process for each setting."""
        return clone_settings(self.root / ".git" / "config")

    def remote_names(self) -> list[tuple[str, str]]:
        return [(f"{REMOTE_PREFIX}{i}", url) for i, url in enumerate(self.mirror.remotes, 1)]

    def adopt_remote_history(self, shallow: bool) -> None:
        """Start a new clone from the first remote's branch when it already has one (its last commit only
        when shallow). Of a mirror with its own ledger, the clone leaves the pages out of its files: the
        ledger holds what the history would tell, commits are built from git's trees, and a fresh runner
        on a mirror of 100k pages need not write 100k files. A new mirror's clone (no history to adopt)
        leaves them out too: its ledger is written from its first commit. Such a clone never writes a
        page's files (`write`): a cycle's pages go into git only, not a second time onto the disk."""
        for name, _ in self.remote_names()[:1]:
            try:
                self.git.fetch("-q", *(["--depth", "1"] if shallow else []), name, self.mirror.branch)
            except gitpython().GitCommandError:
                break
            if self.tree("FETCH_HEAD", LEDGER_DIR):
                self.leave_out_pages()
            self.git.reset("-q", "--hard", "FETCH_HEAD")
            return
        self.leave_out_pages()

    def leave_out_pages(self) -> None:
        """Check out every file but the pages (a sparse checkout): they are read from the last commit when
        needed (`read`), and `write` leaves them out too."""
        self.set_config({"core.sparseCheckout": "true"})
        (self.root / ".git" / "info").mkdir(exist_ok=True)
        (self.root / ".git" / "info" / "sparse-checkout").write_text("/*\n!/pages/\n")

    def fetch(self, remote: str) -> str | None:
        """Fetch the mirror's branch from remote; return its commit, None when the remote has no such branch.
        Raise PublishError with git's reason when the remote cannot be read."""
        try:
            if not self.git.ls_remote(remote, f"refs/heads/{self.mirror.branch}").strip():
                return None
            self.git.fetch("-q", remote, self.mirror.branch)
        except gitpython().GitCommandError as error:
            raise PublishError(f"could not fetch from the remote: {self.message(error)}") from None
        return self.git.rev_parse("FETCH_HEAD")

    def move_to(self, commit: str, ours: str | None = None) -> None:
        """Make the branch, the index and the files those of commit (a remote's, holding all of ours, or, with
        ours, about to get our pages back: until `moved_back`, an interrupted cycle returns to ours)."""
        before = self.head()
        self.sync_index()
        if ours:
            (self.root / ".git" / INTEGRATING_MARKER).write_text(f"{ours} {commit}")
        self.git.reset("-q", "--hard", commit)
        self.report_links(before)

    def moved_back(self) -> None:
        """Say that the commit putting our pages back on the remote's is made (see move_to)."""
        (self.root / ".git" / INTEGRATING_MARKER).unlink(missing_ok=True)

    def is_shallow(self) -> bool:
        return (self.root / ".git" / "shallow").exists()

    def deepen(self, by: int | None = None) -> None:
        """Fetch the history of a shallow clone (by commits more, or all of it), for what only the history
        tells: how long it is (`squash_after`), the pruned pages of a mirror without a ledger of its own."""
        for name, _ in self.remote_names()[:1]:
            if self.is_shallow():
                more = f"--deepen={by}" if by else "--unshallow"
                self.git.fetch("-q", more, name, self.mirror.branch, **UNCHECKED)

    def tree(self, commit: str, path: str) -> str | None:
        """Return the git tree (or blob) at path in commit; None when commit does not have it."""
        found = self.git.rev_parse("-q", "--verify", f"{commit}:{path}", **UNCHECKED)
        return found[1] if found[0] == 0 else None

    def paths_under(self, commit: str, folder: str, recursive: bool = False) -> list[str]:
        """Return the paths of the files in folder in commit (directly in it unless recursive)."""
        deep = ["-r"] if recursive else []
        return self.git.ls_tree(*deep, "--name-only", "--full-tree", commit, "--", f"{folder}/").splitlines()

    def files_at(self, commit: str, paths: list[str]) -> list[PageFile]:
        """Return the files at or under the paths in commit (a page, its picture, its folder of pictures)."""
        if not paths:
            return []
        found = []
        for start in range(0, len(paths), BATCH):
            listing = self.git.ls_tree("-r", "--full-tree", commit, "--", *paths[start:start + BATCH])
            found += [line.partition("\t")[2] for line in listing.splitlines() if line.split()[1] == "blob"]
        contents = self.contents([f"{commit}:{path}" for path in found])
        return [PageFile(path, data) for path, data in zip(found, contents, strict=True) if data is not None]

    def head(self) -> str | None:
        """Return HEAD's commit, None before the first one; read from the refs without running git, as a
        cycle asks several times."""
        return head_commit(self.root / ".git")

    def read(self, path: str) -> bytes | None:
        """Return a file of the clone; None when it is missing or not a regular file inside the clone. A page
        that a sparse checkout left out (see `leave_out_pages`) is read from the last commit, so that
        feeds and rebuild see every page on a fresh runner too."""
        data = self.files.read(path)
        if data is None and path.startswith("pages/") and self.is_sparse():
            return self.committed(path)
        return data

    def read_many(self, paths: list[str]) -> dict[str, bytes | None]:
        """Return `read` of each path, the pages a sparse checkout left out read from the last commit in
        batches (`rebuild` reads every page: one git process a page made it three times slower)."""
        found = {path: self.files.read(path) for path in paths}
        missing = [path for path, data in found.items() if data is None and path.startswith("pages/")]
        head = self.head()
        if missing and head is not None and self.is_sparse():
            found.update(zip(missing, self.contents([f"{head}:{path}" for path in missing]), strict=True))
        return found

    def signature(self, path: str) -> tuple[int, ...] | None:
        return self.files.signature(path)

    def is_sparse(self) -> bool:
        return (self.root / ".git" / "info" / "sparse-checkout").exists()

    def committed(self, path: str) -> bytes | None:
        """Return a file of the last commit, None when it has none there (read by git's cat-file process)."""
        try:
            blob = self.repo.head.commit.tree / path
        except (KeyError, ValueError):
            return None
        return blob.data_stream.read() if blob.type == "blob" else None

    def read_text(self, path: str) -> str | None:
        data = self.read(path)
        return data.decode("utf-8", errors="replace") if data is not None else None

    def deleted_pages(self) -> dict[str, str]:
        """Return path -> last line (its metadata line) of each page file the history deleted and HEAD does
        not have (pruned pages), as the page was just before its last deletion."""
        self.deepen()
        deleting: dict[str, str] = {}
        commit = ""
        for line in self.git.log("--diff-filter=D", "--name-only", "--format=%x00%H", "--", "pages").splitlines():
            if line.startswith("\0"):
                commit = line[1:]
            elif line.endswith(".md") and line not in deleting and self.read(line) is None:
                deleting[line] = commit
        specs = [f"{commit}^:{path}" for path, commit in deleting.items()]
        return dict(zip(deleting, self.last_lines(specs), strict=True))

    def last_lines(self, specs: list[str]) -> list[str]:
        """Return the last line of each object (`<commit>:<path>`), "" for one that is missing."""
        lines = []
        for body in self.contents(specs):
            body = (body or b"").rstrip(b"\n")
            lines.append(body[body.rfind(b"\n") + 1:].decode("utf-8", "replace"))
        return lines

    def contents(self, specs: list[str]) -> list[bytes | None]:
        """Return the bytes of each object (`<commit>:<path>`), None for one that is missing: `git cat-file
        --batch` a few hundred at a time."""
        found: list[bytes | None] = []
        for start in range(0, len(specs), BATCH):
            chunk = specs[start:start + BATCH]
            answer = subprocess.run(["git", "cat-file", "--batch"], cwd=self.root, capture_output=True,
                                    input="".join(f"{spec}\n" for spec in chunk).encode("utf-8"), check=True).stdout
            found += batch_contents(answer, len(chunk))
        return found

    def write(self, files: list[PageFile], deleted: list[str]) -> None:
        """Write and delete files, marked as a cycle in progress until the commit, so a crash is undone.
        Nothing is written or deleted through a symbolic link (see `clonefiles`)."""
        (self.root / ".git" / WRITING_MARKER).touch()
        for path in deleted:
            self.files.delete(path)
        sparse = self.is_sparse()
        self.files.write(file for file in files if not (sparse and file.path.startswith("pages/")))

    def report_links(self, before: str | None) -> None:
        """Log the symbolic links (and submodules) that the commits from before to HEAD (all of HEAD without
        before) brought from a remote: they are plain files in the clone, replaced if mirrord writes there."""
        head = self.head()
        if head is None or head == before:
            return
        if before is None:
            listing, mode_field = self.git.ls_tree("-r", head), 0
        else:
            listing, mode_field = self.git.diff_tree("-r", "--no-renames", before, head), 1
        links = [path for fields, _, path in (line.partition("\t") for line in listing.splitlines())
                 if fields.split()[mode_field] in ("120000", "160000")]
        for path in links[:LINKS_LOGGED]:
            log.warning("clone.unsafe_file", mirror=self.mirror.name, path=path,
                        error="a remote's history carries a symbolic link or submodule here: it is a plain file in "
                              "mirrord's clone, replaced if mirrord writes this path; remove it from the remote")
        if len(links) > LINKS_LOGGED:
            log.warning("clone.unsafe_file", mirror=self.mirror.name, path="",
                        error=f"{len(links) - LINKS_LOGGED} more symbolic links or submodules came from a remote")

    def start_commit(self, pages: list[PageFile]) -> Import:
        """Start the next commit's `git fast-import`, these pages' contents sent to it while the rest of the
        commit is made (see `gitimport`); `commit` ends it."""
        return Import(self.root, {**os.environ, **self.env}, pages)

    def commit(self, files: list[PageFile], deleted: list[str], message: str, merge: str | None = None,
               started: Import | None = None) -> str | None:
        """Commit the files written and the paths deleted on top of HEAD (merging the commit `merge` when
        given), through the import `started` when given. Return the commit, None if the tree did not change.

        The commit is built by `git fast-import` from HEAD's trees and the changed paths alone, without
        the index: its cost follows what changed, not how many pages the mirror holds. The index is left
        behind and brought back only when a worktree command needs it (`sync_index`)."""
        parent = self.head()
        importing = started or self.start_commit([])
        failure = importing.finish(fast_import_stream(f"refs/heads/{self.mirror.branch}", parent, files, deleted,
                                                      message, self.env, merge, importing.marks))
        if failure:
            raise PublishError(f"git commit failed in {self.root}: {without_secrets(failure, self.secrets)}")
        try:
            created = self.head()
            if parent and not merge and self.same_tree(created, parent):
                self.git.update_ref(f"refs/heads/{self.mirror.branch}", parent, created)
                created = None
        except gitpython().GitCommandError as error:
            raise PublishError(f"git commit failed in {self.root}: {self.message(error)}") from None
        (self.root / ".git" / WRITING_MARKER).unlink(missing_ok=True)
        (self.root / ".git" / STALE_INDEX_MARKER).touch()
        if created:
            self.git.gc("--auto", "--quiet")  # each import adds a small pack; repacked when they pile up
        return created

    def same_tree(self, commit: str, other: str) -> bool:
        return self.git.rev_parse(f"{commit}^{{tree}}") == self.git.rev_parse(f"{other}^{{tree}}")

    def sync_index(self) -> None:
        """Make the index match HEAD again (commits bypass it) before a command that works in the worktree."""
        marker = self.root / ".git" / STALE_INDEX_MARKER
        if marker.exists() and self.head() is not None:
            self.git.reset("-q", "--hard", "HEAD")
        marker.unlink(missing_ok=True)

    def push(self, remote: str, lease: str | None = None) -> None:
        """Push the branch to remote (with --force-with-lease=lease when squashing). Raise RemoteMoved when
        the remote has commits of its own (or, leased, moved since), PublishError for any other failure, with
        git's reason."""
        ref = f"refs/heads/{self.mirror.branch}"
        force = [f"--force-with-lease={ref}:{lease}"] if lease else []
        try:
            self.git.push("--porcelain", *force, remote, f"HEAD:{ref}")
        except gitpython().GitCommandError as error:
            reason = self.message(error)
            raise (RemoteMoved if MOVED.search(reason) else PublishError)(reason) from None

    def integrate(self, remote: str, rewrite: bool) -> None:
        """Bring the remote's commits in: rebase ours onto them when none of ours was pushed anywhere yet
        (rewrite), merge otherwise, so that no pushed commit is ever rewritten. Where both sides changed a
        file, ours wins: indexes and README are regenerated from the ledger, pages only added or pruned by us."""
        before = self.head()
        try:
            self.sync_index()
            self.git.fetch("-q", remote, self.mirror.branch)
            if rewrite:
                self.settle_conflicts(self.git.rebase("-X", "theirs", "FETCH_HEAD", **UNCHECKED)[0], "REBASE_HEAD",
                                      lambda: self.git.rebase("--continue", **UNCHECKED)[0])
            else:
                self.settle_conflicts(self.git.merge("--no-edit", "-X", "ours", "FETCH_HEAD", **UNCHECKED)[0], "HEAD",
                                      lambda: self.git.commit("-q", "--no-edit", "--no-verify", **UNCHECKED)[0])
        except (gitpython().GitCommandError, PublishError) as error:
            self.git.rebase("--abort", **UNCHECKED)
            self.git.merge("--abort", **UNCHECKED)
            reason = self.message(error) if isinstance(error, gitpython().GitCommandError) else str(error)
            raise PublishError(f"could not bring in the remote's new commits: {reason}") from None
        self.report_links(before)

    def settle_conflicts(self, status: int, ours: str, proceed) -> None:
        """Resolve each stopped step with our side (`ours` names it) and go on, a bounded number of times."""
        for _ in range(self.commits_since("FETCH_HEAD") + 2):
            if status == 0:
                return
            for path in self.git.diff("--name-only", "--diff-filter=U").splitlines():
                if self.git.cat_file("-e", f"{ours}:{path}", **UNCHECKED)[0]:
                    self.git.rm("-q", "--", path)
                else:
                    self.git.checkout(ours, "--", path)
                    self.git.add("--", path)
            status = proceed()
        raise PublishError("conflicts remained after taking our side")

    def is_ancestor(self, older: str | None, newer: str) -> bool:
        """Tell whether commit older is in newer's history (None, an unknown commit: no)."""
        return bool(older) and self.git.merge_base("--is-ancestor", older, newer, **UNCHECKED)[0] == 0

    def commits_since(self, base: str | None) -> int:
        """Return how many commits HEAD has that base does not (all of them without a base)."""
        if self.head() is None:
            return 0
        span = f"{base}..HEAD" if base and self.has_commit(base) else "HEAD"
        return int(self.git.rev_list("--count", span))

    def has_commit(self, sha: str) -> bool:
        return self.git.cat_file("-e", f"{sha}^{{commit}}", **UNCHECKED)[0] == 0

    def squash(self, message: str) -> str:
        """Replace the history by one commit holding the same tree; return it."""
        single = self.git.commit_tree("HEAD^{tree}", "-m", message)
        self.git.update_ref(f"refs/heads/{self.mirror.branch}", single)
        return single

    def size_bytes(self) -> int:
        """Return the size of the repository's objects on disk."""
        counts = dict(line.split(": ", 1) for line in self.git.count_objects("-v").splitlines())
        return (int(counts.get("size", 0)) + int(counts.get("size-pack", 0))) * 1024


def git_reason(error: git.GitCommandError, secrets: list[str]) -> str:
    """Return git's own reason for a failure, on one line, with no secret in it."""
    text = " ".join(f"{error.stderr or ''} {error.stdout or ''}".split()) or f"git exited {error.status}"
    return without_secrets(text, secrets)


def remove_stale_locks(git_dir: Path) -> None:
    """Remove lock files a killed git left; safe because we hold the mirror's lock. Done each cycle: only the
    lock files there are removed (one listing of .git, str paths: pathlib's cost more than the rest)."""
    folder = str(git_dir)
    for name in set(STALE_LOCKS) & set(os.listdir(folder)):
        Path(folder, name).unlink(missing_ok=True)
    for refs, _, names in os.walk(os.path.join(folder, "refs")):  # half the cost of pathlib's rglob
        for name in names:
            if name.endswith(".lock"):
                Path(refs, name).unlink(missing_ok=True)
