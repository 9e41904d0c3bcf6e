"""`mirrord rebuild` renders every live page again under the chrome the config has now (header, footer,
share block and QR code), and the indexes, feeds and README, in one commit, fetching nothing: every
page changes, no body does. Nothing changed, nothing is committed.

The mirror is published by a real `mirrord once` from the fixture site and read from a fresh clone of
its bare remote, as readers get it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cmarkgfm
import feedparser
import pytest
from cmarkgfm.cmark import Options

from mirrord.lock import mirror_lock
from mirrord.pageblocks import marked_block

from fixture_site import populate
from mirror_run import PUBLIC_URL, bare_repository, clone, commit_count, git, metadata_of, mirrord, write_config
from releases import release, run_release

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


def change_chrome(config: Path, header: bool = True) -> None:
    """Give the mirror a footer and another public_url, and (unless told not to) another header."""
    old_header = 'header = "[Home](../../README.md)"\n'
    new_header = f'header = "{NEW_HEADER}"\n' if header else old_header
    text = config.read_text(encoding="utf-8").replace(old_header, f'{new_header}footer = "{FOOTER}"\n')
    config.write_text(text.replace(PUBLIC_URL, NEW_URL), encoding="utf-8")


def test_rebuild_changes_every_pages_chrome_and_no_body(setup, tmp_path):
    """Header, footer, public_url and the readers' language change: every page, index and the README follow."""
    _, bare, config = setup
    assert mirrord(config, "once").code == 0
    before_tree = clone(bare, tmp_path / "before")
    before = pages_of(before_tree)
    assert len(before) >= 10 and all(body for _, body in blocks_of(before).values())
    change_chrome(config)
    config.write_text(config.read_text(encoding="utf-8").replace(f'footer = "{FOOTER}"\n',
                                                                 f'footer = "{FOOTER}"\nlang = "zh-Hant"\n'))

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
        assert "分享本頁：" in text and "Share this page" not in text and "Original:" not in text
        assert metadata_of(text) == metadata_of(before[path])
        assert (after_tree / f"{path}.png").read_bytes() != (before_tree / f"{path}.png").read_bytes()
    readme = (after_tree / "README.md").read_text(encoding="utf-8")
    assert "Last change" not in readme and "最後更新" in readme
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
    return [sys.executable, "-m", "mirrord", "-c", str(config)]


# The upgrade from 9a5543b, whose pages have no markers: their blocks are read by its layout.

MAIN_RELEASE = "9a5543b"  # the last release before the markers


def config_in(folder: Path, site, remote: Path, extra: str) -> Path:
    folder.mkdir()
    return write_config(folder / "mirrord.toml", site, remote, extra_mirror=extra)


@pytest.mark.parametrize("body", ["html", "markdown"])
def test_pages_of_the_release_before_the_markers_keep_their_bodies_byte_for_byte(tmp_path, site, body):
    """Published by 9a5543b, rebuilt by this release under a new footer and public_url (and header, for HTML
    bodies; see the next test for Markdown ones): each page's
    blocks are exactly those this release renders for the same article (a mirror it published itself from the
    same site is the reference), and stood in the old page as they are."""
    populate(site)
    mode = f'body = "{body}"\nlinks = "keep"\nimages = "hotlink"'  # the release before's defaults, said
    old = release(MAIN_RELEASE, "the release before the body markers", tmp_path / "main")
    config = config_in(tmp_path / "old", site, bare_repository(tmp_path / "old.git"), mode)
    reference = config_in(tmp_path / "new", site, bare_repository(tmp_path / "new.git"), mode)
    done = run_release(old, config)
    assert done.code == 0, done.stdout + done.stderr
    assert mirrord(reference, "once").code == 0
    published = pages_of(clone(tmp_path / "old.git", tmp_path / "published"))
    assert not any("<!-- mirrord:body -->" in text for text in published.values()), "not the old layout"
    change_chrome(config, header=body == "html")

    run = mirrord(config, "rebuild")

    assert run.code == 0, run.stdout + run.stderr
    rebuilt = pages_of(clone(tmp_path / "old.git", tmp_path / "rebuilt"))
    expected = blocks_of(pages_of(clone(tmp_path / "new.git", tmp_path / "reference")))
    assert rebuilt.keys() == published.keys() == expected.keys()
    assert blocks_of(rebuilt) == expected
    for path, (lead, page_body) in expected.items():
        assert rebuilt[path] != published[path] and FOOTER in rebuilt[path]
        assert page_body in published[path] and (lead or "") in published[path]


def test_markdown_pages_of_the_old_release_under_another_header_are_left_as_they_were(tmp_path, site):
    """A Markdown body's start cannot be told from a header the mirror no longer has: such a page is not
    guessed at; it is left as it was, said, and rebuild exits 1."""
    populate(site)
    old = release(MAIN_RELEASE, "the release before the body markers", tmp_path / "main")
    bare = bare_repository(tmp_path / "old.git")
    config = config_in(tmp_path / "old", site, bare, 'body = "markdown"')
    assert run_release(old, config).code == 0
    published = pages_of(clone(bare, tmp_path / "published"))
    change_chrome(config)

    run = mirrord(config, "rebuild")

    assert run.code == 1, run.stdout + run.stderr
    assert f"left {len(published)} pages as they were" in run.stdout
    assert "run rebuild once with that header" in run.stdout
    assert pages_of(clone(bare, tmp_path / "rebuilt")) == published


def test_a_mirror_never_published_has_nothing_to_rebuild(setup, tmp_path):
    _, bare, config = setup

    run = mirrord(config, "rebuild")

    assert run.code == 0, run.stdout + run.stderr
    assert "changed 0 files" in run.stdout
    assert git(bare, "rev-list", "--all") == ""


# The markers as GitHub shows them: not at all.

GOLDEN_PAGES = sorted((Path(__file__).parent / "golden").glob("*/expected/pages/*/*.md"))
MARKER_LINE = re.compile(r"<!-- /?mirrord:(?:lead|body) -->")


def github_html(markdown: str) -> str:
    """Return GitHub's rendering of a page with raw HTML passed through (so that nothing is hidden), without the
    markers' own comments."""
    html = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    return MARKER_LINE.sub("", html)


@pytest.mark.parametrize("page", GOLDEN_PAGES, ids=lambda page: "/".join(page.parts[-5:-3] + page.parts[-1:]))
def test_github_renders_a_page_with_markers_as_the_page_without_them(page):
    """Every golden page (HTML and Markdown bodies, leads, Chinese, Arabic, downloaded pictures) rendered by
    GitHub's renderer gives the same HTML with its markers as with them taken out (the layout before them)."""
    text = page.read_text(encoding="utf-8")
    assert "<!-- mirrord:body -->\n" in text
    unmarked = re.sub(r"<!-- mirrord:(?:lead|body) -->\n|\n<!-- /mirrord:(?:lead|body) -->", "", text)

    assert github_html(text).split() == github_html(unmarked).split()
