"""Article identity end to end: two different articles are never merged, on real-world feeds.

Real processes (`mirrord once`), a real site on 127.0.0.1 and a real bare remote. One source, one channel
per link pattern seen in the wild; feed items carry their own text (no `content` rule, no page fetch),
the listing channel fetches its pages. Three cycles, each listing every article so far, newest first:
cycle 1 articles 1-2, cycle 2 articles 1-5 with keep = 3 (pruning), then the database is deleted (the
ledger is rebuilt from the mirror), cycle 3 articles 1-8. Every page ever added to the remote is read
from the commit that added it.

Per pattern (items listed, distinct articles, pages added in cycles 1, 2 and 3; `pytest -s` prints it):

| channel        | link pattern                                        | items | articles | pages 1+2+3 |
|----------------|-----------------------------------------------------|-------|----------|-------------|
| podcast        | /show/episode-{n}/free-podcast                      | 8     | 8        | 2+3+3 = 8   |
| item_from_rss  | /news/item/{n}/from/rss                             | 8     | 8        | 2+3+3 = 8   |
| index_htm      | /world/{n}/index.htm                                | 8     | 8        | 2+3+3 = 8   |
| default_asp    | /articles/{n}/default.asp                           | 8     | 8        | 2+3+3 = 8   |
| story01        | /2026/11/{n}/story01.htm                            | 8     | 8        | 2+3+3 = 8   |
| one_htm        | /{n}/1.htm                                          | 8     | 8        | 2+3+3 = 8   |
| dotted         | /news/Linux-6.{n}-Thing                             | 8     | 8        | 2+3+3 = 8   |
| dated_slug     | /{2018+n}/{mm}/intro.html                           | 8     | 8        | 2+3+3 = 8   |
| anchors        | /2007/01/26.html#a0806{nn}, a guid each             | 8     | 8        | 2+3+3 = 8   |
| redirector     | /go?story={n} (bare) + /stories/{n}.html, one guid  | 16    | 8        | 2+3+3 = 8   |
| listing (HTML) | /listing/{n}/index.htm                              | 8     | 8        | 2+3+3 = 8   |

No article is ever published twice (not after the prune, not after the lost database), and every
article is published once under a name of its own.

The upgrade test runs the release before article identity (commit 4972174) on a mirror, then this one.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

import pytest

from mirrord.discover import filter_items
from mirrord.ledger import LedgerView, plan_fetches
from mirrord.model import LedgerRow
from mirrord.rebuild import pruned_rows
from mirrord.render import metadata_line

from httpsite import Site
from mirror_run import Run, bare_repository, git, metadata_of, mirrord, release_code
from values import article, channel, rules

REPOSITORY = Path(__file__).resolve().parents[1]
PREVIOUS_RELEASE = "4972174"  # the last commit before article identity
KEEP = 3
CYCLES = (2, 5, 8)  # articles listed in each cycle: 1..count, newest first
LOST_DATABASE_BEFORE = 3  # the cycle before which state.sqlite3 is deleted

# Channel -> the path of its article n. `redirector` lists each story twice (see feed_items).
PATHS: dict[str, Callable[[int], str]] = {
    "podcast": lambda n: f"/show/episode-{n}/free-podcast",
    "item_from_rss": lambda n: f"/news/item/{n}/from/rss",
    "index_htm": lambda n: f"/world/{n}/index.htm",
    "default_asp": lambda n: f"/articles/{n}/default.asp",
    "story01": lambda n: f"/2026/11/{n}/story01.htm",
    "one_htm": lambda n: f"/{n}/1.htm",
    "dotted": lambda n: f"/news/Linux-6.{n}-Thing",
    "dated_slug": lambda n: f"/{2018 + n}/{n % 12 + 1:02d}/intro.html",
    "anchors": lambda n: f"/2007/01/26.html#a0806{n:02d}",
    "redirector": lambda n: f"/stories/{n}.html",
    "listing": lambda n: f"/listing/{n}/index.htm",
}
# The page name every article of a channel wants (`id = "stem"`): all but the first get it with a hash.
SHARED_NAMES = {"podcast": "free-podcast", "item_from_rss": "rss", "index_htm": "index", "default_asp": "default",
                "story01": "story01", "one_htm": "1", "dated_slug": "intro", "anchors": "26", "listing": "index"}
# The channels whose articles each want a name of their own: the stem keeps a slug's dots.
OWN_NAMES: dict[str, Callable[[int], str]] = {"dotted": lambda n: f"Linux-6.{n}-Thing", "redirector": str}
@dataclass(frozen=True)
class Item:
    """One item of a feed: the redirector copy of a story has neither title nor text."""

    link: str
    title: str | None
    guid: str | None
    text: str | None


@dataclass(frozen=True)
class Added:
    """A page as the commit that added it holds it."""

    commit: str
    path: str
    meta: dict
    text: str


@dataclass(frozen=True)
class Mirrored:
    """What the three cycles did: their runs, the remote's head after each, every page ever added."""

    site: Site
    remote: Path
    runs: list[Run]
    heads: list[str]
    added: list[Added]
    events: list[dict]

    @cached_property
    def cycle_of(self) -> dict[str, int]:
        """Return commit -> the cycle (1, 2, 3) that made it."""
        cycles, before = {}, None
        for number, head in enumerate(self.heads, 1):
            for commit in git(self.remote, "rev-list", head if before is None else f"{before}..{head}").split():
                cycles[commit] = number
            before = head
        return cycles


