"""`mirrord once` end to end: a real site on 127.0.0.1, a real process, a real bare repository."""

from __future__ import annotations

from pathlib import Path

from mirrord.index import parse_index

from fixture_site import (
    EXCLUDED_SLUG,
    FOREIGN_SLUG,
    MISSING_BODY_SLUG,
    SHARED_SLUG,
    SHORT_BODY_SLUG,
    UNICODE_SLUG,
    add_article,
    article_url,
    populate,
)
from mirror_run import PUBLIC_URL, bare_repository, clone, commit_count, git, metadata, mirrord, write_config
from releases import release, run_release

CHANNELS = ("world", "local", "features")


def indexed_pages(repo: Path, channel: str) -> list[str]:
    """Return the page paths a channel's index links to, in its order, relative to the repository."""
    return parse_index((repo / "indexes" / f"{channel}.md").read_text(encoding="utf-8"))


def test_once_publishes_every_good_article_with_indexes_readme_and_qr(setup, tmp_path, site):
    news, bare, config = setup
    run = mirrord(config, "once")
    assert run.code == 0, run.stderr
    repo = clone(bare, tmp_path / "reader")
    assert commit_count(bare) == 1
    for channel in CHANNELS:
        expected = [f"pages/{channel}/{slug}.md" for slug in news.good_slugs(channel)]
        if channel == "local":
            expected = [p.replace(f"local/{SHARED_SLUG}", f"world/{SHARED_SLUG}") for p in expected]
        assert indexed_pages(repo, channel) == expected
        for path in expected:
            assert (repo / path).is_file()
            assert (repo / f"{path}.png").read_bytes().startswith(b"\x89PNG")
    readme = (repo / "README.md").read_text(encoding="utf-8")
    for heading in ("# News mirror", "## The Daily Courier", "## The Weekly Review", "](indexes/world.md)",
                    "](indexes/local.md)", "](indexes/features.md)"):
        assert heading in readme


def test_page_holds_title_header_body_share_block_and_metadata(setup, tmp_path, site):
    news, bare, config = setup
    assert mirrord(config, "once").code == 0
    repo = clone(bare, tmp_path / "reader")
    page = repo / "pages" / "local" / f"{UNICODE_SLUG}.md"
    text = page.read_text(encoding="utf-8")
    assert text.startswith("### Café Müller celebrates fifty years — „Danke“ from the owners\n")
    assert "[Home](../../README.md)" in text
    assert "Käsekuchen kostete wie 1976 nur 1,50 €" in text
    assert "Share:" not in text and "Copy link" not in text, "the remove selector must drop the share block"
    assert "Most read" not in text and "tracker" not in text
    assert f"{PUBLIC_URL}/pages/local/{UNICODE_SLUG}.md" in text
    assert f'<img src="{UNICODE_SLUG}.md.png"' in text
    assert f"<{article_url(site, UNICODE_SLUG)}>" in text
    assert metadata(page) | {"fetched": None} == {
        "id": UNICODE_SLUG, "source": "daily", "channel": "local", "url": article_url(site, UNICODE_SLUG),
        "fetched": None, "title": news.article(UNICODE_SLUG).title}


def test_full_content_feed_is_not_fetched_page_by_page(setup, site):
    news, bare, config = setup
    assert mirrord(config, "once").code == 0
    world_pages = [news.article(slug).path for slug in news.slugs("world")]
    assert not [path for path in world_pages if site.requested(path)]


def test_filters_and_broken_articles_are_not_published(setup, tmp_path, site):
    news, bare, config = setup
    run = mirrord(config, "once")
    repo = clone(bare, tmp_path / "reader")
    published = {p.name for p in (repo / "pages").rglob("*.md")}
    for slug in (EXCLUDED_SLUG, FOREIGN_SLUG, MISSING_BODY_SLUG, SHORT_BODY_SLUG):
        assert f"{slug}.md" not in published
    assert f"held back {article_url(site, MISSING_BODY_SLUG)}: content selector 'div.body' matched nothing" \
        in run.stdout
    assert f"held back {article_url(site, SHORT_BODY_SLUG)}: body has 1 characters" in run.stdout
    log = (tmp_path / "state" / "status.log").read_text(encoding="utf-8")
    assert '"event": "article.skipped"' in log and MISSING_BODY_SLUG in log


