"""The only module that runs git: the mirror's working clone, commits, pushes and reading a remote.

Git runs through its command line (GitPython's `repo.git`), and each cycle opens and closes its
own Repo, because GitPython leaks in long-running processes. Only the paths a cycle changed are
staged: a mirror of 100k pages must not be scanned to commit 50.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import git

from mirrord.credentials import git_environment, secrets_of
from mirrord.errors import PublishError, without_secrets
from mirrord.log import get_logger
from mirrord.model import Mirror, PageFile

log = get_logger()
REMOTE_PREFIX = "mirrord-"
BATCH = 500


UNCHECKED = {"with_exceptions": False, "with_extended_output": True}
STALE_LOCKS = ("index.lock", "HEAD.lock", "config.lock", "packed-refs.lock", "shallow.lock")
WRITING_MARKER = "mirrord-writing"
STALE_INDEX_MARKER = "mirrord-index-stale"
LINKS_LOGGED = 20
MOVED = re.compile(r"fetch first|non-fast-forward")


class RemoteMoved(PublishError):
    """The remote has commits we do not have: fetch and rebase, never force."""


def read_remote(mirror: Mirror, url: str, state_dir: Path, environ: dict[str, str] | None = None) -> str | None:
    """Return the commit of the mirror's branch on the remote at url (None when it has no such branch yet),
    read with `git ls-remote` and the credentials a push would use; it changes nothing anywhere.
    Raise PublishError with git's reason, no secret in it, when the remote cannot be read."""
    environ = dict(os.environ if environ is None else environ)
    runner = git.Git()
    runner.update_environment(**git_environment(mirror, state_dir, environ))
    try:
        answer = runner.ls_remote(url, f"refs/heads/{mirror.branch}")
    except git.GitCommandError as error:
        raise PublishError(git_reason(error, secrets_of(mirror, environ))) from None
    return answer.split()[0] if answer.strip() else None