def article_text(channel_name: str, n: int) -> str:
    return f"{channel_name} article {n}: a story long enough for the mirror to publish it."


def article_url(site: Site, channel_name: str, n: int) -> str:
    return site.url(PATHS[channel_name](n))


def feed_items(site: Site, channel_name: str, n: int) -> list[Item]:
    """Return the items that list article n: one, or two for a story also listed through a redirector."""
    link, title, text = article_url(site, channel_name, n), f"{channel_name} story {n}", article_text(channel_name, n)
    if channel_name == "anchors":
        return [Item(link, title, link, text)]
    if channel_name == "redirector":
        bare = Item(site.url(f"/go?story={n}"), None, f"story-{n}", None)
        direct = Item(link, title, f"story-{n}", text)
        return [bare, direct] if n % 2 else [direct, bare]
    return [Item(link, title, None, text)]


def rss(items: list[Item]) -> str:
    def element(tag: str, value: str | None) -> str:
        return f"<{tag}>{html.escape(value)}</{tag}>" if value is not None else ""

    body = "".join(f"<item>{element('title', i.title)}{element('link', i.link)}"
                   f"{element('guid', i.guid)}{element('description', i.text and f'<p>{i.text}</p>')}</item>"
                   for i in items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'


def serve_cycle(site: Site, count: int) -> None:
    """Serve every channel listing articles count..1, newest first, and the listing's article pages."""
    newest_first = range(count, 0, -1)
    for name in PATHS:
        if name == "listing":
            links = "".join(f'<li><a href="{PATHS[name](n)}">listing story {n}</a></li>' for n in newest_first)
            site.add("/listing/", f'<html><body><ul class="news">{links}</ul></body></html>')
            for n in newest_first:
                site.add(PATHS[name](n), f'<html><body><h1>listing story {n}</h1><div class="body">'
                                         f"<p>{article_text(name, n)}</p></div></body></html>")
        else:
            site.add(f"/feeds/{name}.xml", rss([i for n in newest_first for i in feed_items(site, name, n)]),
                     "application/xml")


def write_config(tmp: Path, site: Site, remote: Path) -> Path:
    channels = "".join(f'\n[source.site.channel.{name}]\nurl = "{site.url(f"/feeds/{name}.xml")}"\n'
                       for name in PATHS if name != "listing")
    channels += f'\n[source.site.channel.listing]\nurl = "{site.url("/listing/")}"\nitems = "ul.news a"\n' \
                'content = "div.body"\n'
    config = tmp / "mirrord.toml"
    config.write_text(f'state_dir = "{tmp / "state"}"\n\n[http]\nretries = 0\ntimeout = 10\n\n'
                      f'[mirror.news]\nremotes = ["{remote}"]\nkeep = {KEEP}\n\n[source.site]\n{channels}',
                      encoding="utf-8")
    return config


def lose_database(state_dir: Path) -> None:
    for file in state_dir.glob("state.sqlite3*"):
        file.unlink()


def added_pages(remote: Path, since: str | None = None) -> list[Added]:
    """Return every page ever added to the remote's main branch (after since), oldest first, each read from
    the commit that added it: a page added twice is an article published twice."""
    log = git(remote, "log", "--reverse", "--diff-filter=A", "--format=commit %H", "--name-only",
              f"{since}..main" if since else "main", "--", "pages")
    added, commit = [], ""
    for line in log.splitlines():
        if line.startswith("commit "):
            commit = line.split()[1]
        elif line.startswith("pages/") and line.endswith(".md"):
            text = git(remote, "show", f"{commit}:{line}")
            added.append(Added(commit, line, metadata_of(text), text))
    return added


def status_events(state_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (state_dir / "status.log").read_text(encoding="utf-8").splitlines()]


def head(remote: Path) -> str:
    return git(remote, "rev-parse", "main").strip()


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirrored]:
    tmp = tmp_path_factory.mktemp("identity")
    remote = bare_repository(tmp / "remote.git")
    with Site() as site:
        config = write_config(tmp, site, remote)
        runs, heads = [], []
        for number, count in enumerate(CYCLES, 1):
            if number == LOST_DATABASE_BEFORE:
                lose_database(tmp / "state")
            serve_cycle(site, count)
            runs.append(mirrord(config, "once"))
            heads.append(head(remote))
        result = Mirrored(site, remote, runs, heads, added_pages(remote), status_events(tmp / "state"))
        print_table(result)
        yield result


