"""The ledger planner as tables: a view of the ledger and what the channels list in, a plan out.

Pure: no server, no git, no SQLite. Rows are written `channel/id` (path pages/<channel>/<id>.md).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timezone

from mirrord.articles import links_in
from mirrord.identity import identity
from mirrord.ledger import LedgerView, lookups, page_urls, plan_commit, plan_fetches
from mirrord.model import Discovery, Entry, LedgerRow

from values import article, channel

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
BEFORE = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def url(article_id: str) -> str:
    return f"http://site.test/{article_id}.html"


def row(name: str, seq: int, *, pruned: bool = False, path: str | None = None) -> LedgerRow:
    channel_name, article_id = name.split("/")
    return LedgerRow("news", channel_name, article_id, path or f"pages/{channel_name}/{article_id}.md",
                     article_id, url(article_id), "daily", BEFORE, "c0ffee", pruned, seq, identity(url(article_id)))


def listed(channel_name: str, *ids: str):
    """A channel and its discovery, newest entry first as sites list them."""
    return (channel(name=channel_name, url=f"http://site.test/{channel_name}.xml"),
            Discovery(tuple(Entry(i, url(i), f"Title {i}", key=identity(url(i))) for i in ids)))


def fetched(plan) -> list:
    """The articles the plan's candidates yield, as if every fetch succeeded."""
    return [article(id=c.entry.id, url=c.entry.url, title=c.entry.title, channel=c.channel.name, key=c.entry.key)
            for c in plan.candidates]


def keys(rows) -> list[str]:
    return [f"{r.channel}/{r.id}" for r in rows]


def cycle(view_rows, found, *, keep=300, channels=("world",), rebuilt=False, max_new=None):
    view = LedgerView("news", tuple(view_rows))
    if max_new is not None:
        found = [(replace(c, rules=replace(c.rules, max_new=max_new)), d) for c, d in found]
    plan = plan_fetches(view, found, rebuilt, NOW, keep)
    return plan, plan_commit(view, keep, list(channels), plan, fetched(plan), NOW)


def test_new_entries_are_fetched_oldest_first_and_indexed_after_the_pages_already_there():
    plan, commit = cycle([row("world/a1", 1)], [listed("world", "a3", "a2", "a1")])
    assert [c.entry.id for c in plan.candidates] == ["a2", "a3"]
    assert keys(commit.new_rows) == ["world/a2", "world/a3"] and commit.pruned_rows == []
    shown = commit.shown["world"]
    assert [r.id for r in shown] == ["a1", "a2", "a3"] and [r.seq for r in shown] == sorted({r.seq for r in shown})
    assert commit.deleted == []


def test_a_pruned_article_is_never_fetched_again():
    plan, commit = cycle([row("world/a1", 1, pruned=True), row("world/a2", 2)], [listed("world", "a2", "a1")])
    assert plan.candidates == [] and commit.articles == [] and commit.new_rows == []


def test_keep_prunes_the_oldest_pages_of_a_channel_and_deletes_their_files():
    plan, commit = cycle([row("world/a1", 1), row("world/a2", 2)], [listed("world", "a4", "a3", "a2", "a1")],
                         keep=3)
    assert keys(commit.pruned_rows) == ["world/a1"]
    assert commit.deleted == ["pages/world/a1.md", "pages/world/a1.md.png", "pages/world/a1.files"]
    assert [r.id for r in commit.shown["world"]] == ["a2", "a3", "a4"]


def test_new_articles_past_keep_are_pruned_before_they_are_ever_written():
    plan, commit = cycle([], [listed("world", "a3", "a2", "a1")], keep=2)
    assert keys(commit.pruned_rows) == ["world/a1"] and [a.id for a in commit.articles] == ["a2", "a3"]
    assert commit.deleted == [], "a page never written has no file to delete"


def test_new_articles_far_past_keep_are_recorded_as_pruned_without_being_fetched():
    plan, commit = cycle([], [listed("world", "a5", "a4", "a3", "a2", "a1")], keep=2)
    assert [c.entry.id for c in plan.candidates] == ["a2", "a3", "a4", "a5"], "twice keep: room for held back ones"
    assert sorted(keys(commit.pruned_rows)) == ["world/a1", "world/a2", "world/a3"]


def test_a_listing_of_thousands_fetches_at_most_keep_and_max_new_leaves_the_older_for_later():
    many = [f"a{n}" for n in range(5000, 0, -1)]
    plan, commit = cycle([], [listed("world", *many)], keep=300)
    assert len(plan.candidates) == 600 and len(plan.old) == 4400 and plan.left == {}
    plan, commit = cycle([], [listed("world", *many)], keep=0, max_new=50)
    assert [c.entry.id for c in plan.candidates] == [f"a{n}" for n in range(4951, 5001)], "the newest, oldest first"
    assert plan.left == {"world": 4950} and plan.old == [], "the rest waits for later cycles, unrecorded"


