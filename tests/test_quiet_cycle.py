"""A cycle that finds nothing new, as a daemon of a thousand sources runs most of its cycles: no git process,
the state written only where something changed, the clone's settings and HEAD read from its files."""

from __future__ import annotations

import asyncio
import contextvars
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from contextlib import closing
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mirrord.config import load_config
from mirrord.log import add_listener, configure_logging, remove_listener
from mirrord.model import Options, SourceResult
from mirrord.publish import Workspace
from mirrord.scheduler import STATE_CACHE_KIB, ThreadLoops, ThreadStates
from mirrord.state import State
from test_identity import previous_release, run_release

from fixture_site import add_article, channel_url, populate
from httpsite import Site
from mirror_run import bare_repository, git, mirrord, write_config

TABLES = ("articles", "channel_validators", "channels", "remotes", "mirrors", "pending")  # held_back: retried


@pytest.fixture
def site():
    """The fixture site, its channels answering a conditional GET with 304 while they do not change; without
    the pages held back (retried each cycle, they are something to fetch, and a cycle that fetches asks the
    remote first what other hosts published)."""
    with Site() as served:
        populate(served, special_cases=False)
        for channel in ("world", "local", "features"):
            path = channel_url(served, channel).removeprefix(served.base_url)
            served.routes[path] = replace(served.routes[path], headers=(("ETag", f'"{channel}-1"'),))
        yield served


def git_logged(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """Return an environment whose `git` is a wrapper noting each call in a file, and that file."""
    folder, calls = tmp_path / "bin", tmp_path / "git-calls"
    folder.mkdir()
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True, check=True).stdout.strip()
    wrapper = folder / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\nexec "{real}" "$@"\n', encoding="utf-8")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}, calls


