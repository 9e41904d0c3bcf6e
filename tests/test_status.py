"""What `mirrord status` makes stand out, how it fits a terminal and what it exits with, and how the status log
is shown and filtered for people."""

from __future__ import annotations

import io
import json
import threading
from contextlib import closing
from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console

from gitservers import rejecting_repository
from mirrord.console import event_line, print_status, relative, size_text
from mirrord.follow import follow_events, wanted
from mirrord.state import State
from mirrord.status import MirrorStatus, RemoteStatus, SourceStatus, first_line, is_quiet, shown_url

from mirror_run import bare_repository, mirrord, write_config

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def hours_ago(*hours: float) -> list[datetime]:
    return [NOW - timedelta(hours=h) for h in hours]


@pytest.mark.parametrize(("times", "quiet"), [
    (hours_ago(1, 2, 3, 4, 5, 6), False),  # publishes hourly, last an hour ago
    (hours_ago(5, 6, 7, 8, 9, 10), True),  # publishes hourly, silent for five hours
    (hours_ago(0.5, 0.6, 0.7, 0.8, 0.9, 1.0), False),  # under the floor of an hour
    (hours_ago(48, 72, 96, 120, 144, 168), False),  # daily, two days is not much longer than usual
    (hours_ago(120, 144, 168, 192, 216, 240), True),  # daily, five days
    (hours_ago(50, 51, 52), False),  # too little history to know what is usual
    ([], False),
])
def test_a_source_is_quiet_when_silent_much_longer_than_usual(times, quiet):
    assert is_quiet(times, NOW) is quiet


@pytest.mark.parametrize(("event", "level", "source", "mirror", "shown"), [
    ({"event": "fetch.failed", "level": "warning", "source": "daily"}, "info", "daily", "news", True),
    ({"event": "fetch.failed", "level": "warning", "source": "weekly"}, "info", "daily", "news", False),
    ({"event": "push.done", "level": "info", "mirror": "news"}, "info", "daily", "news", True),
    ({"event": "push.done", "level": "info", "mirror": "other"}, "info", "daily", "news", False),
    ({"event": "push.done", "level": "info", "mirror": "news"}, "warning", None, None, False),
    ({"event": "cycle.crashed", "level": "error"}, "warning", None, None, True),
    ({"event": "not json"}, "info", None, None, True),
])
def test_follow_filters_by_level_and_source(event, level, source, mirror, shown):
    assert wanted(event, level, source, mirror) is shown


def test_event_line_puts_time_level_event_and_place_first():
    line = event_line({"ts": "2026-11-26T10:04:05.123Z", "level": "warning", "event": "fetch.failed",
                       "source": "daily", "channel": "world", "mirror": "news", "error": "HTTP 404"}).plain
    assert line == "10:04:05 WARNING fetch.failed daily/world error=HTTP 404"


def test_relative_times_and_sizes_read_naturally():
    assert relative(NOW - timedelta(minutes=5), NOW) == "5m ago"
    assert relative(NOW + timedelta(hours=2), NOW) == "in 2h"
    assert relative(None, NOW) == "-"
    assert size_text(1_234_567) == "1.2 MB" and size_text(12) == "12 B"


def test_following_survives_rotation_and_skips_partial_lines(tmp_path):
    log = tmp_path / "status.log"
    log.write_text('{"event": "old", "level": "info"}\n', encoding="utf-8")
    events = follow_events(log, poll=0.01)
    assert next(events)["event"] == "old"
    handle = log.open("a", encoding="utf-8")
    handle.write('{"event": "half')
    handle.flush()
    rest = threading.Timer(0.2, lambda: (handle.write('", "level": "info"}\n'), handle.close()))
    rest.start()
    assert next(events)["event"] == "half", "a line is read only once it is whole"
    rest.join()
    log.rename(tmp_path / "status.log.1")
    log.write_text('{"event": "after rotation", "level": "info"}\n', encoding="utf-8")
    assert next(events)["event"] == "after rotation"