def test_two_articles_wanting_one_name_get_two_names_the_older_keeping_it():
    channel_, discovery = listed("world", "x")
    twins = (replace(discovery.entries[0], url="http://site.test/b/x.html", key=identity("http://site.test/b/x.html")),
             discovery.entries[0])
    plan, commit = cycle([], [(channel_, Discovery(twins))])
    names = [c.entry.id for c in plan.candidates]
    assert names[0] == "x" and names[1].startswith("x-") and len(names[1]) == 10
    assert [name for _, _, name in plan.renamed] == [names[1]]
    again, _ = cycle(commit.new_rows, [(channel_, Discovery(twins))])
    assert again.candidates == [], "both are known by identity the next cycle"


def test_keep_zero_keeps_every_page():
    live = [row(f"world/a{i}", i) for i in range(1, 6)]
    plan, commit = cycle(live, [listed("world", "a7", "a6", "a5")], keep=0)
    assert commit.pruned_rows == [] and len(commit.shown["world"]) == 7


def test_an_article_listed_by_two_channels_is_fetched_once_and_shown_in_both_indexes():
    plan, commit = cycle([], [listed("world", "s1", "w1"), listed("asia", "s1", "a1")], channels=("world", "asia"))
    assert sorted(c.entry.id for c in plan.candidates) == ["a1", "s1", "w1"]
    assert [a.channel for a in commit.articles if a.id == "s1"] == ["world"], "one page, under the first channel"
    shared = [r for r in commit.new_rows if r.id == "s1"]
    assert {r.channel for r in shared} == {"world", "asia"} and {r.path for r in shared} == {"pages/world/s1.md"}


def test_a_shared_page_stays_while_another_channel_still_shows_it():
    view = [row("world/s1", 1), row("asia/s1", 2, path="pages/world/s1.md")]
    plan, commit = cycle(view, [listed("world", "w2", "w1", "s1")], keep=2, channels=("world", "asia"))
    assert keys(commit.pruned_rows) == ["world/s1"]
    assert commit.deleted == [], "asia still shows the page"
    assert [r.id for r in commit.shown["asia"]] == ["s1"]


def test_an_article_published_elsewhere_in_the_mirror_is_linked_not_fetched():
    plan, commit = cycle([row("asia/s1", 1)], [listed("world", "s1")], channels=("world", "asia"))
    assert plan.candidates == [] and plan.pages == {identity(url("s1")): "pages/asia/s1.md"}
    assert [(r.channel, r.path) for r in commit.new_rows] == [("world", "pages/asia/s1.md")]


def test_after_a_rebuild_entries_listed_below_the_lowest_known_page_are_recorded_as_old_not_published():
    plan, commit = cycle([row("world/pinned", 1), row("world/a3", 2)],
                         [listed("world", "pinned", "a5", "a4", "a3", "a2", "a1")], rebuilt=True)
    assert [c.entry.id for c in plan.candidates] == ["a4", "a5"], "new below a story pinned on top"
    assert sorted(keys(plan.old)) == ["world/a1", "world/a2"] and all(r.pruned for r in plan.old)
    assert set(keys(plan.old)) <= set(keys(commit.new_rows)) and set(keys(plan.old)) <= set(keys(commit.pruned_rows))


def test_without_a_rebuild_nothing_is_taken_as_old():
    plan, _ = cycle([row("world/a3", 1)], [listed("world", "a4", "a3", "a2")])
    assert [c.entry.id for c in plan.candidates] == ["a2", "a4"] and plan.old == []


def test_the_view_covers_every_listed_url_and_key_and_links_point_to_live_and_new_pages():
    found = [listed("world", "a2", "a1"), listed("asia", "a1")]
    keys, names = lookups(found)
    assert keys == {identity(url("a1")), identity(url("a2"))}
    assert {("world", "a2"), ("world", "a1"), ("asia", "a1")} < names
    view = LedgerView("news", (row("world/a1", 1), replace(row("world/old", 2), pruned=True)))
    plan = plan_fetches(view, [listed("world", "a2", "a1")], False, NOW)
    assert page_urls(view, plan) == {url("a1"): "pages/world/a1.md", url("a2"): "pages/world/a2.md"}


def test_the_planner_does_no_io():
    """Importing the planner loads no network, git or SQLite module: it can only compute."""
    code = ("import sys, mirrord.ledger; print(sorted(m for m in ('sqlite3', 'httpx', 'git', 'mirrord.state', "
            "'mirrord.publish', 'mirrord.fetch') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


class CountingPages(dict):
    """The mirror's url -> page map, counting how often it is walked whole."""

    walks = 0

    def __iter__(self):
        CountingPages.walks += 1
        return super().__iter__()

    def items(self):
        CountingPages.walks += 1
        return super().items()


def test_an_article_looks_up_only_the_links_its_page_has_never_the_whole_map():
    """With links = "rewrite", copying the map of every page for each article made a cycle quadratic:
    10,000 listed items spent 78 of 111 s there."""
    pages = CountingPages({f"http://site.test/{n}.html": f"pages/world/{n}.md" for n in range(10_000)})
    page = '<p><a href="/7.html">seven</a> <a href=\'http://site.test/8.html\'>eight</a> <a href=/99999.html>x</a></p>'
    found = links_in(page, "http://site.test/1.html", pages, "pages/world/1.md")
    assert found == {"http://site.test/7.html": "../world/7.md", "http://site.test/8.html": "../world/8.md"}
    assert CountingPages.walks == 0