def print_table(mirrored: Mirrored) -> None:
    """Print, per channel, the items listed, the articles and the pages each cycle added (run with -s)."""
    cycle_of = mirrored.cycle_of
    for name in PATHS:
        items = sum(len(feed_items(mirrored.site, name, n)) for n in range(1, CYCLES[-1] + 1))
        out = Counter(cycle_of[a.commit] for a in mirrored.added if a.path.startswith(f"pages/{name}/"))
        print(f"{name:14} items {items:2}  articles {CYCLES[-1]}  "
              f"pages {out[1]}+{out[2]}+{out[3]} = {sum(out.values())}")


def channel_pages(mirrored: Mirrored, name: str) -> list[Added]:
    return [a for a in mirrored.added if a.path.startswith(f"pages/{name}/")]


def expected_urls(mirrored: Mirrored, name: str, numbers: range) -> set[str]:
    return {article_url(mirrored.site, name, n) for n in numbers}


def test_the_three_cycles_ran_pruned_and_rebuilt_the_ledger(mirrored):
    assert [run.code for run in mirrored.runs] == [0, 0, 0], [run.stdout + run.stderr for run in mirrored.runs]
    assert "ledger.rebuilt" in {e["event"] for e in mirrored.events}
    first = {a.path for a in mirrored.added if mirrored.cycle_of[a.commit] == 1}
    assert len(first) == CYCLES[0] * len(PATHS)
    deleted = git(mirrored.remote, "log", "--diff-filter=D", "--name-only", "--format=", mirrored.heads[1], "--",
                  "pages").split()
    assert first <= set(deleted), "cycle 2 pruned the pages of cycle 1"


def test_no_article_is_ever_published_twice(mirrored):
    published = Counter(a.meta["url"] for a in mirrored.added)
    assert [url for url, times in published.items() if times > 1] == []
    assert len({a.path for a in mirrored.added}) == len(mirrored.added), "no page path is ever added twice"


@pytest.mark.parametrize("name", PATHS)
def test_every_article_listed_before_the_database_was_lost_is_published_once(mirrored, name):
    pages = channel_pages(mirrored, name)
    before = [a for a in pages if mirrored.cycle_of[a.commit] < LOST_DATABASE_BEFORE]
    assert sorted(a.meta["url"] for a in before) == sorted(expected_urls(mirrored, name, range(1, CYCLES[1] + 1)))
    assert {a.meta["url"] for a in pages} <= expected_urls(mirrored, name, range(1, CYCLES[-1] + 1))


@pytest.mark.parametrize("name", list(PATHS))
def test_articles_new_after_the_database_was_lost_are_published(mirrored, name):
    after = {a.meta["url"] for a in channel_pages(mirrored, name) if mirrored.cycle_of[a.commit] == 3}
    assert after == expected_urls(mirrored, name, range(CYCLES[1] + 1, CYCLES[-1] + 1))


@pytest.mark.parametrize("name", SHARED_NAMES)
def test_articles_wanting_one_name_get_it_or_it_with_a_hash_of_their_identity(mirrored, name):
    wanted = SHARED_NAMES[name]
    pages = channel_pages(mirrored, name)
    for page in pages:
        identity = "//" + page.meta["url"].split("://", 1)[1]  # the site's links are already canonical
        assert page.path.removeprefix(f"pages/{name}/") in (
            f"{wanted}.md", f"{wanted}-{hashlib.sha256(identity.encode()).hexdigest()[:8]}.md")
    first = article_url(mirrored.site, name, 1)
    assert [a.meta["url"] for a in pages if a.path == f"pages/{name}/{wanted}.md"] == [first], "the oldest gets it"
    renamed = [e["url"] for e in mirrored.events if e["event"] == "article.renamed" and e["channel"] == name]
    assert sorted(renamed) == sorted(a.meta["url"] for a in pages if a.meta["url"] != first), "said once each"