def tables(database: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(database) as db:
        return {table: sorted(db.execute(f"SELECT * FROM {table}").fetchall()) for table in TABLES}


def test_a_cycle_with_nothing_new_runs_no_git_and_changes_nothing_stored_but_the_sources_records(tmp_path, site):
    config = write_config(tmp_path / "mirrord.toml", site, bare_repository(tmp_path / "remote.git"))
    assert mirrord(config, "once").code == 0
    before = tables(tmp_path / "state" / "state.sqlite3")
    environ, calls = git_logged(tmp_path)
    done = subprocess.run([sys.executable, "-m", "mirrord", "-c", str(config), "once"], capture_output=True, text=True,
                          env={**os.environ, **environ}, timeout=120)
    assert done.returncode == 0, done.stderr
    called = calls.read_text().splitlines() if calls.exists() else []
    assert called == []  # not even the `git version` GitPython runs when imported: it is not loaded
    assert tables(tmp_path / "state" / "state.sqlite3") == before


def test_a_cycle_after_new_articles_counts_the_commits_again(tmp_path, site):
    config = write_config(tmp_path / "mirrord.toml", site, bare_repository(tmp_path / "remote.git"))
    assert mirrord(config, "once").code == 0
    add_article(site, "world", "fresh-news", "Fresh news", ["A paragraph long enough to be published."])
    with sqlite3.connect(tmp_path / "state" / "state.sqlite3") as db:
        db.execute("UPDATE mirrors SET commits = 99")
    assert mirrord(config, "once").code == 0
    with sqlite3.connect(tmp_path / "state" / "state.sqlite3") as db:
        head, commits = db.execute("SELECT head, commits FROM mirrors").fetchone()
    assert head == git(tmp_path / "remote.git", "rev-parse", "main").strip()
    assert commits == int(git(tmp_path / "remote.git", "rev-list", "--count", "main"))


def test_a_cycle_renders_the_indexes_of_its_own_channels_a_renamed_channel_shows_at_its_sources_cycle(tmp_path, site):
    config = write_config(tmp_path / "mirrord.toml", site, bare_repository(tmp_path / "remote.git"))
    assert mirrord(config, "once").code == 0
    config.write_text(config.read_text(encoding="utf-8").replace('title = "Features"', 'title = "Long reads"'),
                      encoding="utf-8")
    index = tmp_path / "state" / "repos" / "news" / "indexes" / "features.md"
    assert mirrord(config, "once", "daily").code == 0
    assert "Long reads" not in index.read_text(encoding="utf-8")
    assert mirrord(config, "once", "weekly").code == 0
    assert "Long reads" in index.read_text(encoding="utf-8")


def pages_of(repo: Path, channel: str) -> list[str]:
    """Return the pages of a channel in the repository's last commit (a clone leaves them out of its files)."""
    return [path for path in git(repo, "ls-tree", "--name-only", "HEAD", f"pages/{channel}/").split()
            if path.endswith(".md")]


def test_a_cycle_with_nothing_new_prunes_every_channel_past_a_lowered_keep(tmp_path, site):
    """A quiet cycle reads only the live rows of its own channels, but counts every channel's: lowering `keep`
    prunes at the next poll, of any source of the mirror."""
    config = write_config(tmp_path / "mirrord.toml", site, bare_repository(tmp_path / "remote.git"))
    assert mirrord(config, "once").code == 0
    clone = tmp_path / "state" / "repos" / "news"
    before = {channel: len(pages_of(clone, channel)) for channel in ("world", "local")}
    assert min(before.values()) > 1
    config.write_text(config.read_text(encoding="utf-8").replace("keep = 300", "keep = 1"), encoding="utf-8")
    answered = len(site.requests)
    assert mirrord(config, "once", "weekly").code == 0
    # its one channel only, answered 304 (its validators were saved): nothing listed, nothing fetched
    assert site.requests[answered:] == [channel_url(site, "features").removeprefix(site.base_url)]
    for channel in ("world", "local", "features"):
        assert len(pages_of(clone, channel)) == 1
    assert git(tmp_path / "remote.git", "rev-parse", "main").strip() == git(clone, "rev-parse", "HEAD").strip()


def test_quiet_cycles_of_one_process_put_back_an_index_changed_by_hand_and_show_a_channel_renamed(tmp_path, site):
    """Within one process (the daemon), an index found as it renders is not rendered again while its file and what
    it shows stay the same: a file changed since, or a new title, is still seen at the channel's next poll."""
    from mirrord.pipeline import run_once

    path = write_config(tmp_path / "mirrord.toml", site, bare_repository(tmp_path / "remote.git"))
    index = tmp_path / "state" / "repos" / "news" / "indexes" / "features.md"
    assert all(report.ok for report in run_once(load_config(path), [], Options()))
    rendered = index.read_text(encoding="utf-8")
    configure_logging(load_config(path).log_file)
    events: list[str] = []
    add_listener(note := lambda event: events.append(event["event"]))
    try:
        for _ in range(2):  # the second finds the index as the first did
            assert run_once(load_config(path), ["weekly"], Options())[0].commit is None
    finally:
        remove_listener(note)
    assert events == ["cycle.start", "cycle.planned", "cycle.done"] * 2  # the events of any cycle with nothing new
    index.write_text(rendered.replace("#### ", "#### x", 1), encoding="utf-8")
    assert run_once(load_config(path), ["weekly"], Options())[0].ok
    assert index.read_text(encoding="utf-8") == rendered  # written again (HEAD had it so: no commit)
    path.write_text(path.read_text(encoding="utf-8").replace('title = "Features"', 'title = "Long reads"'),
                    encoding="utf-8")
    assert run_once(load_config(path), ["weekly"], Options())[0].commit is not None
    assert "Long reads" in index.read_text(encoding="utf-8")
    clone = tmp_path / "state" / "repos" / "news"
    assert git(tmp_path / "remote.git", "rev-parse", "main") == git(clone, "rev-parse", "HEAD")


def test_a_cycle_with_nothing_new_still_pushes_settles_and_undoes_what_an_earlier_one_left(tmp_path, site):
    """A cycle whose channels list nothing ends without opening the clone only when the mirror needs nothing:
    a commit a remote lacks is pushed, a cycle a crash left is settled, its half-written files are undone."""
    remote = tmp_path / "remote.git"
    config = write_config(tmp_path / "mirrord.toml", site, remote)
    assert mirrord(config, "once").code == 1  # no remote yet: the push fails
    bare_repository(remote)
    assert mirrord(config, "once").code == 0
    clone = tmp_path / "state" / "repos" / "news"
    assert git(remote, "rev-parse", "main") == git(clone, "rev-parse", "HEAD")
    database = tmp_path / "state" / "state.sqlite3"
    with closing(State(database)) as state:
        state.begin_cycle("news", git(clone, "rev-parse", "HEAD").strip(), [], [])
    assert mirrord(config, "once").code == 0
    assert tables(database)["pending"] == []
    (clone / ".git" / "mirrord-writing").write_text("", encoding="utf-8")
    (clone / "stray.md").write_text("half written", encoding="utf-8")
    assert mirrord(config, "once").code == 0
    assert not (clone / "stray.md").exists() and not (clone / ".git" / "mirrord-writing").exists()


def test_main_and_this_release_take_turns_on_one_mirror_and_publish_nothing_twice(tmp_path, site):
    """The state this release keeps (its indexes, the rows it no longer rewrites) and main's (commit 9a5543b)
    read each other's: each runs in turn on one mirror, new articles between."""
    main = previous_release(tmp_path / "main", "9a5543b")
    config = write_config(tmp_path / "mirrord.toml", site, bare_repository(tmp_path / "remote.git"))
    runs = [run_release(main, config), mirrord(config, "once")]
    add_article(site, "world", "after-main", "After main", ["A paragraph long enough to be published."])
    runs += [run_release(main, config), mirrord(config, "once")]
    add_article(site, "world", "after-this", "After this", ["A paragraph long enough to be published."])
    runs += [mirrord(config, "once"), run_release(main, config), mirrord(config, "once")]
    assert [run.code for run in runs] == [0] * len(runs), [run.stderr for run in runs]
    pages = git(tmp_path / "remote.git", "log", "--name-only", "--diff-filter=A", "--format=", "main").split()
    assert len(pages) == len(set(pages))
    assert {"pages/world/after-main.md", "pages/world/after-this.md"} <= set(pages)


def open_workspace(tmp_path: Path, site: Site, remotes: list[str]) -> Workspace:
    config = load_config(write_config(tmp_path / "mirrord.toml", site, remotes))
    return Workspace.open(config.state_dir, config.mirrors["news"], {})


def test_head_is_read_from_loose_and_packed_refs_and_is_none_before_the_first_commit(tmp_path, site):
    workspace = open_workspace(tmp_path, site, [str(bare_repository(tmp_path / "remote.git"))])
    try:
        assert workspace.head() is None
        root = workspace.root
        git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "first")
        assert workspace.head() == git(root, "rev-parse", "HEAD").strip()
        git(root, "pack-refs", "--all")
        assert not (root / ".git" / "refs" / "heads" / "main").exists()
        assert workspace.head() == git(root, "rev-parse", "HEAD").strip()
    finally:
        workspace.close()