# --- `mirrord status` in a terminal, and its exit code -------------------------------------------------------------

GITHUB_AUTH = ("stderr: 'remote: Support for password authentication was removed on August 13, 2021. remote: Please "
               "see https://docs.github.com/en/get-started/getting-started-with-git/about-remote-repositories for "
               "information on currently recommended modes of authentication. fatal: Authentication failed for "
               "'https://github.com/me/news.git/''")
REJECTED = ("stderr: 'To github.com:me/news.git ! [rejected] main -> main (fetch first) error: failed to push some "
            "refs to 'github.com:me/news.git' hint: Updates were rejected because the remote contains work that you "
            "do hint: not have locally. This is usually caused by another repository pushing hint: to the same ref.'")
HOOK = ("stderr: 'remote: read-only mirror error: failed to push some refs to '/srv/git/news.git'' stdout: "
        "'To /srv/git/news.git ! HEAD:refs/heads/main [remote rejected] (pre-receive hook declined) Done'")
SSH = ("stderr: 'git@github.com: Permission denied (publickey). fatal: Could not read from remote repository. "
       "Please make sure you have the correct access rights and the repository exists.'")


@pytest.mark.parametrize(("error", "line"), [
    (GITHUB_AUTH, "fatal: Authentication failed for 'https://github.com/me/news.git/'"),
    (REJECTED, "[rejected] main -> main (fetch first)"),
    (f"push to /srv/git/news.git: {HOOK}",
     "push to /srv/git/news.git: HEAD:refs/heads/main [remote rejected] (pre-receive hook declined)"),
    (SSH, "git@github.com: Permission denied (publickey)."),
    ("stderr: 'fatal: unable to connect to 127.0.0.1: errno=Connection refused '",
     "fatal: unable to connect to 127.0.0.1: errno=Connection refused"),
    ("stderr: 'remote: all there is'", "remote: all there is"),
    ("channel daily/world: http://news.example/feed.xml: HTTP 404 Not Found",
     "channel daily/world: http://news.example/feed.xml: HTTP 404 Not Found"),
])
def test_an_error_is_cut_to_the_line_that_says_what_failed(error, line):
    assert first_line(error) == line


@pytest.mark.parametrize(("url", "shown"), [
    ("ssh://git@git.example.org:2222/me/news.git", "ssh://git@git.example.org:2222/me/news.git"),  # no secret
    ("git@github.com:me/news.git", "git@github.com:me/news.git"),
    ("https://gitlab.com/me/news.git", "https://gitlab.com/me/news.git"),
    ("https://me:hunter2@gitlab.com/me/news.git", "https://***@gitlab.com/me/news.git"),  # the config refuses it
])
def test_remote_urls_are_shown_whole_but_for_credentials(url, shown):
    assert shown_url(url) == shown


LONG_URL = "ssh://git@git.example.org:2222/mirrors/news-mirror.git"  # 54 characters: whole even at 80 columns
SOURCES = [
    SourceStatus("ntdtv", "news", NOW - timedelta(minutes=3), 1200, "failed", f"push to {LONG_URL}: {GITHUB_AUTH}",
                 NOW + timedelta(minutes=12), 4, 12, NOW - timedelta(hours=2), "failing"),
    SourceStatus("guardian-opinion", "news", NOW - timedelta(minutes=5), 900, "ok", None, NOW + timedelta(minutes=10),
                 0, 30, NOW - timedelta(minutes=5), None),
]
MIRRORS = [
    MirrorStatus("news", "7daa4b68301525f52e80aff70161ef555cf36013", 1234, 167_936_000, (
        RemoteStatus(LONG_URL, None, 3, GITHUB_AUTH, None),
        RemoteStatus("https://gitlab.com/me/news-mirror.git", "7daa4b6", 0, None, NOW - timedelta(minutes=5)),
        RemoteStatus("/srv/git/news.git", None, 3, REJECTED, NOW - timedelta(days=2)))),
    MirrorStatus("archive", None, None, None, ()),
]


