"""The only module that runs git: the mirror's working clone, its lock, commits and pushes.

Git runs through its command line (GitPython's `repo.git`), and each cycle opens and closes its
own Repo, because GitPython leaks in long-running processes. Only the paths a cycle changed are
staged: a mirror of 100k pages must not be scanned to commit 50.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import git

from mirrord.errors import LockHeld, PublishError
from mirrord.model import Mirror, PageFile

STAGE_BATCH = 500
URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")
REMOTE_PREFIX = "mirrord-"


def redact(text: str) -> str:
    """Remove credentials from any URL in text, so that git's messages can be logged."""
    return URL_CREDENTIALS.sub("***@", text)


@contextmanager
def mirror_lock(state_dir: Path, mirror: str, wait: float) -> Iterator[None]:
    """Hold the mirror's lock file; wait up to `wait` seconds, then raise LockHeld naming the holder."""
    path = state_dir / "locks" / f"{mirror}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise LockHeld(f"mirror {mirror} is being written by {holder} (lock {path}); "
                                   "try again when it is done") from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"mirrord pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def git_environment(mirror: Mirror, state_dir: Path) -> dict[str, str]:
    """Return the environment git runs with: our identity, no prompts, the deploy key if any."""
    name, _, email = mirror.author.partition(" <")
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email.rstrip(">"),
           "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email.rstrip(">")}
    if mirror.ssh_key:
        env["GIT_SSH_COMMAND"] = (
            f"ssh -i '{mirror.ssh_key}' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new "
            f"-o UserKnownHostsFile='{state_dir / 'known_hosts'}'")
    return env


class Workspace:
    """mirrord's working clone of one mirror, open for one cycle."""

    def __init__(self, root: Path, mirror: Mirror, env: dict[str, str]):
        self.root = root
        self.mirror = mirror
        self.repo = git.Repo(root)
        self.git = self.repo.git
        self.git.update_environment(**env)

    @classmethod
    def open(cls, state_dir: Path, mirror: Mirror) -> Workspace:
        """Return the mirror's clone, created (from its first remote when it has one) and cleaned up."""
        root = state_dir / "repos" / mirror.name
        try:
            if not (root / ".git").is_dir():
                root.mkdir(parents=True, exist_ok=True)
                git.Repo.init(root, initial_branch=mirror.branch).close()
            workspace = cls(root, mirror, git_environment(mirror, state_dir))
            workspace.configure_remotes()
            if workspace.head() is None:
                workspace.adopt_remote_history()
            else:
                workspace.discard_uncommitted()
        except (OSError, git.GitError) as error:
            raise PublishError(f"cannot prepare the working clone {root}: {redact(str(error))}") from None
        return workspace

    def close(self) -> None:
        self.repo.close()

    def configure_remotes(self) -> None:
        """Make the clone's remotes exactly the configured ones, named mirrord-1, mirrord-2, ..."""
        wanted = {f"{REMOTE_PREFIX}{i}": url for i, url in enumerate(self.mirror.remotes, 1)}
        present = set(self.git.remote().split())
        for name in present - wanted.keys():
            self.git.remote("remove", name)
        for name, url in wanted.items():
            self.git.remote("set-url" if name in present else "add", name, url)
        self.git.config("core.quotepath", "false")
        self.git.config("commit.gpgsign", "false")

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

    def discard_uncommitted(self) -> None:
        """Throw away what an interrupted cycle left; what matters is in commits and the ledger."""
        self.git.reset("-q", "--hard", "HEAD")
        self.git.clean("-q", "-f", "-d")

    def head(self) -> str | None:
        try:
            return self.git.rev_parse("--verify", "-q", "HEAD")
        except git.GitCommandError:
            return None

    def read(self, path: str) -> bytes | None:
        file = self.root / path
        return file.read_bytes() if file.is_file() else None

    def read_text(self, path: str) -> str | None:
        data = self.read(path)
        return data.decode("utf-8", errors="replace") if data is not None else None

    def deleted_pages(self) -> list[str]:
        """Return the page files the history deleted and HEAD does not have (pruned pages)."""
        deleted = self.git.log("--diff-filter=D", "--name-only", "--format=", "--", "pages").split()
        return [path for path in dict.fromkeys(deleted) if path.endswith(".md") and not (self.root / path).exists()]

    def write(self, files: list[PageFile]) -> None:
        for file in files:
            target = self.root / file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.data)

    def delete(self, paths: list[str]) -> None:
        for path in paths:
            target = self.root / path
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)

    def commit(self, written: list[str], deleted: list[str], message: str) -> str | None:
        """Stage exactly the paths written and deleted, and commit. Return the commit, None if nothing changed."""
        for start in range(0, len(written), STAGE_BATCH):
            self.git.add("--", *written[start:start + STAGE_BATCH])
        for start in range(0, len(deleted), STAGE_BATCH):
            self.git.rm("-q", "-r", "--cached", "--ignore-unmatch", "--", *deleted[start:start + STAGE_BATCH])
        status, _, _ = self.git.diff("--cached", "--quiet", with_extended_output=True, with_exceptions=False)
        if status == 0:
            return None
        try:
            self.git.commit("-q", "--no-verify", "-m", message)
        except git.GitCommandError as error:
            raise PublishError(f"git commit failed in {self.root}: {redact(str(error.stderr).strip())}") from None
        return self.head()

    def push(self, remote: str) -> None:
        """Push the branch to remote. Raise PublishError with git's reason, credentials removed."""
        try:
            self.git.push("-q", "--porcelain", remote, f"HEAD:refs/heads/{self.mirror.branch}")
        except git.GitCommandError as error:
            reason = " ".join(str(error.stderr).split()) or f"git exited {error.status}"
            raise PublishError(redact(reason)) from None
