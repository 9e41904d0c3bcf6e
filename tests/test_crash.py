"""kill -9 at any moment of a cycle loses no article, publishes none twice and leaves git sound."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

from mirrord.index import parse_index

from fixture_site import CHANNEL_SOURCE, SHARED_SLUG, add_article, populate
from httpsite import Site
from mirror_run import bare_repository, clone, git, mirrord, write_config

KEEP = 5
KILLS = 32
# The last kills land a little past the measured cycle: a loaded machine makes the killed cycles slower than
# the one timed, and some kills must still come after the commit.
LATE = 1.2
CHANNELS = ("world", "local", "features")


def start_once(config) -> subprocess.Popen:
    """Start `mirrord once` in its own process group, so that a kill takes its git children too."""
    return subprocess.Popen([sys.executable, "-m", "mirrord", "-c", str(config), "once"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def timed_cycle(config) -> float:
    started = time.monotonic()
    assert mirrord(config, "once").code == 0
    return time.monotonic() - started


def time_to_import() -> float:
    """Return how long the interpreter takes to start and import the pipeline: no cycle runs before."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import mirrord.cli, mirrord.pipeline"], check=True)
    return time.monotonic() - started


def expected_index(news, channel: str) -> list[str]:
    """What an uninterrupted mirror shows: the channel's newest `keep` good articles, each where it lives."""
    owner = {slug: "world" for slug in news.slugs("world")}
    paths = [f"pages/{owner.get(slug, channel) if slug == SHARED_SLUG else channel}/{slug}.md"
             for slug in news.good_slugs(channel)]
    return paths[:KEEP]


def index_of(repo, channel: str) -> list[str]:
    return parse_index((repo / "indexes" / f"{channel}.md").read_text(encoding="utf-8"))


def clear_remote_locks(bare) -> None:
    """A push to a bare repository on disk runs the remote's receive-pack in our process group, so the
    kill takes the remote down too and may leave its ref locks; a remote on another machine does not
    share our fate. What is tested is mirrord's side: its clone, its state and what it pushes next."""
    for lock in [bare / "HEAD.lock", *bare.joinpath("refs").rglob("*.lock")]:
        lock.unlink(missing_ok=True)


def test_kill_9_at_32_moments_of_a_cycle(tmp_path):
    with Site() as site:
        news = populate(site)
        bare = bare_repository(tmp_path / "remote.git")
        config = write_config(tmp_path / "mirrord.toml", site, bare, keep=KEEP)
        timed_cycle(config)
        add_article(site, "features", "warm-up", "A warm-up story")
        cycle = timed_cycle(config)
        startup = time_to_import()

        after_commit = 0
        for number in range(KILLS):
            channel = CHANNELS[number % len(CHANNELS)]
            add_article(site, channel, f"story-{number}", f"Story number {number} from {CHANNEL_SOURCE[channel]}")
            process = start_once(config)
            time.sleep(startup / 2 + (cycle * LATE - startup / 2) * (number + 0.5) / KILLS)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            clear_remote_locks(bare)
            again = mirrord(config, "once")
            assert again.code == 0, again.stdout + again.stderr
            after_commit += "published 0" in again.stdout
        assert after_commit >= 3, "the kills should reach past the commit of some cycles"

    work = tmp_path / "state" / "repos" / "news"
    for repository in (work, bare):
        fsck = subprocess.run(["git", "-C", str(repository), "fsck", "--full", "--strict"], capture_output=True,
                              text=True)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert git(work, "rev-parse", "HEAD") == git(bare, "rev-parse", "main"), "unpushed commits were pushed"
    git(work, "reset", "-q")  # commits bypass the index: compare the worktree with HEAD itself
    assert git(work, "status", "--porcelain") == "", "the working clone holds exactly HEAD"

    reader = clone(bare, tmp_path / "reader")
    for channel in CHANNELS:
        assert index_of(reader, channel) == expected_index(news, channel), channel

    added = git(bare, "log", "--diff-filter=A", "--name-only", "--format=", "main", "--", "pages").split()
    assert [path for path, times in Counter(added).items() if times > 1] == [], "a page was published twice"
    changed = git(bare, "log", "--diff-filter=M", "--name-only", "--format=", "main", "--", "pages").split()
    assert changed == [], "a published page was rewritten"

    with sqlite3.connect(tmp_path / "state" / "state.sqlite3") as db:
        for channel in CHANNELS:
            live = [row[0] for row in db.execute("SELECT path FROM articles WHERE mirror = 'news' AND channel = ? "
                                                 "AND pruned = 0 ORDER BY seq DESC", (channel,))]
            assert live == index_of(reader, channel), f"ledger and HEAD disagree on {channel}"
        assert db.execute("SELECT COUNT(*) FROM pending").fetchone() == (0,)
