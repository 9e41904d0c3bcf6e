"""`mirrord run` end to end: a real daemon process, a real site, a real bare remote, a real notify socket."""

from __future__ import annotations

import json
import os
import pty
import resource
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, make_wsgi_app

from mirrord.config import load_config
from mirrord.metrics import start_server, with_health
from mirrord.scheduler import Daemon

from daemon_run import DaemonProcess, NotifySocket, health, schedule_every, wait_for, without_source
from fixture_site import add_article, populate, set_body
from httpsite import Site
from mirror_run import bare_repository, git, mirrord, read_terminal, write_config


@pytest.fixture
def site():
    with Site() as served:
        yield served


@pytest.fixture
def notify_socket():
    sock = NotifySocket()
    yield sock
    sock.close()


@pytest.fixture
def daemons():
    started: list[DaemonProcess] = []

    def start(config, env=None) -> DaemonProcess:
        started.append(DaemonProcess(config, env))
        return started[-1]

    yield start
    for daemon in started:
        daemon.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def has_file(bare, path: str) -> bool:
    return bool(git(bare, "ls-tree", "--name-only", "main", path).strip()) if has_commits(bare) else False


def has_commits(bare) -> bool:
    return bool(git(bare, "for-each-ref", "refs/heads/main").strip())


def status_json(config, code: int = 0) -> dict:
    """Return `status --json`, which exits 1 while a source or a remote is failing."""
    run = mirrord(config, "status", "--json")
    assert run.code == code, run.stderr
    return json.loads(run.stdout)


