"""What `mirrord status` makes stand out, and how the status log is shown and filtered for people."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from mirrord.console import event_line, relative, size_text
from mirrord.follow import follow_events, wanted
from mirrord.status import is_quiet

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
