"""The retry policy as a table: failures and times in, the next attempt out. No server, no state."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from mirrord.retry import channel_retry_at, push_retry_at, request_retry_delay

LAST = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def minutes_after_last(when: datetime | None) -> float | None:
    return None if when is None else (when - LAST) / timedelta(minutes=1)


@pytest.mark.parametrize(("failures", "transient", "wait"), [
    (0, True, None), (1, True, None), (2, True, None),
    (3, True, 10), (4, True, 20), (5, True, 40), (8, True, 320), (9, True, 360), (40, True, 360),
    (2, False, None), (3, False, 60), (4, False, 120), (8, False, 1440), (40, False, 1440),
])
def test_a_failing_channel_waits_longer_each_cycle_and_a_permanent_failure_longer_than_a_transient_one(
        failures, transient, wait):
    assert minutes_after_last(channel_retry_at(failures, LAST, transient)) == wait


def test_a_channel_with_no_recorded_attempt_is_polled():
    assert channel_retry_at(10, None, True) is None


@pytest.mark.parametrize(("failures", "wait"), [(0, None), (1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (50, 60)])
def test_a_remote_that_refused_pushes_waits_doubling_up_to_an_hour(failures, wait):
    assert minutes_after_last(push_retry_at(failures, LAST)) == wait


@pytest.mark.parametrize(("attempt", "cap"), [(0, 0.5), (1, 1.0), (3, 4.0), (6, 30.0), (60, 30.0)])
def test_a_request_retry_waits_a_jittered_time_under_a_doubling_cap(attempt, cap):
    rng = random.Random(7)
    delays = [request_retry_delay(attempt, rng) for _ in range(200)]
    assert all(0 <= delay <= cap for delay in delays)
    assert max(delays) > cap * 0.8, "the jitter spans the whole range"