def rendered(width: int, whole: bool = False) -> list[str]:
    out = io.StringIO()
    print_status(Console(file=out, width=width, color_system=None), SOURCES, MIRRORS, NOW, whole=whole)
    return out.getvalue().splitlines()


def shows(line: str, whole: str) -> bool:
    """Tell whether a line shows the whole text, or its start cut with an ellipsis where the terminal ends."""
    return line.rstrip() == whole or line.endswith("…") and whole.startswith(line[:-1])


@pytest.mark.parametrize("width", [80, 120])
def test_status_shows_one_line_per_row_whole_urls_and_one_line_per_error(width):
    lines = rendered(width)
    assert all(len(line) <= width for line in lines)
    for name in ("ntdtv", "guardian-opinion"):
        assert len([line for line in lines if line.startswith(f"{name} ")]) == 1, name
    for url in (LONG_URL, "https://gitlab.com/me/news-mirror.git", "/srv/git/news.git"):
        assert len([line for line in lines if f" {url} " in f" {line}"]) == 1, f"{url} whole, on one line"
    errors = lines[lines.index("Errors (whole: mirrord status --source NAME, or --json)") + 1:]
    assert len(errors) == 2, "one line per distinct error: the push failure and its sources' share one"
    assert shows(errors[0], f"news, ntdtv: push to {LONG_URL}: fatal: Authentication failed for "
                            "'https://github.com/me/news.git/'")
    assert shows(errors[1], "news: push to /srv/git/news.git: [rejected] main -> main (fetch first)")
    assert not any("remote:" in line or "hint:" in line for line in lines)


def test_status_of_one_source_shows_its_errors_whole():
    text = "\n".join(rendered(80, whole=True))
    assert "remote: Support for password authentication was removed" in " ".join(text.split())
    assert "hint: not have locally" in " ".join(text.split())


def test_status_exits_1_while_a_source_or_a_remote_fails(tmp_path, site, setup):
    refusing = rejecting_repository(tmp_path / "refusing.git", "read-only mirror")
    good = bare_repository(tmp_path / "good.git")
    (tmp_path / "failing").mkdir()
    config = write_config(tmp_path / "failing" / "mirrord.toml", site, [str(refusing), str(good)])
    assert mirrord(config, "once").code == 1
    status = mirrord(config, "status")
    assert status.code == 1, status.stdout + status.stderr
    assert f"news, daily, weekly: push to {refusing}: HEAD:refs/heads/main [remote rejected]" in status.stdout
    assert "remote: read-only mirror" not in status.stdout
    one = mirrord(config, "status", "--source", "daily")
    assert one.code == 1 and "remote: read-only mirror" in one.stdout, "the whole error"
    machine = mirrord(config, "status", "--json")
    assert machine.code == 1
    assert "remote: read-only mirror" in json.loads(machine.stdout)["mirrors"][0]["remotes"][0]["last_error"]

    _, _, healthy = setup
    assert mirrord(healthy, "once").code == 0
    assert mirrord(healthy, "status").code == 0


def test_the_queries_status_makes_of_each_source_read_its_articles_alone(tmp_path):
    """`status` asks each source's publishing times: through an index, not by reading every article of every
    mirror for each source (on a host of a thousand sources, that took minutes)."""
    path = tmp_path / "state.sqlite3"
    State(path).close()
    with closing(State(path, readonly=True)) as state:
        statements: list[str] = []
        state.db.set_trace_callback(statements.append)
        state.publish_times("daily")
        state.published_since("daily", datetime.now(timezone.utc))
        state.db.set_trace_callback(None)
        plans = [" / ".join(step[-1] for step in state.db.execute(f"EXPLAIN QUERY PLAN {statement}"))
                 for statement in statements]
    assert len(plans) == 2
    for plan in plans:
        assert "USING INDEX articles_by_source" in plan and "SCAN articles" not in plan, plan
