"""HEAD and the settings read from a clone's files agree with what git itself says, in each state git leaves
a clone in: no commit yet, a loose branch ref, refs packed by gc, a detached HEAD, settings rewritten."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mirrord.gitfiles import clone_settings, head_commit
from mirrord.publish import remove_stale_locks

from mirror_run import git


def new_clone(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    git(path, "config", "user.email", "m@example.org")
    git(path, "config", "user.name", "m")
    return path


def commit(repo: Path, message: str) -> str:
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def test_head_follows_git_through_loose_packed_and_detached_refs(tmp_path: Path):
    repo = new_clone(tmp_path / "clone")
    assert head_commit(repo / ".git") is None
    first = commit(repo, "first")
    assert head_commit(repo / ".git") == first
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert head_commit(repo / ".git") == first
    second = commit(repo, "second")  # a loose ref again, newer than the packed one
    assert head_commit(repo / ".git") == second
    git(repo, "checkout", "-q", "--detach", first)
    assert head_commit(repo / ".git") == first


def test_head_names_no_commit_for_a_ref_outside_refs(tmp_path: Path):
    repo = new_clone(tmp_path / "clone")
    commit(repo, "first")
    (repo / ".git" / "HEAD").write_text("ref: refs/../../../etc/hostname\n")
    assert head_commit(repo / ".git") is None


def test_settings_follow_each_rewrite_of_the_config(tmp_path: Path):
    repo = new_clone(tmp_path / "clone")
    git(repo, "remote", "add", "mirrord-1", "/srv/one.git")
    before = clone_settings(repo / ".git")
    assert before["remote.mirrord-1.url"] == "/srv/one.git"
    assert before["core.bare"] == "false"
    git(repo, "remote", "set-url", "mirrord-1", "/srv/two.git")
    git(repo, "config", "core.symlinks", "false")
    after = clone_settings(repo / ".git")
    assert after["remote.mirrord-1.url"] == "/srv/two.git"
    assert after["core.symlinks"] == "false"
    after["core.symlinks"] = "changed by a caller"
    assert clone_settings(repo / ".git")["core.symlinks"] == "false"


def test_the_locks_a_killed_git_left_are_removed_the_refs_kept(tmp_path: Path):
    repo = new_clone(tmp_path / "clone")
    first = commit(repo, "first")
    git_dir = repo / ".git"
    (git_dir / "refs" / "remotes" / "mirrord-1").mkdir(parents=True)
    locks = [git_dir / "index.lock", git_dir / "refs" / "heads" / "main.lock",
             git_dir / "refs" / "remotes" / "mirrord-1" / "main.lock"]
    for lock in locks:
        lock.write_text(first)
    remove_stale_locks(git_dir)
    assert not [lock for lock in locks if lock.exists()]
    assert head_commit(git_dir) == first
