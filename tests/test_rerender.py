"""`mirrord rebuild` renders every live page again under the chrome the config has now (header, footer,
share block and QR code), and the indexes, feeds and README, in one commit, fetching nothing: every
page changes, no body does. Nothing changed, nothing is committed.

The mirror is published by a real `mirrord once` from the fixture site and read from a fresh clone of
its bare remote, as readers get it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import feedparser

from mirrord.lock import mirror_lock
from mirrord.pageblocks import marked_block

from mirror_run import PUBLIC_URL, clone, commit_count, git, metadata_of, mirrord

NEW_URL = "https://git.example/readers/news/blob/main"
NEW_HEADER = "[Start](../../README.md)"
FOOTER = "[Top of the mirror](../../README.md)"


def pages_of(tree: Path) -> dict[str, str]:
    """Return path -> text of every page of a clone."""
    return {page.relative_to(tree).as_posix(): page.read_text(encoding="utf-8")
            for page in sorted((tree / "pages").rglob("*.md"))}


def blocks_of(pages: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    """Return path -> (lead, body) between each page's markers."""
    return {path: (marked_block(text, "lead"), marked_block(text, "body")) for path, text in pages.items()}


def change_chrome(config: Path) -> None:
    """Give the mirror another header, a footer and another public_url."""
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('header = "[Home](../../README.md)"', f'header = "{NEW_HEADER}"\n'
                                   f'footer = "{FOOTER}"').replace(PUBLIC_URL, NEW_URL), encoding="utf-8")


def test_rebuild_changes_every_pages_chrome_and_no_body(setup, tmp_path):
    _, bare, config = setup
    assert mirrord(config, "once").code == 0
    before_tree = clone(bare, tmp_path / "before")
    before = pages_of(before_tree)
    assert len(before) >= 10 and all(body for _, body in blocks_of(before).values())
    change_chrome(config)

    run = mirrord(config, "rebuild")

    assert run.code == 0, run.stdout + run.stderr
    assert commit_count(bare) == 2, "one commit, pushed"
    after_tree = clone(bare, tmp_path / "after")
    after = pages_of(after_tree)
    assert after.keys() == before.keys()
    assert blocks_of(after) == blocks_of(before), "a body changed"
    for path, text in after.items():
        assert text != before[path], f"{path} did not change"
        assert NEW_HEADER in text and FOOTER in text and f"{NEW_URL}/{path}" in text and PUBLIC_URL not in text
        assert metadata_of(text) == metadata_of(before[path])
        assert (after_tree / f"{path}.png").read_bytes() != (before_tree / f"{path}.png").read_bytes()
    feed = feedparser.parse((after_tree / "feeds" / "local.xml").read_bytes())
    assert feed.bozo == 0 and feed.entries
    assert all(entry.link.startswith(f"{NEW_URL}/pages/") and entry.link.endswith(".md") for entry in feed.entries)

    again = mirrord(config, "rebuild")

    assert again.code == 0, again.stdout + again.stderr
    assert commit_count(bare) == 2, "a rebuild with nothing changed committed"
    assert "changed 0 files" in again.stdout


def test_rebuild_without_public_url_removes_the_qr_codes(setup, tmp_path):
    _, bare, config = setup
    assert mirrord(config, "once").code == 0
    config.write_text(config.read_text(encoding="utf-8").replace(f'public_url = "{PUBLIC_URL}"\n', ""),
                      encoding="utf-8")

    run = mirrord(config, "rebuild")

    assert run.code == 0, run.stdout + run.stderr
    tree = clone(bare, tmp_path / "after")
    assert not list((tree / "pages").rglob("*.png"))
    assert not any("Share this page" in text for text in pages_of(tree).values())


def test_a_dry_run_lists_the_changes_and_writes_nothing(setup, tmp_path):
    _, bare, config = setup
    assert mirrord(config, "once").code == 0
    head = git(bare, "rev-parse", "main")
    change_chrome(config)

    run = mirrord(config, "rebuild", "--dry-run")

    assert run.code == 0, run.stdout + run.stderr
    assert "would change" in run.stdout and "  ~ pages/local/" in run.stdout
    assert git(bare, "rev-parse", "main") == head
    assert git(config.parent / "state" / "repos" / "news", "rev-parse", "main") == head


def test_an_unknown_mirror_is_a_usage_error(setup):
    _, _, config = setup

    run = mirrord(config, "rebuild", "--mirror", "elsewhere")

    assert run.code == 2
    assert "no mirror named elsewhere" in run.stderr and "mirrors: news" in run.stderr


def test_rebuild_waits_for_the_lock_and_says_who_holds_it(setup):
    _, bare, config = setup
    assert mirrord(config, "once").code == 0
    change_chrome(config)
    with mirror_lock(config.parent / "state", "news", 0):
        done = subprocess.run([*mirrord_command(config), "rebuild"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "MIRRORD_LOCK_WAIT": "0"})
    assert done.returncode == 3, done.stdout + done.stderr
    assert "is being written by" in done.stdout + done.stderr
    assert commit_count(bare) == 1


def mirrord_command(config: Path) -> list[str]:
    import sys

    return [sys.executable, "-m", "mirrord", "-c", str(config)]
