"""Ctrl-C on `mirrord once`: a clear message, a `cycle.interrupted` event, exit 130, and a next run that
publishes everything exactly once."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from daemon_run import wait_for
from fixture_site import add_article, populate
from httpsite import Site
from mirror_run import bare_repository, clone, git, mirrord, read_terminal, write_config

SLOW = 0.3  # seconds the site takes for each answer while a cycle is interrupted
PUSH_TIME = 2  # seconds the remote's hook takes to accept a push


def events(config) -> list[dict]:
    log_file = config.parent / "state" / "status.log"
    return [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines() if line]


def slow_push(bare, started) -> None:
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ntouch '{started}'\nsleep {PUSH_TIME}\n", encoding="utf-8")
    hook.chmod(0o755)


@pytest.fixture
def mirror(tmp_path):
    """A site, its mirror's config (once run: every article published) and the mirror's remote."""
    with Site() as site:
        news = populate(site)
        bare = bare_repository(tmp_path / "remote.git")
        config = write_config(tmp_path / "mirrord.toml", site, bare)
        assert mirrord(config, "once").code == 0
        yield site, news, config, bare


def interrupt(config, moment, times: int) -> subprocess.Popen:
    """Start `mirrord once` and send it SIGINT once moment() is true, again every half second up to `times`
    (a first Ctrl-C lets the commit or push in progress finish, a second one stops it)."""
    run = subprocess.Popen([sys.executable, "-m", "mirrord", "-c", str(config), "once"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    wait_for(moment, what="the moment to interrupt")
    for _ in range(times):
        os.kill(run.pid, signal.SIGINT)
        time.sleep(0.5)
    return run


@pytest.mark.parametrize("moment, times, said", [
    ("reading", 1, "nothing was committed for mirror news"),
    ("fetching", 1, "nothing was committed for mirror news"),
    ("pushing", 1, "the commit of mirror news was made and pushed"),
    ("pushing", 2, "the commit of mirror news was made and will be pushed next run"),
])
def test_ctrl_c_says_what_was_committed_exits_130_and_the_next_run_publishes_once(mirror, tmp_path, moment, times,
                                                                                  said):
    site, _, config, bare = mirror
    slug = f"interrupted-while-{moment}"
    add_article(site, "features", slug, f"A story interrupted while {moment}")
    before = len(events(config))
    push_started = tmp_path / "push-started"
    slow_push(bare, push_started)
    site.delay = SLOW
    moments = {"reading": lambda: any(e["event"] == "cycle.start" for e in events(config)[before:]),
               "fetching": lambda: any(slug in path for path in site.requests[-3:]),
               "pushing": push_started.exists}
    run = interrupt(config, moments[moment], times)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stdout + stderr
    assert f"mirrord: interrupted: {said}" in stderr, stderr
    assert "Traceback" not in stderr
    [event] = [e for e in events(config)[before:] if e["event"] == "cycle.interrupted"]
    assert event["mirror"] == "news" and said in event["error"]

    site.delay = 0
    time.sleep(PUSH_TIME)  # a push to a remote on this machine left by a killed git push may still be going on
    again = mirrord(config, "once")
    assert again.code == 0, again.stdout + again.stderr
    reader = clone(bare, tmp_path / "reader")
    assert (reader / "pages" / "features" / f"{slug}.md").exists()
    added = git(bare, "log", "--diff-filter=A", "--name-only", "--format=", "main", "--", "pages").split()
    assert [path for path, times in Counter(added).items() if times > 1] == [], "a page was published twice"
    assert {p for p in added if p.endswith(".md")} == {str(p.relative_to(reader)) for p in reader.glob("pages/*/*.md")}
    assert mirrord(config, "once").stdout.startswith("mirror news: published 0"), "nothing left to publish"


def test_ctrl_c_in_a_terminal_stops_the_progress_display_then_says_what_happened(mirror):
    site, _, config, _ = mirror
    add_article(site, "features", "in-a-terminal", "A story interrupted in a terminal")
    site.delay = SLOW
    before = len(events(config))
    primary, secondary = pty.openpty()
    run = subprocess.Popen([sys.executable, "-m", "mirrord", "-c", str(config), "once"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=secondary, env={**os.environ, "COLUMNS": "160"})
    os.close(secondary)
    shown: list[str] = []
    reader = threading.Thread(target=lambda: shown.append(read_terminal(primary)))
    reader.start()
    wait_for(lambda: any(e["event"] == "cycle.start" for e in events(config)[before:]), what="the cycle")
    os.kill(run.pid, signal.SIGINT)
    assert run.wait(60) == 130
    reader.join(10)
    [text] = shown
    message = text.rindex("mirrord: interrupted: nothing was committed for mirror news")
    assert text.rindex("\x1b[?25l") < text.rindex("\x1b[?25h") < message, "the display hid the cursor, then stopped"
    assert "news (daily, weekly)" in text[:message]