class Workspace:
    """mirrord's working clone of one mirror, open for one cycle."""

    def __init__(self, root: Path, mirror: Mirror, env: dict[str, str], secrets: list[str]):
        self.root = root
        self.mirror = mirror
        self.secrets = secrets
        self.env = env
        self.repo = git.Repo(root)
        self.git = self.repo.git
        self.git.update_environment(**env)

    @classmethod
    def open(cls, state_dir: Path, mirror: Mirror, environ: dict[str, str] | None = None) -> Workspace:
        """Return the mirror's clone: created (from its first remote when that has history), and brought
        back to its last commit if a cycle was interrupted there."""
        environ = dict(os.environ if environ is None else environ)
        root = state_dir / "repos" / mirror.name
        secrets = secrets_of(mirror, environ)
        try:
            if not (root / ".git").is_dir():
                root.mkdir(parents=True, exist_ok=True)
                git.Repo.init(root, initial_branch=mirror.branch).close()
            remove_stale_locks(root / ".git")
            workspace = cls(root, mirror, git_environment(mirror, state_dir, environ), secrets)
            workspace.git.config("core.symlinks", "false")  # before any checkout: see write()
            workspace.recover()
            workspace.configure_remotes()
            if workspace.head() is None:
                workspace.adopt_remote_history()
                workspace.report_links(None)
        except (OSError, git.GitError) as error:
            reason = without_secrets(str(error), secrets)
            raise PublishError(f"cannot prepare the working clone {root}: {reason}") from None
        return workspace

    def close(self) -> None:
        self.repo.close()

    def message(self, error: git.GitCommandError) -> str:
        return git_reason(error, self.secrets)

    def recover(self) -> None:
        """Undo what an interrupted cycle left: a rebase in progress, written but uncommitted files."""
        git_dir = self.root / ".git"
        if (git_dir / "rebase-merge").exists() or (git_dir / "rebase-apply").exists():
            self.git.rebase("--abort")
        if (git_dir / WRITING_MARKER).exists() and self.head() is not None:
            self.git.reset("-q", "--hard", "HEAD")
            self.git.clean("-q", "-f", "-d")
            (git_dir / STALE_INDEX_MARKER).unlink(missing_ok=True)
        (git_dir / WRITING_MARKER).unlink(missing_ok=True)

    def configure_remotes(self) -> None:
        """Make the clone's remotes exactly the configured ones, named mirrord-1, mirrord-2, ..."""
        wanted = dict(self.remote_names())
        present = set(self.git.remote().split())
        for name in present - wanted.keys():
            self.git.remote("remove", name)
        for name, url in wanted.items():
            if name not in present:
                self.git.remote("add", name, url)
            elif self.git.remote("get-url", name) != url:
                self.git.remote("set-url", name, url)
        self.git.config("core.quotepath", "false")
        self.git.config("commit.gpgsign", "false")
        self.git.config("gc.autoDetach", "false")

    def remote_names(self) -> list[tuple[str, str]]:
        return [(f"{REMOTE_PREFIX}{i}", url) for i, url in enumerate(self.mirror.remotes, 1)]

    def adopt_remote_history(self) -> None:
        """Start a new clone from the first remote's branch when it already has one."""
        for name, _ in self.remote_names()[:1]:
            try:
                self.git.fetch("-q", name, self.mirror.branch)
            except git.GitCommandError:
                return
            self.git.reset("-q", "--hard", "FETCH_HEAD")

    def head(self) -> str | None:
        try:
            return self.git.rev_parse("--verify", "-q", "HEAD")
        except git.GitCommandError:
            return None

    def read(self, path: str) -> bytes | None:
        """Return a file of the clone; None when it is missing or not a regular file inside the clone."""
        folder = self.folder_of(path, make=False)
        file = folder / posixpath.basename(path) if folder is not None else None
        return file.read_bytes() if file is not None and stat.S_ISREG(lstat(file)) else None

    def read_text(self, path: str) -> str | None:
        data = self.read(path)
        return data.decode("utf-8", errors="replace") if data is not None else None

    def deleted_pages(self) -> dict[str, str]:
        """Return path -> last line (its metadata line) of each page file the history deleted and HEAD does
        not have (pruned pages), as the page was just before its last deletion."""
        deleting: dict[str, str] = {}
        commit = ""
        for line in self.git.log("--diff-filter=D", "--name-only", "--format=%x00%H", "--", "pages").splitlines():
            if line.startswith("\0"):
                commit = line[1:]
            elif line.endswith(".md") and line not in deleting and not (self.root / line).exists():
                deleting[line] = commit
        specs = [f"{commit}^:{path}" for path, commit in deleting.items()]
        return dict(zip(deleting, self.last_lines(specs), strict=True))

    def last_lines(self, specs: list[str]) -> list[str]:
        """Return the last line of each object (`<commit>:<path>`), "" for one that is missing: `git cat-file
        --batch` a few hundred at a time, so that memory stays small however many pages were pruned."""
        lines: list[str] = []
        for start in range(0, len(specs), BATCH):
            chunk = specs[start:start + BATCH]
            answer = subprocess.run(["git", "cat-file", "--batch"], cwd=self.root, capture_output=True,
                                    input="".join(f"{spec}\n" for spec in chunk).encode("utf-8"), check=True).stdout
            lines += batch_last_lines(answer, len(chunk))
        return lines

    def write(self, files: list[PageFile], deleted: list[str]) -> None:
        """Write and delete files, marked as a cycle in progress until the commit, so a crash is undone.

        Nothing is written or deleted through a symbolic link: git checks links out as plain files here
        (core.symlinks is off), and a link or other odd file already on the way to a path we write (from a
        clone made before that, or put there by hand) is removed first and logged, so that a link someone
        pushed to a remote can never make mirrord write outside its clone."""
        (self.root / ".git" / WRITING_MARKER).touch()
        for path in deleted:
            folder = self.folder_of(path, make=False)
            target = folder / posixpath.basename(path) if folder is not None else None
            if target is not None and stat.S_ISDIR(lstat(target)):
                shutil.rmtree(target)
            elif target is not None:
                target.unlink(missing_ok=True)  # a link goes, never what it points to
        for file in files:
            target = self.folder_of(file.path, make=True) / posixpath.basename(file.path)
            mode = lstat(target)
            if mode and not stat.S_ISREG(mode):
                self.remove_odd_file(target, mode, file.path)
            handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with open(handle, "wb") as out:
                out.write(file.data)

    def folder_of(self, path: str, make: bool) -> Path | None:
        """Return the folder of path in the clone when every folder on the way is a real one. With make,
        missing folders are created and what stands in the way of one (a link, a file) is removed (logged);
        without, None when a folder on the way is missing or no real folder."""
        parts = [part for part in path.split("/")[:-1] if part not in ("", ".")]
        if ".." in parts:
            raise PublishError(f"refusing to write {path!r} in the clone: it leads out of it")
        folder = self.root
        for part in parts:
            folder = folder / part
            mode = lstat(folder)
            if stat.S_ISDIR(mode):
                continue
            if not make:
                return None
            if mode:
                self.remove_odd_file(folder, mode, path)
            folder.mkdir()
        return folder

    def remove_odd_file(self, file: Path, mode: int, writing: str) -> None:
        """Remove what stands where a folder or a regular file must be written, and say so."""
        what = f"a symbolic link to {os.readlink(file)}" if stat.S_ISLNK(mode) else \
            "a folder" if stat.S_ISDIR(mode) else "a file" if stat.S_ISREG(mode) else "a special file"
        if stat.S_ISDIR(mode):
            shutil.rmtree(file)
        else:
            file.unlink()
        log.warning("clone.unsafe_file", mirror=self.mirror.name, path=str(file.relative_to(self.root)),
                    error=f"{what} stood where {writing} is written; replaced (a remote's history may carry it)")

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

    def commit(self, files: list[PageFile], deleted: list[str], message: str) -> str | None:
        """Commit the files written and the paths deleted on top of HEAD. Return the commit, None if the tree
        did not change.

        The commit is built by `git fast-import` from HEAD's trees and the changed paths alone, without
        the index: its cost follows what changed, not how many pages the mirror holds. The index is left
        behind and brought back only when a worktree command needs it (`sync_index`)."""
        parent = self.head()
        stream = self.root / ".git" / "mirrord-import"
        stream.write_bytes(fast_import_stream(f"refs/heads/{self.mirror.branch}", parent, files, deleted, message,
                                              self.env))
        try:
            with open(stream, "rb") as commands:
                self.git.fast_import("--quiet", istream=commands)
            created = self.head()
            if parent and self.git.rev_parse(f"{created}^{{tree}}") == self.git.rev_parse(f"{parent}^{{tree}}"):
                self.git.update_ref(f"refs/heads/{self.mirror.branch}", parent, created)
                created = None
        except git.GitCommandError as error:
            raise PublishError(f"git commit failed in {self.root}: {self.message(error)}") from None
        finally:
            stream.unlink(missing_ok=True)
        (self.root / ".git" / WRITING_MARKER).unlink(missing_ok=True)
        (self.root / ".git" / STALE_INDEX_MARKER).touch()
        if created:
            self.git.gc("--auto", "--quiet")  # each import adds a small pack; repacked when they pile up
        return created

    def sync_index(self) -> None:
        """Make the index match HEAD again (commits bypass it) before a command that works in the worktree."""
        marker = self.root / ".git" / STALE_INDEX_MARKER
        if marker.exists() and self.head() is not None:
            self.git.reset("-q", "--hard", "HEAD")
        marker.unlink(missing_ok=True)

    def push(self, remote: str, lease: str | None = None) -> None:
        """Push the branch to remote (with --force-with-lease=lease when squashing). Raise RemoteMoved when
        the remote has commits of its own, PublishError for any other failure, with git's reason."""
        ref = f"refs/heads/{self.mirror.branch}"
        force = [f"--force-with-lease={ref}:{lease}"] if lease else []
        try:
            self.git.push("--porcelain", *force, remote, f"HEAD:{ref}")
        except git.GitCommandError as error:
            reason = self.message(error)
            raise (RemoteMoved if MOVED.search(reason) and not lease else PublishError)(reason) from None

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
        except (git.GitCommandError, PublishError) as error:
            self.git.rebase("--abort", **UNCHECKED)
            self.git.merge("--abort", **UNCHECKED)
            reason = self.message(error) if isinstance(error, git.GitCommandError) else str(error)
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


