"""The mirror carries its own ledger (.mirrord/): runners without state, and two runners on one mirror.

Real processes (`mirrord once`), a real site on 127.0.0.1 and a real `git daemon` serving the remote. One
feed channel whose first item is an old story pinned on top of the listing (sites do this), new stories
put below it cycle after cycle, keep = 4.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from gitservers import git_daemon
from mirrord.index import parse_index

from httpsite import Site
from mirror_run import Run, bare_repository, git, mirrord
from releases import release, run_release

KEEP = 4
BEFORE_LEDGER = "9a5543b"  # main before the mirror kept its own ledger
PINNED = "/s/pinned.html"


def serve_feed(site: Site, newest_first: list[str]) -> None:
    """Serve the feed: the pinned story first, then the stories, newest first."""
    items = "".join(f"<item><title>Story {path}</title><link>{html.escape(site.url(path))}</link><description>"
                    f"{html.escape(f'<p>{path}: a story long enough to be published.</p>')}</description></item>"
                    for path in [PINNED, *newest_first])
    site.add("/feed.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>',
             "application/xml")


def runner(folder: Path, site: Site, remote: str, squash_after: int = 0) -> Path:
    """Return the config of one runner: its own state_dir, the shared remote."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "mirrord.toml"
    config.write_text(f'state_dir = "{folder / "state"}"\n\n[http]\nretries = 0\n\n[mirror.news]\n'
                      f'remotes = ["{remote}"]\nkeep = {KEEP}\nsquash_after = {squash_after}\n\n[source.site]\n\n'
                      f'[source.site.channel.feed]\nurl = "{site.url("/feed.xml")}"\n', encoding="utf-8")
    return config


def live_pages(remote: Path) -> set[str]:
    listing = git(remote, "ls-tree", "-r", "--name-only", "main", "--", "pages").split()
    return {path for path in listing if path.endswith(".md")}


def index_links(remote: Path) -> list[str]:
    return parse_index(git(remote, "show", "main:indexes/feed.md"))


def page_url(remote: Path, path: str) -> str:
    last = git(remote, "show", f"main:{path}").rstrip().splitlines()[-1]
    return json.loads(last.removeprefix("<!-- mirrord ").removesuffix(" -->"))["url"]


def ledger_lines(remote: Path) -> list[dict]:
    text = git(remote, "show", "main:.mirrord/ledger/feed.jsonl")
    return [json.loads(line) for line in text.splitlines() if not line.startswith("#")]


class Watch:
    """The remote's live pages after each run: a page that comes back after it was pruned is an article
    published again."""

    def __init__(self, remote: Path):
        self.remote = remote
        self.seen: list[set[str]] = []

    def snapshot(self) -> None:
        self.seen.append(live_pages(self.remote))

    def republished(self) -> list[str]:
        """Return the pages live, then gone, then live again."""
        again = []
        for path in set().union(*self.seen):
            present = "".join("1" if path in pages else "0" for pages in self.seen).strip("0")
            if "0" in present:
                again.append(path)
        return again


def check_mirror(remote: Path, site: Site, newest: list[str]) -> None:
    """The live pages are exactly the newest `keep` stories, each listed once in the index; git is clean."""
    pages = live_pages(remote)
    assert sorted(page_url(remote, path) for path in pages) == sorted(site.url(p) for p in newest[:KEEP])
    links = index_links(remote)
    assert sorted(links) == sorted(pages) and len(links) == len(set(links)), links
    added = Counter(line for line in git(remote, "log", "--diff-filter=A", "--format=", "--name-only", "main",
                                         "--", "pages").splitlines() if line.endswith(".md"))
    assert [path for path, count in added.items() if count > 1] == [], "a page added twice since the squash"
    assert subprocess.run(["git", "-C", str(remote), "fsck", "--strict", "--no-progress"], capture_output=True,
                          text=True).returncode == 0


