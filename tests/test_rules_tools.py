"""The tools for writing and keeping source rules, as users run them: `preview`, `once --dry-run --source`
and `check --network`, real processes against a real site on 127.0.0.1 and real git repositories."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fixture_site import (
    EXCLUDED_SLUG,
    FOREIGN_SLUG,
    MISSING_BODY_SLUG,
    SHORT_BODY_SLUG,
    article_url,
    populate,
)
from mirror_run import git, mirrord, write_config


def written(tmp_path: Path) -> list[Path]:
    """Return every file under tmp_path that is neither the config nor the bare remote's own."""
    return [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "mirrord.toml" and "remote.git" not in p.parts]


# --- preview ------------------------------------------------------------------------------------------------------


def test_preview_prints_the_page_a_cycle_publishes_and_writes_nothing(setup, tmp_path, site):
    news, bare, config = setup
    # links = "keep": under the default "rewrite" preview does not read the ledger (its report says so), so a link
    # to an article the cycle publishes too would show neutralized in the preview and as a link in the page.
    write_config(config, site, bare, extra_mirror='links = "keep"')
    slug = news.good_slugs("local")[0]
    run = mirrord(config, "preview", article_url(site, slug), "--source", "daily", "--channel", "local")
    assert run.code == 0, run.stderr
    assert run.stdout.startswith("### ") and f"pages/local/{slug}.md" in run.stderr
    assert "content 'div.body': 1 node(s)" in run.stderr and "remove 'div.share': 1 node(s)" in run.stderr
    assert "text: " in run.stderr and "characters" in run.stderr
    assert written(tmp_path) == []

    published = mirrord(config, "once", "daily", "--no-push")
    assert published.code == 0, published.stderr
    page = git(tmp_path / "state" / "repos" / "news", "show", f"HEAD:pages/local/{slug}.md")
    assert without_fetch_time(run.stdout) == without_fetch_time(page)


def without_fetch_time(page: str) -> str:
    """Return a page with the time of fetching in its metadata line left out: the one thing that differs
    between a preview and the cycle after it."""
    return re.sub(r'"fetched": "[^"]*"', '"fetched": ""', page)


@pytest.mark.parametrize(("slug", "reason"), [(MISSING_BODY_SLUG, "matched nothing"),
                                              (SHORT_BODY_SLUG, "fewer than min_text")])
def test_preview_says_why_an_article_would_be_held_back(setup, site, slug, reason):
    _, _, config = setup
    run = mirrord(config, "preview", article_url(site, slug), "--source", "daily", "--channel", "local")
    assert run.code == 1
    assert run.stdout == ""
    assert "HELD BACK" in run.stderr and reason in run.stderr


def test_preview_of_a_feed_source_takes_the_entry_from_the_feed(setup, site):
    news, _, config = setup
    slug = news.good_slugs("world")[0]
    run = mirrord(config, "preview", article_url(site, slug), "--source", "daily")
    assert run.code == 0, run.stderr
    assert "feed entry's own" in run.stderr and run.stdout.startswith("### ")


@pytest.mark.parametrize(("args", "message"), [(["--source", "nope"], "no source named nope"),
                                               (["--source", "daily", "--channel", "nope"], "no channel named nope")])
def test_preview_names_what_is_missing(setup, site, args, message):
    _, _, config = setup
    run = mirrord(config, "preview", site.url("/x.html"), *args)
    assert run.code == 2 and message in run.stderr and "Traceback" not in run.stderr


# --- once --dry-run --source --------------------------------------------------------------------------------------


def test_dry_run_lists_what_would_be_published_and_skipped_with_reasons(setup, tmp_path, site):
    # What discovery skips (excluded, foreign host, no link) is listed beside what extraction holds back.
    news, _, config = setup
    run = mirrord(config, "once", "--dry-run", "--source", "daily")
    assert run.code == 0, run.stderr
    assert f"skipped {article_url(site, EXCLUDED_SLUG)}: title contains excluded 'Sponsored'" in run.stdout
    assert any(FOREIGN_SLUG in line and "is not in hosts" in line for line in run.stdout.splitlines())
    assert f"held back {article_url(site, MISSING_BODY_SLUG)}: content selector" in run.stdout
    assert f"held back {article_url(site, SHORT_BODY_SLUG)}: body has" in run.stdout
    assert f"+ pages/world/{news.good_slugs('world')[0]}.md" in run.stdout
    assert "pages/features/" not in run.stdout, "--source runs that source only"
    assert not (tmp_path / "state" / "repos").exists(), "a dry run writes no clone"


# --- check --network ----------------------------------------------------------------------------------------------


def test_check_network_reaches_every_channel_and_remote(setup, site):
    _, _, config = setup
    run = mirrord(config, "check", "--network")
    assert run.code == 0, run.stderr
    assert "ok   channel daily/world" in run.stdout and "feed entries" in run.stdout
    assert "links matched by items 'ul.stories li a[href]'" in run.stdout
    assert "reachable, no branch main yet" in run.stdout
    assert "4 reached, 0 problem(s)" in run.stdout


def test_check_network_names_each_problem_and_what_to_do(tmp_path, site):
    populate(site)
    config = write_config(tmp_path / "mirrord.toml", site, tmp_path / "missing.git")
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('/daily/local.xml', '/daily/gone.xml').replace("ul.stories li", "ul.moved li"),
                      encoding="utf-8")
    run = mirrord(config, "check", "--network")
    assert run.code == 1, "the config is valid: what cannot be reached is the sites' and remotes' part"
    problems = [line for line in run.stderr.splitlines() if line.startswith("FAIL")]
    assert len(problems) == 3, run.stderr
    assert any("daily/local" in p and "404" in p and "source.daily.channel.local.url" in p for p in problems)
    assert any("weekly/features" in p and "matched nothing" in p and "source.weekly.channel.features.items" in p
               for p in problems)
    assert any("missing.git" in p and "ssh_key or token_env" in p for p in problems)
