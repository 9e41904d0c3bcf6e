"""When to try again: the one place that turns failures and times into waits. Pure functions.

Four things are retried, each on its own clock: a request within one cycle (seconds), a channel that
fails cycle after cycle (minutes to hours), a remote that refuses pushes (minutes to an hour), an article
held back (every cycle at first, then hours to a day, until given up). The
state stores only counts and times; what they mean is decided here.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

REQUEST_BACKOFF_BASE = 0.5
REQUEST_BACKOFF_CAP = 30.0
# A channel failing more than CHANNEL_FREE_FAILURES cycles in a row waits before its next poll, doubling
# up to a cap, so that a dead feed is not hammered yet is never given up on. A failure that will not pass
# by itself (404, 410, a refused redirect) waits longer than one that may (a timeout, a 503).
CHANNEL_FREE_FAILURES = 2
CHANNEL_BACKOFF_BASE = {True: 600, False: 3600}
CHANNEL_BACKOFF_CAP = {True: 6 * 3600, False: 24 * 3600}
PUSH_BACKOFF_BASE = 60
PUSH_BACKOFF_CAP = 3600
MAX_DOUBLINGS = 20
# A held-back article (a video page, a stub, a page the rules do not match) is tried every cycle for its
# first HELD_BACK_FREE_ATTEMPTS attempts, since a page still being written fills in soon; then the wait
# doubles from an hour up to a day, and after the source's `give_up_after` it is given up (until
# `mirrord retry`): a page that stays empty would otherwise be fetched and warned about forever.
HELD_BACK_FREE_ATTEMPTS = 3
HELD_BACK_BACKOFF_BASE = 3600
HELD_BACK_BACKOFF_CAP = 24 * 3600


def doubling(base: float, cap: float, doublings: int) -> float:
    """Return base doubled `doublings` times, never above cap."""
    return min(cap, base * 2 ** min(max(doublings, 0), MAX_DOUBLINGS))


def request_retry_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Return the seconds to wait before retrying a request a `attempt`-th time: exponential backoff with
    full jitter, so that retries of many requests spread out."""
    return (rng or random).uniform(0, doubling(REQUEST_BACKOFF_BASE, REQUEST_BACKOFF_CAP, attempt))


def channel_retry_at(failures: int, last_attempt: datetime | None, transient: bool) -> datetime | None:
    """Return when a channel that failed `failures` cycles in a row may be polled again; None when it is
    polled as usual (few failures, or none recorded)."""
    if failures <= CHANNEL_FREE_FAILURES or last_attempt is None:
        return None
    delay = doubling(CHANNEL_BACKOFF_BASE[transient], CHANNEL_BACKOFF_CAP[transient],
                     failures - CHANNEL_FREE_FAILURES - 1)
    return last_attempt + timedelta(seconds=delay)


def push_retry_at(failures: int, last_attempt: datetime | None) -> datetime | None:
    """Return when a remote whose last `failures` pushes failed may be pushed again (the daemon waits;
    `once` always tries); None when nothing holds it back."""
    if failures <= 0 or last_attempt is None:
        return None
    return last_attempt + timedelta(seconds=doubling(PUSH_BACKOFF_BASE, PUSH_BACKOFF_CAP, failures - 1))


def held_back_retry_at(attempts: int, last_attempt: datetime) -> datetime | None:
    """Return when an article held back `attempts` times, last at `last_attempt`, may be fetched again;
    None when it is fetched next cycle as usual."""
    if attempts < HELD_BACK_FREE_ATTEMPTS:
        return None
    delay = doubling(HELD_BACK_BACKOFF_BASE, HELD_BACK_BACKOFF_CAP, attempts - HELD_BACK_FREE_ATTEMPTS)
    return last_attempt + timedelta(seconds=delay)


def held_back_gives_up(first_attempt: datetime, now: datetime, give_up_after: int) -> bool:
    """Tell whether an article held back since `first_attempt` is given up: `give_up_after` seconds passed."""
    return now - first_attempt >= timedelta(seconds=give_up_after)