@pytest.mark.parametrize("name", OWN_NAMES)
def test_articles_wanting_names_of_their_own_get_them(mirrored, name):
    pages = channel_pages(mirrored, name)
    assert sorted(a.path for a in pages) == sorted(f"pages/{name}/{OWN_NAMES[name](n)}.md"
                                                   for n in range(1, CYCLES[-1] + 1))
    assert not [e for e in mirrored.events if e["event"] == "article.renamed" and e["channel"] == name]


def test_a_story_listed_through_a_redirector_and_directly_is_published_once_with_its_text(mirrored):
    for page in channel_pages(mirrored, "redirector"):
        n = int(page.path.removeprefix("pages/redirector/").removesuffix(".md"))
        assert page.meta["url"] == article_url(mirrored.site, "redirector", n)
        assert page.meta["title"] == f"redirector story {n}" and article_text("redirector", n) in page.text
    copies = {e["url"] for e in mirrored.events if e["event"] == "item.skipped" and e["channel"] == "redirector"}
    assert copies == {mirrored.site.url(f"/go?story={n}") for n in range(1, CYCLES[-1] + 1)}


@pytest.mark.parametrize("rebuilt", [True, False], ids=["right after the rebuild", "any cycle after"])
def test_pruned_pages_rebuilt_from_history_do_not_swallow_new_articles_wanting_their_name(rebuilt):
    """The planner's half of the lost-database case, without processes: `keep` had pruned `index.md`
    (article 1) and `index-<hash>.md` (article 2); the rebuild reads their links from the metadata lines
    git history holds. Article 9, new at the top of the listing, wants `index` too."""
    now = datetime.now(timezone.utc)
    items = [(f"http://site.test/world/{n}/index.htm", f"Story {n}", None, None, f"<p>{article_text('w', n)}</p>")
             for n in (9, 5, 4, 3, 2, 1)]
    discovery = filter_items(items, rules(content=None))
    lines = {f"pages/world/{name}.md": f"<!-- mirrord {metadata_line(replace(article(), id=name, url=entry.url))} -->"
             for name, entry in (("index", discovery.entries[5]), ("index-2", discovery.entries[4]))}
    lines["pages/world/unreadable.md"] = "no metadata line here"
    pruned = pruned_rows("news", lines, now)
    assert [row.key for row in pruned] == [discovery.entries[5].key, discovery.entries[4].key,
                                           "path:pages/world/unreadable.md"]
    live = [LedgerRow("news", "world", f"index-{n}", f"pages/world/index-{n}.md", entry.title, entry.url, "daily",
                      now, key=entry.key) for n, entry in zip((5, 4, 3), discovery.entries[1:4], strict=True)]
    plan = plan_fetches(LedgerView("news", (*pruned, *live)), [(channel(), discovery)], rebuilt, now)
    assert [c.entry.url for c in plan.candidates] == ["http://site.test/world/9/index.htm"]


def test_copies_that_a_later_item_shows_to_be_one_story_are_one_article():
    """The story listed over https without a guid, then through a redirector with the story's guid, then
    directly with that guid: by link the first and the third are one, by guid the second and the third."""
    text = f"<p>{article_text('w', 1)}</p>"
    items = [("https://site.test/stories/1.html", "Story 1", None, None, text),
             ("http://site.test/go?story=1", "", "story-1", None, text),
             ("http://site.test/stories/1.html", "Story 1", "story-1", None, text)]
    assert len(filter_items(items, rules(content=None)).entries) == 1


# The upgrade from the release before article identity.

def previous_release(into: Path) -> Path:
    """Return the daemon folder of the previous release (see mirror_run.release_code)."""
    return release_code(PREVIOUS_RELEASE, "the release before article identity", into)


def run_release(daemon: Path, config: Path) -> Run:
    """Run `mirrord once` of the release whose package is in daemon/."""
    env = {**os.environ, "PYTHONPATH": str(daemon)}
    done = subprocess.run([sys.executable, "-m", "mirrord", "-c", str(config), "once"], capture_output=True,
                          text=True, timeout=120, env=env)
    return Run(done.returncode, done.stdout, done.stderr)


