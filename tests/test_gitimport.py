"""A commit whose pages are sent to `git fast-import` ahead of it (`Workspace.start_commit`), in real clones."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mirrord.errors import PublishError
from mirrord.model import PageFile
from mirrord.publish import Workspace

import values

PAGES = [PageFile(f"pages/c/a{n}.md", f"page {n}\n".encode() * 50) for n in range(20)]
INDEX = PageFile("indexes/c.md", b"# c\n")


def opened(tmp_path: Path) -> Workspace:
    return Workspace.open(tmp_path / "state", values.mirror())


def git(workspace: Workspace, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=workspace.root, capture_output=True, text=True, check=True).stdout


def test_pages_sent_ahead_are_committed_as_the_same_tree_as_pages_sent_with_the_commit(tmp_path):
    ahead, inline = opened(tmp_path / "ahead"), opened(tmp_path / "inline")

    first = ahead.commit(PAGES + [INDEX], [], "sync", started=ahead.start_commit(PAGES))
    second = inline.commit(PAGES + [INDEX], [], "sync")

    assert git(ahead, "rev-parse", f"{first}^{{tree}}") == git(inline, "rev-parse", f"{second}^{{tree}}")
    assert git(ahead, "show", f"{first}:pages/c/a7.md") == "page 7\n" * 50
    ahead.close()
    inline.close()


def test_a_failed_import_says_gits_reason_and_leaves_the_branch_where_it_was(tmp_path):
    workspace = opened(tmp_path)
    before = workspace.commit([INDEX], [], "first")
    (workspace.root / ".git" / "refs" / "heads" / "main.lock").write_text("")

    with pytest.raises(PublishError, match="git commit failed in .*main.lock"):
        workspace.commit(PAGES, [], "second", started=workspace.start_commit(PAGES))

    assert workspace.head() == before
    workspace.close()


def test_an_import_ended_before_its_commit_changes_nothing_and_leaves_no_temporary_pack(tmp_path):
    workspace = opened(tmp_path)
    before = workspace.commit([INDEX], [], "first")

    workspace.start_commit(PAGES).close()

    assert workspace.head() == before
    assert not list((workspace.root / ".git" / "objects" / "pack").glob("tmp_*"))
    git(workspace, "fsck", "--no-dangling")  # raises if the repository was harmed
    workspace.close()