def test_a_fresh_state_continues_a_squashed_mirror_with_a_pinned_story_exactly(tmp_path):
    """After prunes and a squash, a runner with an empty state_dir (and a shallow clone) publishes the new
    batch below the pinned story, and nothing it or `keep` pruned."""
    root = tmp_path / "git"
    remote = bare_repository(root / "news.git")
    with Site() as site, git_daemon(root) as base:
        first = runner(tmp_path / "first", site, f"{base}/news.git", squash_after=3)
        listed: list[str] = []
        watch = Watch(remote)
        for batch in (["/s/1.html", "/s/2.html"], ["/s/3.html", "/s/4.html"], ["/s/5.html"], ["/s/6.html"]):
            listed = [*reversed(batch), *listed]
            serve_feed(site, listed)
            run = mirrord(first, "once")
            assert run.code == 0, run.stdout + run.stderr
            watch.snapshot()
        assert git(remote, "rev-list", "--count", "main").strip() in ("1", "2"), "the history was squashed"
        assert any(line["key"].endswith("/s/pinned.html") and "pruned" in line for line in ledger_lines(remote))

        fresh = runner(tmp_path / "fresh", site, f"{base}/news.git")
        listed = ["/s/9.html", "/s/8.html", "/s/7.html", *listed]
        serve_feed(site, listed)
        run = mirrord(fresh, "once")
        assert run.code == 0, run.stdout + run.stderr
        watch.snapshot()
        assert (tmp_path / "fresh" / "state" / "repos" / "news" / ".git" / "shallow").is_file(), "a shallow clone"
        assert "published 3," in run.stdout, run.stdout
        assert watch.republished() == []
        check_mirror(remote, site, listed)
        again = mirrord(fresh, "once")
        assert again.code == 0 and "published 0," in again.stdout and "commit" not in again.stdout, again.stdout