def serve_upgrade_feed(site: Site, newest_first: list[str]) -> None:
    items = [Item(site.url(path), f"Story {path}", None, f"{path}: a story long enough to be published.")
             for path in newest_first]
    site.add("/feed.xml", rss(items), "application/xml")


def upgrade_config(tmp_path: Path, site: Site, remote: Path) -> Path:
    """Return a config of one feed channel; keep = 4 keeps a page the old release named with its old stem
    live through two cycles of the new one and a lost database."""
    config = tmp_path / "mirrord.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n\n[http]\nretries = 0\n\n[mirror.news]\n'
                      f'remotes = ["{remote}"]\nkeep = 4\n\n[source.site]\n\n[source.site.channel.feed]\n'
                      f'url = "{site.url("/feed.xml")}"\n', encoding="utf-8")
    return config


def run_cycles(site: Site, newest_first: list[str], new: list[list[str]], once: Callable[[], Run]) -> list[str]:
    """Run one cycle for each list of new items, put at the top of the feed; return the feed's items."""
    for items in new:
        newest_first = [*items, *newest_first]
        serve_upgrade_feed(site, newest_first)
        run = once()
        assert run.code == 0, run.stdout + run.stderr
    return newest_first


def test_an_upgraded_mirror_keeps_its_pages_republishes_nothing_and_publishes_what_the_stem_lost(tmp_path, site):
    """The release before identity named pages by a stem that dropped any extension: /a/1.htm and /b/1.htm
    were both `1` and it published only one of them; Linux-6.14-FUSE was `Linux-6`."""
    old = previous_release(tmp_path / "previous")
    remote = bare_repository(tmp_path / "remote.git")
    config = upgrade_config(tmp_path, site, remote)
    listed = run_cycles(site, [], [["/b/1.htm", "/a/1.htm", "/s/one.html", "/s/zero.html"],
                                   ["/news/Linux-6.14-FUSE", "/s/two.html"]], lambda: run_release(old, config))
    upgraded_at = head(remote)
    by_old = {a.path: a.meta["url"] for a in added_pages(remote)}
    assert sorted(by_old) == [f"pages/feed/{name}.md" for name in ("1", "Linux-6", "one", "two", "zero")]
    lost = site.url("/a/1.htm")
    assert lost not in by_old.values() and site.url("/b/1.htm") in by_old.values(), "the old release lost /a/1.htm"
    assert "pages/feed/zero.md" in git(remote, "log", "--diff-filter=D", "--name-only", "--format=", "main")

    listed = run_cycles(site, listed, [["/s/three.html"], ["/s/four.html"]], lambda: mirrord(config, "once"))
    by_new = {a.path: a.meta["url"] for a in added_pages(remote, since=upgraded_at)}
    identity = "//" + lost.split("://", 1)[1]  # the site's links are already canonical
    assert by_new == {f"pages/feed/1-{hashlib.sha256(identity.encode()).hexdigest()[:8]}.md": lost,
                      "pages/feed/three.md": site.url("/s/three.html"), "pages/feed/four.md": site.url("/s/four.html")}
    changes = git(remote, "log", "--format=", "--name-status", f"{upgraded_at}..main", "--", *by_old).splitlines()
    assert {line.split("\t")[0] for line in changes if line} == {"D"}, "old pages are pruned, never rewritten"
    assert git(remote, "rev-parse", f"{upgraded_at}:pages/feed/Linux-6.md") == \
        git(remote, "rev-parse", "main:pages/feed/Linux-6.md"), "kept under its old name, byte for byte"

    lose_database(tmp_path / "state")
    bumped = "/news/Linux-6.14-FUSE"  # updated on the site, so back at the top of its feed
    run_cycles(site, [item for item in listed if item != bumped], [["/s/five.html", bumped]],
               lambda: mirrord(config, "once"))
    assert sorted(a.meta["url"] for a in added_pages(remote, since=upgraded_at)) == \
        sorted([*by_new.values(), site.url("/s/five.html")]), "after a lost database: the new article, nothing again"