def test_article_in_two_channels_is_published_once_and_indexed_by_both(setup, tmp_path):
    news, bare, config = setup
    assert mirrord(config, "once").code == 0
    repo = clone(bare, tmp_path / "reader")
    assert (repo / "pages" / "world" / f"{SHARED_SLUG}.md").is_file()
    assert not (repo / "pages" / "local" / f"{SHARED_SLUG}.md").exists()
    assert f"pages/world/{SHARED_SLUG}.md" in indexed_pages(repo, "world")
    assert f"pages/world/{SHARED_SLUG}.md" in indexed_pages(repo, "local")


def test_second_run_with_nothing_new_makes_no_commit(setup, tmp_path, site):
    news, bare, config = setup
    assert mirrord(config, "once").code == 0
    head = git(bare, "rev-parse", "main")
    run = mirrord(config, "once")
    assert run.code == 0, run.stderr
    assert git(bare, "rev-parse", "main") == head
    assert "published 0" in run.stdout


def test_one_new_article_gives_one_page_in_one_commit(setup, tmp_path, site):
    news, bare, config = setup
    assert mirrord(config, "once").code == 0
    add_article(site, "features", "harbour-festival", "Harbour festival draws record crowds",
                ["Thousands of visitors came to the harbour for the festival weekend.", "Organisers were pleased."])
    assert mirrord(config, "once").code == 0
    assert commit_count(bare) == 2
    changed = set(git(bare, "diff", "--name-only", "main~1", "main").split())
    assert changed == {"pages/features/harbour-festival.md", "pages/features/harbour-festival.md.png",
                       "indexes/features.md", "feeds/features.xml", "README.md", ".mirrord/ledger/features.jsonl"}
    repo = clone(bare, tmp_path / "reader")
    assert indexed_pages(repo, "features")[0] == "pages/features/harbour-festival.md"


def test_keep_prunes_oldest_pages_and_never_republishes_them(tmp_path, site):
    news = populate(site)
    bare = bare_repository(tmp_path / "remote.git")
    config = write_config(tmp_path / "mirrord.toml", site, bare, keep=5)
    assert mirrord(config, "once").code == 0
    repo = clone(bare, tmp_path / "first")
    features = news.good_slugs("features")
    assert indexed_pages(repo, "features") == [f"pages/features/{slug}.md" for slug in features[:5]]
    assert not (repo / "pages" / "features" / f"{features[5]}.md").exists()

    add_article(site, "features", "harbour-festival", "Harbour festival draws record crowds")
    assert mirrord(config, "once").code == 0
    repo = clone(bare, tmp_path / "second")
    kept = ["harbour-festival", *features[:4]]
    assert indexed_pages(repo, "features") == [f"pages/features/{slug}.md" for slug in kept]
    assert sorted(p.name for p in (repo / "pages" / "features").iterdir()) == sorted(
        [f"{slug}.md" for slug in kept] + [f"{slug}.md.png" for slug in kept])

    head = git(bare, "rev-parse", "main")
    assert mirrord(config, "once").code == 0
    assert git(bare, "rev-parse", "main") == head, "pruned articles still listed by the site must not come back"


def test_dry_run_lists_what_would_be_published_and_writes_nothing(setup, tmp_path):
    news, bare, config = setup
    run = mirrord(config, "once", "--dry-run")
    assert run.code == 0, run.stderr
    assert f"+ pages/features/{news.good_slugs('features')[0]}.md" in run.stdout
    assert "would publish" in run.stdout
    assert commit_count_or_zero(bare) == 0
    assert not (tmp_path / "state").exists(), "no state, lock, clone or log"


def test_dry_run_after_a_run_reads_the_ledger_and_changes_no_state(setup, tmp_path, site):
    news, bare, config = setup
    assert mirrord(config, "once").code == 0
    add_article(site, "features", "harbour-festival", "Harbour festival draws record crowds")
    state = tmp_path / "state"
    before = {path: path.read_bytes() for path in state.rglob("*") if path.is_file() and ".git" not in path.parts}
    run = mirrord(config, "once", "--dry-run")
    assert run.code == 0, run.stderr
    assert "would publish 1" in run.stdout and "+ pages/features/harbour-festival.md" in run.stdout
    after = {path: path.read_bytes() for path in state.rglob("*") if path.is_file() and ".git" not in path.parts}
    assert after == before


def commit_count_or_zero(bare: Path) -> int:
    return int(git(bare, "rev-list", "--all", "--count").strip() or 0)


def test_named_source_only_runs_that_source(setup, tmp_path):
    news, bare, config = setup
    assert mirrord(config, "once", "weekly").code == 0
    repo = clone(bare, tmp_path / "reader")
    assert {p.name for p in (repo / "pages").iterdir()} == {"features"}
    assert mirrord(config, "once", "nosuch").code == 2