def test_settings_and_remotes_changed_by_hand_are_put_back_when_the_clone_is_opened(tmp_path, site):
    first, second = (str(bare_repository(tmp_path / name)) for name in ("a.git", "b.git"))
    open_workspace(tmp_path, site, [first, second]).close()
    root = tmp_path / "state" / "repos" / "news"
    git(root, "config", "gc.autodetach", "true")
    git(root, "config", "--unset", "core.quotepath")
    git(root, "remote", "set-url", "mirrord-2", "/elsewhere.git")
    git(root, "remote", "add", "stray", "/stray.git")
    open_workspace(tmp_path, site, [first, second]).close()
    assert git(root, "config", "gc.autoDetach").strip() == "false"
    assert git(root, "config", "core.quotepath").strip() == "false"
    assert git(root, "config", "core.symlinks").strip() == "false"
    assert git(root, "remote").split() == ["mirrord-1", "mirrord-2"]
    assert [git(root, "remote", "get-url", name).strip() for name in ("mirrord-1", "mirrord-2")] == [first, second]


def test_same_validators_and_a_channel_that_did_not_fail_write_nothing_a_recovered_channel_does(tmp_path):
    state = State(tmp_path / "state.sqlite3")
    try:
        state.save_validators("news", "world", "http://a/feed", '"1"', None)
        state.channel_succeeded("daily", "world")
        written = state.db.total_changes
        state.save_validators("news", "world", "http://a/feed", '"1"', None)
        state.channel_succeeded("daily", "world")
        assert state.db.total_changes == written
        state.save_validators("news", "world", "http://a/feed", '"2"', None)
        assert state.validators("news", "world", "http://a/feed") == ('"2"', None)
        state.channel_failed("daily", "world", "boom", transient=True)
        state.channel_succeeded("daily", "world")
        assert state.channel_health("daily", "world").failures == 0
    finally:
        state.close()