def test_daemon_publishes_on_schedule_tells_systemd_and_stops_cleanly(tmp_path, site, notify_socket, daemons):
    news = populate(site)
    bare = bare_repository(tmp_path / "remote.git")
    port = free_port()
    config = schedule_every(write_config(tmp_path / "mirrord.toml", site, bare), "1s",
                            f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
    daemon = daemons(config, {"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "1000000"})

    wait_for(lambda: has_file(bare, "pages/features"), what="the first cycle's push")
    wait_for(lambda: notify_socket.received("WATCHDOG=1"), what="a watchdog ping")
    assert notify_socket.received("READY=1")

    daemon.log_file.rename(daemon.log_file.with_name("status.log.1"))  # what logrotate does
    add_article(site, "features", "harbour-festival", "Harbour festival draws record crowds")
    wait_for(lambda: has_file(bare, "pages/features/harbour-festival.md"), what="the scheduled cycle")
    wait_for(lambda: daemon.logged("article.published", article="harbour-festival"), what="the reopened log")

    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'mirrord_articles_published_total{channel="features",source="weekly"}' in metrics
    assert health(port) == 200
    assert 'mirrord_source_last_success_timestamp_seconds{source="daily"}' in metrics

    assert daemon.stop() == 0
    assert notify_socket.received("STOPPING=1")
    assert any("weekly" in m and "new" in m for m in notify_socket.received("STATUS="))
    done = [e for e in daemon.events() if e["event"] == "cycle.done"]
    assert {e["source"] for e in done} == {"daily", "weekly"}
    assert all(e["mirror"] == "news" and "duration_ms" in e and "ts" in e for e in done)

    status = status_json(config)
    by_name = {s["name"]: s for s in status["sources"]}
    assert by_name["weekly"]["result"] == "ok" and by_name["weekly"]["failures"] == 0
    assert by_name["weekly"]["published_24h"] == len(news.good_slugs("features")), "harbour-festival included"
    assert by_name["daily"]["last_cycle"] and by_name["daily"]["next_run"]
    [mirror] = status["mirrors"]
    [remote] = mirror["remotes"]
    assert remote["pushed_commit"] == git(bare, "rev-parse", "main").strip() and remote["last_error"] is None


def metric(port: int, line: str) -> str | None:
    """Return the value of a metric line (name and labels) the daemon serves, None when it serves none."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return next((found.split()[-1] for found in text.splitlines() if found.startswith(line + " ")), None)


def test_healthz_fails_only_when_the_scheduler_heartbeat_stops(tmp_path, site):
    config = load_config(write_config(tmp_path / "mirrord.toml", site, bare_repository(tmp_path / "remote.git")))
    daemon = Daemon(config, lambda: config)
    port = free_port()
    server = start_server(f"127.0.0.1:{port}", with_health(make_wsgi_app(CollectorRegistry()), daemon.alive))
    try:
        assert health(port) == 503, "no scheduler yet"
        daemon.scheduler.start()
        daemon.beat()
        assert health(port) == 200
        daemon.last_beat -= 60  # the heartbeat job has not run for a minute: the scheduler is wedged
        assert health(port) == 503
        assert "mirrord_" not in urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        daemon.scheduler.shutdown(wait=False)
        daemon.http.close()
        server.shutdown()


def test_a_redesign_under_the_daemon_makes_the_source_broken_loudly_until_it_publishes(tmp_path, site, daemons):
    populate(site)
    port = free_port()
    config = schedule_every(write_config(tmp_path / "mirrord.toml", site, bare_repository(tmp_path / "remote.git")),
                            "1s", f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
    daemon = daemons(config)
    wait_for(lambda: daemon.logged("cycle.done", source="weekly"), what="weekly's first cycle")
    for slug in ("new-look-one", "new-look-two"):  # the site's new layout: no div.story-text
        add_article(site, "features", slug, f"Redesigned {slug}")
        set_body(site, slug, None)
        wait_for(lambda slug=slug: daemon.logged("article.skipped", article=slug), what=f"{slug} held back")

    broken = wait_for(lambda: daemon.logged("source.broken", source="weekly"), what="source.broken")[0]
    assert broken["level"] == "warning" and "div.story-text" in broken["error"]
    weekly = {s["name"]: s for s in status_json(config, code=1)["sources"]}
    assert weekly["weekly"]["attention"] == "broken" and "div.story-text" in weekly["weekly"]["held_back_reason"]
    assert weekly["daily"]["attention"] is None, "its stubs held back again do not make it broken"
    assert mirrord(config, "status").code == 1
    assert metric(port, 'mirrord_source_broken{source="weekly"}') == "1.0"
    assert health(port) == 200, "a broken source is the operator's to fix: a liveness probe must not restart it"

    success = metric(port, 'mirrord_source_last_success_timestamp_seconds{source="weekly"}')
    cycles = len(daemon.logged("cycle.done", source="weekly"))
    wait_for(lambda: len(daemon.logged("cycle.done", source="weekly")) >= cycles + 2, what="two more cycles")
    assert metric(port, 'mirrord_source_last_success_timestamp_seconds{source="weekly"}') == success, \
        "a broken source's cycles are no successes"

    add_article(site, "features", "fixed-rules", "The rules match again")
    wait_for(lambda: daemon.logged("source.recovered", source="weekly"), what="source.recovered")
    wait_for(lambda: metric(port, 'mirrord_source_broken{source="weekly"}') == "0.0", what="the gauge back at 0")
    assert daemon.stop() == 0


def test_sighup_adds_a_source_and_a_broken_config_keeps_the_old_one(tmp_path, site, daemons):
    populate(site)
    bare = bare_repository(tmp_path / "remote.git")
    config = schedule_every(write_config(tmp_path / "mirrord.toml", site, bare), "1s")
    full = config.read_text(encoding="utf-8")
    config.write_text(without_source(config, "weekly"), encoding="utf-8")
    daemon = daemons(config)
    wait_for(lambda: has_file(bare, "pages/world"), what="the daily source's push")

    config.write_text("bogus = 1\n" + full.replace('every = "1s"', 'every = "soon"'), encoding="utf-8")
    daemon.signal(signal.SIGHUP)
    [failed] = wait_for(lambda: daemon.logged("config.reload_failed"), what="the rejected reload")
    assert len(failed["problems"]) >= 2, failed
    assert daemon.process.poll() is None, "a broken config on reload must not stop the daemon"

    config.write_text(full, encoding="utf-8")
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: has_file(bare, "pages/features"), what="the added source's push")
    assert daemon.logged("config.reloaded", added=["weekly"])
    assert daemon.stop() == 0


def test_sigterm_during_a_slow_push_lets_it_finish_and_exits_0(tmp_path, site, daemons):
    populate(site)
    bare = bare_repository(tmp_path / "remote.git")
    started = tmp_path / "push-started"
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ntouch '{started}'\nsleep 3\n", encoding="utf-8")
    hook.chmod(0o755)
    config = schedule_every(write_config(tmp_path / "mirrord.toml", site, bare), "1h")
    daemon = daemons(config)

    wait_for(started.exists, what="the push to start")
    daemon.signal(signal.SIGTERM)
    assert daemon.process.wait(60) == 0
    assert has_file(bare, "pages/world"), "the push in progress was finished"
    assert not daemon.logged("cycle.start", source="weekly"), "no cycle starts once the stop began"
    names = [e["event"] for e in daemon.events()]
    assert names.index("daemon.stopping") < names.index("push.done") < names.index("daemon.stopped")


def test_per_host_holds_for_the_daemon_process_across_mirrors(tmp_path, daemons):
    """Two mirrors' jobs run at once in their own threads; with per_host = 1 the slow site still never
    answers two requests at once, because the process has one set of limits, whatever thread's loop asks."""
    with Site(delay=0.3) as slow:
        populate(slow, special_cases=False)
        config = write_config(tmp_path / "mirrord.toml", slow, bare_repository(tmp_path / "news.git"))
        text = config.read_text(encoding="utf-8").replace(
            "[source.weekly]\n", '[source.weekly]\nmirror = "other"\n').replace(
            "[source.daily]\n", '[source.daily]\nmirror = "news"\n').replace(
            "[mirror.news]", f'[http]\nper_host = 1\n\n[mirror.other]\ntitle = "Other"\n'
            f'remotes = ["{bare_repository(tmp_path / "other.git")}"]\n\n[mirror.news]')
        config.write_text(text, encoding="utf-8")
        daemon = daemons(schedule_every(config, "1h"))
        wait_for(lambda: len(daemon.logged("cycle.done")) == 2, timeout=60, what="both mirrors' cycles")
        assert daemon.stop() == 0
        names = [(e["event"], e.get("mirror")) for e in daemon.events()]
        assert max(names.index(("cycle.start", m)) for m in ("news", "other")) \
            < min(names.index(("cycle.done", m)) for m in ("news", "other")), "the two cycles ran at once"
        assert len(slow.requests) > 10
        assert slow.most_in_flight == 1


def test_the_daemon_raises_its_soft_limit_of_open_files_to_the_hard_one(tmp_path, site, daemons):
    """Each mirror's thread holds a few files: a daemon of a few hundred mirrors would run out of the usual 1024."""
    populate(site)
    config = schedule_every(write_config(tmp_path / "mirrord.toml", site, bare_repository(tmp_path / "news.git")),
                            "1h")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # what the daemon inherits
    try:
        daemon = daemons(config)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    wait_for(lambda: daemon.logged("cycle.done"), what="a cycle")
    limits = Path(f"/proc/{daemon.process.pid}/limits").read_text()
    (line,) = [line for line in limits.splitlines() if line.startswith("Max open files")]
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    assert int(line.split()[3]) == wanted, line
    assert daemon.stop() == 0


def test_status_json_and_table_report_a_failing_source(tmp_path, site):
    populate(site)
    bare = bare_repository(tmp_path / "remote.git")
    config = write_config(tmp_path / "mirrord.toml", site, bare)
    del site.routes["/weekly/features.html"]
    assert mirrord(config, "once").code == 1
    assert mirrord(config, "once", "weekly").code == 1

    by_name = {s["name"]: s for s in status_json(config, code=1)["sources"]}
    assert by_name["weekly"]["failures"] == 2 and by_name["weekly"]["attention"] == "failing"
    assert "HTTP 404" in by_name["weekly"]["error"]
    assert by_name["daily"]["failures"] == 0 and by_name["daily"]["attention"] is None
    assert by_name["daily"]["published_24h"] > 0
    table = mirrord(config, "status")
    assert table.code == 1, table.stderr
    assert "weekly" in table.stdout and "failing" in table.stdout and str(bare) in table.stdout


def test_status_follow_shows_new_events_for_people_filtered(tmp_path, site):
    populate(site)
    bare = bare_repository(tmp_path / "remote.git")
    config = write_config(tmp_path / "mirrord.toml", site, bare)
    follower = subprocess.Popen([sys.executable, "-m", "mirrord", "-c", str(config), "status", "--follow",
                                 "--source", "weekly", "--level", "info"], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "COLUMNS": "200"})
    try:
        assert mirrord(config, "once").code == 0
        lines = [follower.stdout.readline()]
        while lines[-1] and "cycle.done" not in lines[-1]:
            lines.append(follower.stdout.readline())
    finally:
        follower.terminate()
        follower.wait(10)
        follower.stdout.close()
    assert any("article.published weekly/features" in line for line in lines), lines
    assert "commit.done news" in "".join(lines), "the mirror's own events belong to each of its sources"
    assert not [line for line in lines if "daily/" in line]


def test_once_in_a_terminal_shows_progress_and_plain_lines_otherwise(tmp_path, site):
    populate(site)
    bare = bare_repository(tmp_path / "remote.git")
    config = write_config(tmp_path / "mirrord.toml", site, bare)
    primary, secondary = pty.openpty()
    run = subprocess.Popen([sys.executable, "-m", "mirrord", "-c", str(config), "once"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=secondary, env={**os.environ, "COLUMNS": "160"})
    os.close(secondary)
    shown = read_terminal(primary)
    assert run.wait(60) == 0
    report = run.stdout.read().decode("utf-8")
    run.stdout.close()
    assert "news (daily, weekly)" in shown and "new, 0 pruned" in shown, shown
    assert "article.published" not in shown, "in a terminal, progress replaces the event lines"
    assert "ts=" not in shown and "article.skipped" not in shown, "no raw log lines in a terminal"
    assert "held back" in report and report.count("pushed to") == 1 and "pushed to" not in shown, \
        "what the report says at the end is said once, there"

    add_article(site, "features", "harbour-festival", "Harbour festival draws record crowds")
    plain = mirrord(config, "once")
    assert "article.published" in plain.stderr and "\x1b[" not in plain.stderr

