"""gitfiles reads HEAD and the clone's settings as git itself does: each answer is checked against git's own
(`git rev-parse`, `git config --list`) on real repositories. The Workspace reads them so, and makes GitPython's
Repo only when git has to run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mirrord.errors import PublishError
from mirrord.gitfiles import clone_settings, head_commit
from mirrord.publish import Workspace, remove_stale_locks

from values import mirror


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def commit(repo: Path, message: str) -> str:
    git(repo, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def test_head_is_none_before_the_first_commit_then_follows_the_branch_loose_packed_and_detached(tmp_path):
    repo = tmp_path / "clone"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    assert head_commit(repo / ".git") is None
    first = commit(repo, "one")
    assert head_commit(repo / ".git") == first
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert head_commit(repo / ".git") == first
    second = commit(repo, "two")
    assert head_commit(repo / ".git") == second  # the loose ref now wins over the packed one
    git(repo, "checkout", "-q", "--detach", first)
    assert head_commit(repo / ".git") == first


def test_settings_are_the_values_git_reads(tmp_path):
    repo = tmp_path / "clone"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git(repo, "config", "core.symlinks", "false")
    git(repo, "remote", "add", "mirrord-1", '/srv/a b;c#d"e\\f')
    git(repo, "remote", "add", "mirrord-2", "https://git.example/me/news.git")
    git(repo, "config", "gc.autoDetach", "false")
    git(repo, "config", "mirrord.spaced", "  two  spaces\tand a tab ")
    with (repo / ".git" / "config").open("a") as config:
        config.write('[Extra "Sub"]\n\tflag\n\tKey = value ; a comment\n')
    expected = {}
    for line in git(repo, "config", "--local", "--list", "-z").split("\0"):
        if line:
            key, _, value = line.partition("\n")
            section, _, name = key.rpartition(".")
            expected[f"{section}.{name}"] = value or "true"
    assert clone_settings(repo / ".git" / "config") == expected
    assert expected["remote.mirrord-1.url"] == '/srv/a b;c#d"e\\f' and expected["extra.Sub.key"] == "value"


def test_a_missing_config_has_no_settings(tmp_path):
    assert clone_settings(tmp_path / "config") == {}


def test_a_clone_whose_git_folder_was_damaged_fails_as_a_publish_error_when_git_first_runs(tmp_path):
    """HEAD still reads from its files; the first git command says the clone cannot be used, as a problem a
    cycle reports (PublishError), not a traceback."""
    repo = tmp_path / "clone"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    first = commit(repo, "one")
    shutil.rmtree(repo / ".git" / "objects")
    workspace = Workspace(repo, mirror(), {}, [])
    assert workspace.head() == first and "repo" not in workspace.__dict__
    with pytest.raises(PublishError, match="cannot prepare the working clone"):
        workspace.commits_since(None)
    workspace.close()


def test_head_names_no_commit_for_a_ref_outside_refs(tmp_path):
    repo = tmp_path / "clone"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    commit(repo, "one")
    (repo / ".git" / "HEAD").write_text("ref: refs/../../../etc/hostname\n")
    assert head_commit(repo / ".git") is None


def test_the_locks_a_killed_git_left_are_removed_the_refs_kept(tmp_path):
    repo = tmp_path / "clone"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    first = commit(repo, "one")
    git_dir = repo / ".git"
    (git_dir / "refs" / "remotes" / "mirrord-1").mkdir(parents=True)
    locks = [git_dir / "index.lock", git_dir / "refs" / "heads" / "main.lock",
             git_dir / "refs" / "remotes" / "mirrord-1" / "main.lock"]
    for lock in locks:
        lock.write_text(first)
    remove_stale_locks(git_dir)
    assert not [lock for lock in locks if lock.exists()]
    assert head_commit(git_dir) == first