def fast_import_stream(ref: str, parent: str | None, files: list[PageFile], deleted: list[str], message: str,
                       environment: dict[str, str]) -> bytes:
    """Return the `git fast-import` commands of one commit: the files, the deletions, on top of parent."""
    when = f"{int(time.time())} +0000"
    author = f"{environment['GIT_AUTHOR_NAME']} <{environment['GIT_AUTHOR_EMAIL']}> {when}"
    committer = f"{environment['GIT_COMMITTER_NAME']} <{environment['GIT_COMMITTER_EMAIL']}> {when}"
    text = message.encode("utf-8")
    parts = [f"commit {ref}\nauthor {author}\ncommitter {committer}\ndata {len(text)}\n".encode(), text, b"\n"]
    if parent:
        parts.append(f"from {parent}\n".encode())
    parts += [f"D {quoted_path(path)}\n".encode() for path in deleted]
    for file in files:
        parts += [f"M 100644 inline {quoted_path(file.path)}\ndata {len(file.data)}\n".encode(), file.data, b"\n"]
    return b"".join(parts)


def batch_last_lines(answer: bytes, count: int) -> list[str]:
    """Return the last line of each of count objects in `git cat-file --batch` output ("" for a missing one)."""
    lines, position = [], 0
    for _ in range(count):
        end = answer.index(b"\n", position)
        header = answer[position:end].split()
        position = end + 1
        if len(header) != 3 or not header[2].isdigit():
            lines.append("")
            continue
        size = int(header[2])
        body = answer[position:position + size].rstrip(b"\n")
        lines.append(body[body.rfind(b"\n") + 1:].decode("utf-8", "replace"))
        position += size + 1
    return lines


def quoted_path(path: str) -> str:
    """Quote a path for fast-import when it could be misread (ids are safe file names, so rarely)."""
    if path.startswith('"') or any(c in path for c in "\n\\ "):
        return json.dumps(path, ensure_ascii=False)
    return path


def lstat(path: Path) -> int:
    """Return the mode of path itself (a link is not followed), 0 when there is nothing."""
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return 0


def git_reason(error: git.GitCommandError, secrets: list[str]) -> str:
    """Return git's own reason for a failure, on one line, with no secret in it."""
    text = " ".join(f"{error.stderr or ''} {error.stdout or ''}".split()) or f"git exited {error.status}"
    return without_secrets(text, secrets)


def remove_stale_locks(git_dir: Path) -> None:
    """Remove lock files a killed git left; safe because we hold the mirror's lock."""
    for name in STALE_LOCKS:
        (git_dir / name).unlink(missing_ok=True)
    refs = git_dir / "refs"
    for lock in refs.rglob("*.lock") if refs.is_dir() else ():
        lock.unlink(missing_ok=True)