def test_the_record_of_one_source_is_read_alone(tmp_path):
    state = State(tmp_path / "state.sqlite3")
    try:
        for name in ("daily", "weekly"):
            state.source_cycle_done("news", SourceResult(name, []), datetime.now(timezone.utc), 5)
        assert list(state.source_records("weekly")) == ["weekly"]
        assert sorted(state.source_records()) == ["daily", "weekly"]
    finally:
        state.close()


def test_a_cycle_outcome_and_the_next_run_are_one_transaction(tmp_path):
    """The daemon records both together (one sync to disk per quiet cycle, not two); a reader sees both or
    neither, and what raises inside leaves neither."""
    state, reader = State(tmp_path / "state.sqlite3"), State(tmp_path / "state.sqlite3")
    later = datetime(2030, 1, 1, tzinfo=timezone.utc)
    try:
        with state.together():
            state.source_cycle_done("news", SourceResult("daily", []), datetime.now(timezone.utc), 5)
            assert "daily" not in reader.source_records()
            state.source_scheduled("daily", "news", later)
        assert reader.source_records()["daily"].next_run == later
        with pytest.raises(RuntimeError), state.together():
            state.source_cycle_done("news", SourceResult("weekly", []), datetime.now(timezone.utc), 5)
            raise RuntimeError("a bug while recording")
        assert "weekly" not in reader.source_records()
        state.source_scheduled("weekly", "news", later)  # after it, each write is its own again
        assert reader.source_records()["weekly"].next_run == later
    finally:
        state.close()
        reader.close()


def test_the_daemon_keeps_one_state_a_thread_and_closes_them_all(tmp_path):
    states = ThreadStates()
    mine = states.get(tmp_path)
    assert states.get(tmp_path) is mine
    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(states.get(tmp_path)))
    thread.start()
    thread.join()
    assert theirs[0] is not mine
    assert mine.db.execute("PRAGMA cache_size").fetchone()[0] == -STATE_CACHE_KIB  # a hundred of them, capped
    theirs[0].source_scheduled("daily", "news", None)
    assert "daily" in mine.source_records()
    states.close()
    with pytest.raises(sqlite3.ProgrammingError):
        mine.source_records()


def test_the_daemon_keeps_one_event_loop_a_thread_and_no_cycle_leaves_anything_behind():
    """Each cycle runs in its thread's loop yet as in a loop of its own: in the context it was started from
    (its source, its mirror), with no task of an earlier cycle running on, nor its thread pool left over."""
    loops, source = ThreadLoops(), contextvars.ContextVar("source")
    seen = []

    async def a_cycle() -> asyncio.Task:
        seen.append((asyncio.get_running_loop(), source.get()))
        await asyncio.to_thread(lambda: None)
        return asyncio.ensure_future(asyncio.sleep(3600))  # a task left running, as a gather that raised leaves

    try:
        source.set("daily")
        left = loops.run(a_cycle())
        assert left.cancelled()
        source.set("weekly")
        loops.run(a_cycle())
        assert seen[0][0] is seen[1][0] and [name for _, name in seen] == ["daily", "weekly"]
        assert not [thread for thread in threading.enumerate() if thread.name.startswith("mirrord-cycle")]
    finally:
        loops.close()
    assert seen[0][0].is_closed()
