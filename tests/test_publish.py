"""Publishing on real git servers: git daemon, sshd with a deploy key, remotes that are down, refuse, or moved."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gitservers import deploy_key, free_port, gated_repository, git_daemon, rejecting_repository, require_sshd, sshd

from daemon_run import wait_for
from fixture_site import add_article, populate
from httpsite import Site
from mirror_run import bare_repository, clone, commit_count, git, mirrord, write_config

TOKEN = "tok-5ecret-abcdef-123456"
KEY_PATH = "/nonexistent/keys/very-secret-deploy-key"


@pytest.fixture
def site():
    with Site() as served:
        populate(served)
        yield served


def remote_state(tmp_path: Path) -> dict[str, tuple]:
    with sqlite3.connect(tmp_path / "state" / "state.sqlite3") as db:
        rows = db.execute("SELECT remote, pushed_commit, last_error, unpushed, failures FROM remotes").fetchall()
    return {row[0]: row[1:] for row in rows}


def test_pushes_over_git_daemon_and_over_ssh_with_a_deploy_key(tmp_path, site):
    served = tmp_path / "served"
    bare_repository(served / "news.git")
    key = deploy_key(tmp_path / "keys")
    with git_daemon(served) as daemon_url, sshd(tmp_path / "sshd", key) as ssh_url:
        ssh_bare = bare_repository(tmp_path / "ssh-target.git")
        ssh_remote = f"{ssh_url}{ssh_bare}"
        config = write_config(tmp_path / "mirrord.toml", site, [f"{daemon_url}/news.git", ssh_remote],
                              extra_mirror=f'ssh_key = "{key}"')
        run = mirrord(config, "once")
        assert run.code == 0, run.stdout + run.stderr
    head = git(served / "news.git", "rev-parse", "main")
    assert git(ssh_bare, "rev-parse", "main") == head
    assert "ssh-ed25519" in (tmp_path / "state" / "known_hosts").read_text(), "host key learnt into our own file"
    assert str(key) not in (tmp_path / "state" / "status.log").read_text()


@pytest.mark.parametrize(("environ", "outcome"), [({}, pytest.skip.Exception), ({"CI": "true"}, pytest.fail.Exception)])
def test_tests_needing_sshd_skip_without_it_saying_why_but_fail_in_ci(tmp_path, environ, outcome):
    with pytest.raises(outcome, match="sshd not found at .*: install openssh-server"):
        require_sshd(str(tmp_path / "no-sshd"), environ)


def test_dead_and_refusing_remotes_keep_their_commits_for_later_and_do_not_stop_the_others(tmp_path, site):
    served = tmp_path / "served"
    bare_repository(served / "down.git")
    refusing = rejecting_repository(tmp_path / "refusing.git", "read-only mirror")
    good = bare_repository(tmp_path / "good.git")
    port = free_port()
    down = f"git://127.0.0.1:{port}/down.git"
    config = write_config(tmp_path / "mirrord.toml", site, [down, str(refusing), str(good)])

    first = mirrord(config, "once")
    assert first.code == 1
    assert "read-only mirror" in first.stdout and f"push to {down}" in first.stdout
    assert commit_count(good) == 1
    add_article(site, "features", "harbour-festival", "Harbour festival draws record crowds")
    assert mirrord(config, "once").code == 1
    assert commit_count(good) == 2
    state = remote_state(tmp_path)
    assert state[down][0] is None and state[down][2:] == (2, 2), "two commits wait, two failures counted"
    assert "read-only mirror" in state[str(refusing)][1]

    (refusing / "hooks" / "pre-receive").unlink()
    with git_daemon(served, port):
        assert mirrord(config, "once").code == 0
    head = git(good, "rev-parse", "main")
    assert git(served / "down.git", "rev-parse", "main") == head == git(refusing, "rev-parse", "main")
    assert all(values[1:] == (None, 0, 0) for values in remote_state(tmp_path).values())


def edit_remote(bare: Path, into: Path, path: str, text: str) -> str:
    """Commit and push a change as someone editing on the git host would; return the new remote head."""
    clone(bare, into)
    (into / path).write_text(text, encoding="utf-8")
    git(into, "add", path)
    git(into, "-c", "user.name=Web Editor", "-c", "user.email=web@example.test", "commit", "-qm", f"edit {path}")
    git(into, "push", "-q", "origin", "main")
    return git(bare, "rev-parse", "main").strip()


def test_remote_that_moved_gets_our_commits_rebased_onto_it_never_forced(tmp_path, site):
    bare = bare_repository(tmp_path / "remote.git")
    config = write_config(tmp_path / "mirrord.toml", site, bare)
    assert mirrord(config, "once").code == 0
    add_article(site, "features", "harbour-festival", "Harbour festival draws record crowds")
    assert mirrord(config, "once", "--no-push").code == 0, "our commit, not pushed yet"
    edit_remote(bare, tmp_path / "web1", "NOTES.md", "Notes kept by a human.\n")
    foreign = edit_remote(bare, tmp_path / "web2", "README.md", "Someone rewrote the README on the web.\n")

    run = mirrord(config, "once")
    assert run.code == 0, run.stdout + run.stderr
    assert subprocess.run(["git", "-C", str(bare), "merge-base", "--is-ancestor", foreign, "main"]).returncode == 0
    assert git(bare, "log", "--format=%an", "-1").strip() == "mirrord"
    assert git(bare, "rev-list", "--count", "--merges", "main").strip() == "0", "rebased, not merged"
    reader = clone(bare, tmp_path / "reader")
    assert (reader / "NOTES.md").read_text() == "Notes kept by a human.\n"
    assert (reader / "README.md").read_text().startswith("# News mirror"), "the README is ours again"
    assert (reader / "pages" / "features" / "harbour-festival.md").is_file()
    assert "push.integrate" in (tmp_path / "state" / "status.log").read_text()


def test_squash_after_replaces_history_by_one_commit_with_the_same_pages(tmp_path, site):
    bare = bare_repository(tmp_path / "remote.git")
    config = write_config(tmp_path / "mirrord.toml", site, bare, extra_mirror="squash_after = 3")
    for number in range(3):
        if number:
            add_article(site, "features", f"story-{number}", f"Story number {number}")
        assert mirrord(config, "once").code == 0
    assert commit_count(bare) == 3
    tree = git(bare, "rev-parse", "main^{tree}")
    add_article(site, "features", "story-3", "Story number 3")
    assert mirrord(config, "once").code == 0
    assert commit_count(bare) == 1
    squashed = clone(bare, tmp_path / "reader")
    assert (squashed / "pages" / "features" / "story-3.md").is_file()
    assert git(bare, "rev-parse", "main^{tree}") != tree
    assert git(bare, "ls-tree", "-r", "--name-only", "main").count("pages/") == len(
        list((squashed / "pages").rglob("*.*")))
    with sqlite3.connect(tmp_path / "state" / "state.sqlite3") as db:
        commits, size = db.execute("SELECT commits, size_bytes FROM mirrors WHERE mirror = 'news'").fetchone()
    assert commits == 1 and size > 0
    add_article(site, "features", "story-4", "Story number 4")
    assert mirrord(config, "once").code == 0
    assert commit_count(bare) == 2, "a squashed remote takes ordinary pushes again"


class AuthRecorder(BaseHTTPRequestHandler):
    """A git smart-HTTP endpoint that refuses everyone, remembering what credentials were offered."""

    offered: list[str] = []

    def do_GET(self) -> None:
        if self.headers.get("Authorization"):
            AuthRecorder.offered.append(base64.b64decode(self.headers["Authorization"].split()[1]).decode())
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


def test_token_and_key_path_never_reach_logs_errors_status_or_git_config(tmp_path, site):
    server = ThreadingHTTPServer(("127.0.0.1", 0), AuthRecorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    remote = f"http://127.0.0.1:{server.server_address[1]}/me/news.git"
    config = write_config(tmp_path / "mirrord.toml", site, remote,
                          extra_mirror=f'token_env = "MIRRORD_TEST_TOKEN"\nssh_key = "{KEY_PATH}"')
    run = subprocess.run([sys.executable, "-m", "mirrord", "-c", str(config), "once"], capture_output=True,
                         text=True, env={**__import__("os").environ, "MIRRORD_TEST_TOKEN": TOKEN}, timeout=120)
    server.shutdown()
    assert run.returncode == 1
    assert f"x-access-token:{TOKEN}" in AuthRecorder.offered, "the token was offered through the askpass helper"
    places = {"stdout": run.stdout, "stderr": run.stderr,
              "status log": (tmp_path / "state" / "status.log").read_text(),
              "git config": (tmp_path / "state" / "repos" / "news" / ".git" / "config").read_text(),
              "state": "\n".join(sqlite3.connect(tmp_path / "state" / "state.sqlite3").iterdump())}
    assert "push.failed" in places["status log"]
    for name, text in places.items():
        assert TOKEN not in text, name
        assert KEY_PATH not in text, name


def test_a_second_run_waits_for_the_lock_then_exits_3_naming_the_holder(tmp_path, site):
    gate = tmp_path / "let-the-push-end"
    held = gated_repository(tmp_path / "held.git", gate)
    config = write_config(tmp_path / "mirrord.toml", site, held)
    holder = subprocess.Popen([sys.executable, "-m", "mirrord", "-c", str(config), "once"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "state" / "locks" / "news.lock"
    wait_for(lambda: lock.exists() and lock.read_text(), what="the first run to take the lock")
    started = time.monotonic()
    waiting = subprocess.run([sys.executable, "-m", "mirrord", "-c", str(config), "once"], capture_output=True,
                             text=True, env={**__import__("os").environ, "MIRRORD_LOCK_WAIT": "1"}, timeout=60)
    assert waiting.returncode == 3
    assert f"pid {holder.pid}" in waiting.stderr
    assert time.monotonic() - started >= 1, "it waited MIRRORD_LOCK_WAIT before giving up"
    assert holder.poll() is None, "it gave up while the lock was held, instead of waiting for the holder"
    gate.touch()
    assert holder.wait(timeout=60) == 0
    assert commit_count(held) == 1


def test_a_remote_that_moved_after_our_commits_went_elsewhere_is_merged_not_rebased(tmp_path, site):
    first = bare_repository(tmp_path / "first.git")
    second = bare_repository(tmp_path / "second.git")
    config = write_config(tmp_path / "mirrord.toml", site, [str(first), str(second)])
    assert mirrord(config, "once").code == 0
    foreign = edit_remote(second, tmp_path / "web", "NOTES.md", "Edited on the second host.\n")
    add_article(site, "features", "harbour-festival", "Harbour festival draws record crowds")

    run = mirrord(config, "once")
    assert run.code == 0, run.stdout + run.stderr
    head = git(second, "rev-parse", "main")
    assert git(first, "rev-parse", "main") == head, "the first remote got the merge in the same cycle"
    assert git(second, "rev-list", "--count", "--merges", "main").strip() == "1"
    assert subprocess.run(["git", "-C", str(second), "merge-base", "--is-ancestor", foreign, "main"]).returncode == 0
    assert (clone(first, tmp_path / "reader") / "NOTES.md").is_file()


def test_the_daemon_waits_before_pushing_again_to_a_failing_remote(tmp_path, site):
    from mirrord.config import load_config
    from mirrord.log import configure_logging
    from mirrord.model import Options
    from mirrord.pipeline import run_once

    port = free_port()
    down = f"git://127.0.0.1:{port}/down.git"
    config = load_config(write_config(tmp_path / "mirrord.toml", site, down))
    configure_logging(config.log_file)
    assert not run_once(config, [], Options(push_backoff=True))[0].ok
    add_article(site, "features", "harbour-festival", "Harbour festival draws record crowds")
    assert run_once(config, [], Options(push_backoff=True))[0].ok, "a deferred push is not a failure"
    events = (tmp_path / "state" / "status.log").read_text()
    assert events.count('"event": "push.failed"') == 1 and '"event": "push.deferred"' in events
    assert remote_state(tmp_path)[down][2:] == (1, 1), "one failure counted; its next attempt is later"


def test_a_mirror_whose_lock_is_held_is_reported_and_the_other_mirrors_still_run(tmp_path, site):
    """One mirror's lock held by another process: `once` reports it, runs and records the others, exits 3."""
    populate(site)
    config = write_config(tmp_path / "mirrord.toml", site, bare_repository(tmp_path / "news.git"))
    other = bare_repository(tmp_path / "other.git")
    text = config.read_text(encoding="utf-8").replace("[source.daily]\n", '[source.daily]\nmirror = "news"\n')
    text = text.replace("[source.weekly]\n", '[source.weekly]\nmirror = "news"\n')
    feed = site.add("/other.xml", '<?xml version="1.0"?><rss version="2.0"><channel><title>o</title><item>'
                    f'<title>Other story</title><link>{site.url("/other/1.html")}</link><description>A story of the '
                    'other mirror, long enough to be published.</description></item></channel></rss>',
                    "application/xml")
    text += (f'\n[mirror.other]\nremotes = ["{other}"]\n\n[source.othersite]\nmirror = "other"\n\n'
             f'[source.othersite.channel.otherfeed]\nurl = "{feed}"\n')
    config.write_text(text, encoding="utf-8")
    lock = tmp_path / "state" / "locks" / "news.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as handle:
        handle.write("a test holding it")
        handle.flush()
        fcntl.flock(handle, fcntl.LOCK_EX)
        run = subprocess.run([sys.executable, "-m", "mirrord", "-c", str(config), "once"], capture_output=True,
                             text=True, env={**os.environ, "MIRRORD_LOCK_WAIT": "0"}, timeout=120)
    assert run.returncode == 3, run.stdout + run.stderr
    assert "mirror news is being written by a test holding it" in run.stderr
    assert "mirror other: published 1" in run.stdout
    assert commit_count(other) == 1
    status = json.loads(subprocess.run([sys.executable, "-m", "mirrord", "-c", str(config), "status", "--json"],
                                       capture_output=True, text=True, timeout=60).stdout)
    assert "othersite" in json.dumps(status), "the cycle of the mirror that ran is recorded"