def run_both(configs: list[Path]) -> list[Run]:
    """Run `mirrord once` of each config at the same time."""
    children = [subprocess.Popen([sys.executable, "-m", "mirrord", "-c", str(config), "once"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for config in configs]
    return [Run(child.wait(timeout=180), child.stdout.read(), child.stderr.read()) for child in children]


def test_two_runners_alternately_and_at_once_publish_each_article_once(tmp_path):
    root = tmp_path / "git"
    remote = bare_repository(root / "news.git")
    with Site() as site, git_daemon(root) as base:
        one, two = (runner(tmp_path / name, site, f"{base}/news.git", squash_after=6) for name in ("one", "two"))
        steps = [([one], ["/s/1.html", "/s/2.html"]), ([two], []), ([two], ["/s/3.html"]),
                 ([one], ["/s/4.html", "/s/5.html"]), ([one, two], ["/s/6.html", "/s/7.html"]),
                 ([two, one], ["/s/8.html"]), ([one], []), ([one, two], ["/s/9.html"]), ([two], ["/s/10.html"]),
                 ([one, two], []), ([one], ["/s/11.html", "/s/12.html"]), ([two], [])]
        listed: list[str] = []
        watch = Watch(remote)
        for configs, batch in steps:
            listed = [*reversed(batch), *listed]
            serve_feed(site, listed)
            runs = run_both(configs) if len(configs) > 1 else [mirrord(configs[0], "once")]
            for run in runs:
                assert run.code == 0, run.stdout + run.stderr
            watch.snapshot()
        assert watch.republished() == []
        published = [page_url(remote, path) for path in live_pages(remote)]
        check_mirror(remote, site, listed)
        assert site.url(PINNED) not in published
        ever = set().union(*watch.seen)
        assert len(ever) >= len(listed) - 1, "every story but one (pruned before its page was written) was live"
        events = [json.loads(line) for name in ("one", "two")
                  for line in (tmp_path / name / "state" / "status.log").read_text().splitlines()]
        assert any(e["event"] == "commit.squashed" for e in events)


def run_release_before_ledger(tmp_path: Path, site: Site, config: Path) -> list[str]:
    """Run three cycles of the release before the ledger, with prunes; return the feed's stories."""
    old = release(BEFORE_LEDGER, "the release before the mirror's own ledger", tmp_path / "previous")
    listed: list[str] = []
    for batch in (["/s/1.html", "/s/2.html"], ["/s/3.html", "/s/4.html"], ["/s/5.html"]):
        listed = [*reversed(batch), *listed]
        serve_feed(site, listed)
        run = run_release(old, config)
        assert run.code == 0, run.stdout + run.stderr
    return listed


def test_a_mirror_made_before_the_ledger_gets_one_from_the_state_and_a_fresh_state_continues_it(tmp_path):
    """The release before the ledger (main at 9a5543b) runs a mirror with prunes; this one runs it on the same
    state (the ledger is written from the database, nothing republished), then on an empty state_dir."""
    remote = bare_repository(tmp_path / "news.git")
    with Site() as site:
        config = runner(tmp_path / "host", site, str(remote))
        listed = run_release_before_ledger(tmp_path, site, config)
        before = live_pages(remote)

        run = mirrord(config, "once")
        assert run.code == 0 and "published 0," in run.stdout, run.stdout + run.stderr
        assert live_pages(remote) == before
        keys = {line["key"].rsplit("/", 1)[1]: "pruned" in line for line in ledger_lines(remote)}
        assert keys == {"1.html": True, "2.html": True, "pinned.html": False, "3.html": False, "4.html": False,
                        "5.html": False}, "every row of the database, pruned ones too"

        fresh = runner(tmp_path / "fresh", site, str(remote))
        listed = ["/s/7.html", "/s/6.html", *listed]
        serve_feed(site, listed)
        upgraded = git(remote, "rev-parse", "main").strip()
        run = mirrord(fresh, "once")
        assert run.code == 0, run.stdout + run.stderr
        added = git(remote, "log", "--diff-filter=A", "--format=", "--name-only", f"{upgraded}..main", "--", "pages")
        assert sorted(path for path in added.split() if path.endswith(".md")) == ["pages/feed/6.md", "pages/feed/7.md"]
        check_mirror(remote, site, listed)


def test_once_mirror_runs_only_the_named_mirrors_and_an_unknown_name_says_which_there_are(tmp_path):
    remotes = {name: bare_repository(tmp_path / f"{name}.git") for name in ("east", "west")}
    with Site() as site:
        serve_feed(site, ["/s/1.html"])
        mirrors = "".join(f'[mirror.{name}]\nremotes = ["{remote}"]\n\n' for name, remote in remotes.items())
        sources = "".join(f'[source.{name}-site]\nmirror = "{name}"\n\n[source.{name}-site.channel.{name}-feed]\n'
                          f'url = "{site.url("/feed.xml")}"\n\n' for name in remotes)
        config = tmp_path / "mirrord.toml"
        config.write_text(f'state_dir = "{tmp_path / "state"}"\n\n{mirrors}{sources}', encoding="utf-8")

        unknown = mirrord(config, "once", "--mirror", "east", "--mirror", "north")
        assert unknown.code == 2 and "no mirror named north" in unknown.stderr and "east, west" in unknown.stderr
        assert mirrord(config, "run", "--mirror", "north").code == 2, "the daemon refuses it before starting"
        assert not any(git(remote, "for-each-ref").strip() for remote in remotes.values()), "nothing ran"
        run = mirrord(config, "once", "--mirror", "west")
        assert run.code == 0 and "mirror west: published 2" in run.stdout and "east" not in run.stdout, run.stdout
        assert git(remotes["east"], "for-each-ref").strip() == "" and live_pages(remotes["west"])


def test_a_mirror_made_before_the_ledger_is_continued_by_a_fresh_state_from_its_history(tmp_path):
    """Without the database either, the ledger of a mirror the release before made is rebuilt from its pages
    and history (a shallow clone is deepened for it), and written into the mirror."""
    remote = bare_repository(tmp_path / "news.git")
    with Site() as site:
        listed = run_release_before_ledger(tmp_path, site, runner(tmp_path / "old", site, str(remote)))
        listed = ["/s/6.html", *listed]
        serve_feed(site, listed)
        fresh = runner(tmp_path / "fresh", site, str(remote))
        upgraded = git(remote, "rev-parse", "main").strip()
        run = mirrord(fresh, "once")
        assert run.code == 0, run.stdout + run.stderr
        added = git(remote, "log", "--diff-filter=A", "--format=", "--name-only", f"{upgraded}..main", "--", "pages")
        assert [path for path in added.split() if path.endswith(".md")] == ["pages/feed/6.md"]
        assert "ledger.rebuilt" in (tmp_path / "fresh" / "state" / "status.log").read_text()
        keys = {line["key"].rsplit("/", 1)[1]: "pruned" in line for line in ledger_lines(remote)}
        assert keys == {"1.html": True, "2.html": True, "pinned.html": True, "3.html": False, "4.html": False,
                        "5.html": False, "6.html": False}
        check_mirror(remote, site, listed)


def test_runners_that_never_keep_a_clone_still_squash_the_history(tmp_path):
    """An ephemeral runner's clone is shallow: its history is deepened just past squash_after to count it."""
    remote = bare_repository(tmp_path / "news.git")
    with Site() as site:
        listed: list[str] = []
        for number in range(1, 6):
            listed = [f"/s/{number}.html", *listed]
            serve_feed(site, listed)
            run = mirrord(runner(tmp_path / f"job{number}", site, str(remote), squash_after=3), "once")
            assert run.code == 0, run.stdout + run.stderr
        assert int(git(remote, "rev-list", "--count", "main")) <= 3
        assert any("commit.squashed" in (tmp_path / f"job{n}" / "state" / "status.log").read_text() for n in (4, 5))
        check_mirror(remote, site, listed)