def test_pages_an_older_release_knew_by_path_after_its_own_rebuild_are_not_published_again(tmp_path, site):
    """The release before identity rebuilt a lost ledger with pruned pages known by path alone; the upgrade
    reads their links back from git history once, so a pruned article listed again stays pruned."""
    old = previous_release(tmp_path / "previous")
    remote = bare_repository(tmp_path / "remote.git")
    config = upgrade_config(tmp_path, site, remote)
    listed = run_cycles(site, [], [["/s/one.html", "/s/zero.html"], ["/s/four.html", "/s/three.html", "/s/two.html"]],
                        lambda: run_release(old, config))
    assert "pages/feed/zero.md" in git(remote, "log", "--diff-filter=D", "--name-only", "--format=", "main")
    lose_database(tmp_path / "state")
    listed = run_cycles(site, listed, [["/s/five.html"]], lambda: run_release(old, config))
    upgraded_at = head(remote)

    run_cycles(site, listed, [["/s/six.html"]], lambda: mirrord(config, "once"))
    assert sorted(a.meta["url"] for a in added_pages(remote, since=upgraded_at)) == [site.url("/s/six.html")]
    with closing(sqlite3.connect(tmp_path / "state" / "state.sqlite3")) as db:
        key = db.execute("SELECT key FROM articles WHERE id = 'zero'").fetchone()[0]
    assert key == "//" + site.url("/s/zero.html").split("://", 1)[1], "its identity, read from its metadata line"


def test_two_mirrors_polling_one_feed_each_keep_their_own_validators(tmp_path, site):
    """The first mirror's ETag must not make the second get a 304 on its first poll and stay empty."""
    items = [Item(site.url(f"/s/{n}.html"), f"Story {n}", None, f"Story {n}: a story long enough to be published.")
             for n in (2, 1)]
    site.add("/feed.xml", rss(items), "application/xml", headers=(("ETag", '"v1"'),))
    remotes = [bare_repository(tmp_path / f"{name}.git") for name in ("simplified", "traditional")]
    mirrors = "".join(f'[mirror.{remote.stem}]\nremotes = ["{remote}"]\n\n' for remote in remotes)
    sources = "".join(f'[source.{remote.stem}-site]\nmirror = "{remote.stem}"\n\n[source.{remote.stem}-site.channel.'
                      f'{remote.stem}-feed]\nurl = "{site.url("/feed.xml")}"\n\n' for remote in remotes)
    config = tmp_path / "mirrord.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n\n[http]\nretries = 0\n\n{mirrors}{sources}',
                      encoding="utf-8")
    assert mirrord(config, "once", "simplified-site").code == 0
    assert mirrord(config, "once", "traditional-site").code == 0
    for remote in remotes:
        assert sorted(a.meta["url"] for a in added_pages(remote)) == [site.url("/s/1.html"), site.url("/s/2.html")]
    again = mirrord(config, "once")
    assert again.code == 0 and again.stdout.count("published 0") == 2, "each mirror's second poll is a 304"


def test_a_mirror_that_never_published_a_page_does_not_rebuild_its_ledger_each_cycle(tmp_path, site):
    """Every entry held back (a feed without text): the cycles commit indexes and README, publish nothing."""
    site.add("/feed.xml", rss([Item(site.url("/s/1.html"), "Story 1", None, "")]), "application/xml")
    remote = bare_repository(tmp_path / "remote.git")
    config = upgrade_config(tmp_path, site, remote)
    for _ in range(3):
        assert mirrord(config, "once").code == 0
    assert head(remote), "the first cycle committed the channel's empty index and the README"
    assert not [e for e in status_events(tmp_path / "state") if e["event"] == "ledger.rebuilt"]


def test_dry_run_and_check_network_count_articles_and_say_which_names_are_told_apart(tmp_path, site):
    items = [Item(site.url(path), f"Story {path}", None, f"{path}: a story long enough to be published.")
             for path in ("/b/1.htm", "/a/1.htm", "/a/1.htm?utm_source=feed")]
    site.add("/feed.xml", rss(items), "application/xml")
    config = upgrade_config(tmp_path, site, bare_repository(tmp_path / "remote.git"))
    dry = mirrord(config, "once", "--dry-run")
    assert dry.code == 0 and "would publish 2" in dry.stdout
    renamed = [line for line in dry.stdout.splitlines() if "named apart" in line]
    assert len(renamed) == 1 and "pages/feed/1-" in renamed[0] and "(named apart: 1 is another article's)" in renamed[0]
    assert "the same article as " + site.url("/a/1.htm") in dry.stdout
    check = mirrord(config, "check", "--network")
    assert "3 feed entries, 2 articles to mirror (1 more were copies of these" in check.stdout
    assert "1 of them want a name another one has" in check.stdout