def test_no_push_commits_locally_and_a_later_run_pushes(setup, tmp_path):
    news, bare, config = setup
    assert mirrord(config, "once", "--no-push").code == 0
    assert commit_count_or_zero(bare) == 0
    assert mirrord(config, "once").code == 0
    assert commit_count(bare) == 1


def test_failing_channel_and_dead_remote_give_exit_1_and_keep_the_rest(tmp_path, site):
    populate(site)
    dead = tmp_path / "missing" / "remote.git"
    config = write_config(tmp_path / "mirrord.toml", site, dead)
    del site.routes["/weekly/features.html"]
    run = mirrord(config, "once")
    assert run.code == 1
    assert "channel weekly/features" in run.stdout and "HTTP 404" in run.stdout
    assert "push to" in run.stdout
    local = tmp_path / "state" / "repos" / "news"
    assert git(local, "ls-tree", "--name-only", "HEAD", "pages/world/"), "the clone keeps the commit for the next push"
    bare_repository(dead)
    assert mirrord(config, "once").code == 1, "features still fails"
    assert commit_count(dead) >= 1


def test_lost_database_is_taken_from_the_mirrors_own_ledger_without_republishing(tmp_path, site):
    populate(site)
    bare = bare_repository(tmp_path / "remote.git")
    config = write_config(tmp_path / "mirrord.toml", site, bare, keep=5)
    assert mirrord(config, "once").code == 0
    add_article(site, "features", "harbour-festival", "Harbour festival draws record crowds")
    assert mirrord(config, "once").code == 0
    head = git(bare, "rev-parse", "main")
    for name in ("state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm"):
        (tmp_path / "state" / name).unlink(missing_ok=True)

    run = mirrord(config, "once")
    assert run.code == 0, run.stderr
    assert git(bare, "rev-parse", "main") == head, "neither live nor pruned articles may be published again"
    assert "ledger.loaded" in (tmp_path / "state" / "status.log").read_text(encoding="utf-8")

    add_article(site, "local", "ferry-strike-ends", "Ferry strike ends after talks")
    assert mirrord(config, "once").code == 0
    changed = set(git(bare, "diff", "--name-only", "main~1", "main").split())
    assert "pages/local/ferry-strike-ends.md" in changed
    assert not [path for path in changed if path.startswith("pages/") and "ferry-strike-ends" not in path]
    repo = clone(bare, tmp_path / "reader")
    assert indexed_pages(repo, "local")[0] == "pages/local/ferry-strike-ends.md"
    assert len(indexed_pages(repo, "local")) == 5


def test_a_clone_of_an_earlier_release_keeps_its_pages_files_and_a_new_mirrors_clone_leaves_them_to_git(
        tmp_path, site):
    """Clones made before new clones left the pages out of their files (966f4a9) still get each new page's
    file, so that what reads them finds every page; a new mirror's clone writes none, and its next commits
    (feeds carried, a page read back from git when its feed is made again) come out the same."""
    populate(site)
    old = bare_repository(tmp_path / "old" / "remote.git")
    config = write_config(tmp_path / "old" / "mirrord.toml", site, old)
    assert run_release(release("966f4a9", "the release before", tmp_path / "release"), config).code == 0
    add_article(site, "local", "ferry-strike-ends", "Ferry strike ends after talks")
    assert mirrord(config, "once").code == 0
    kept = tmp_path / "old" / "state" / "repos" / "news"
    page = "pages/local/ferry-strike-ends.md"
    assert (kept / page).read_text(encoding="utf-8") == git(kept, "show", f"HEAD:{page}")

    new = bare_repository(tmp_path / "new" / "remote.git")
    config = write_config(tmp_path / "new" / "mirrord.toml", site, new)
    assert mirrord(config, "once").code == 0
    made = tmp_path / "new" / "state" / "repos" / "news"
    assert not (made / "pages").exists() and git(made, "show", f"HEAD:{page}")
    (made / "feeds" / "local.xml").unlink()  # made again from every page, read back from git
    add_article(site, "local", "harbour-festival", "Harbour festival draws record crowds")
    assert mirrord(config, "once").code == 0
    reader = clone(new, tmp_path / "reader")
    assert indexed_pages(reader, "local")[:2] == ["pages/local/harbour-festival.md", page]
    feed = (reader / "feeds" / "local.xml").read_text(encoding="utf-8")
    assert feed.count("<entry>") == len(indexed_pages(reader, "local")) > 2
    assert "Ferry strike ends after talks" in feed
