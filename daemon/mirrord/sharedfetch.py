"""The daemon's Fetchers: one per event loop, every one within the same limits, those of the process.

`per_host` and `concurrency` are promises to the sites, so they must hold for the process, not for each
mirror. The jobs of `mirrord run` run in threads of their own (one per mirror), each thread's cycles in an
event loop of that thread, kept for the thread's life (`scheduler.ThreadLoops`), while an httpx client and
its connections belong to one event loop. So each loop gets a Fetcher of its own on its first cycle, its
requests sent from the loop itself, and every Fetcher takes its slots from one `fetch.Limits`, whose slots
any loop can take (`slots`). A request sent to a client in another thread's loop, and its answer sent
back, cost about as much CPU as the request itself (wake-ups of two loops, hand-offs of the GIL).

A reload that changes `[http]` gets new limits (when concurrency or per_host changed) and, in each loop, a
new Fetcher for the cycles that start after it; a loop's older Fetcher is closed then: the loop runs one
cycle at a time, so none uses it any more. A loop keeps IDLE_BETWEEN_CYCLES idle connections between its
cycles (those it used last), for its next cycle's polls, each closed at its next request once expired.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mirrord.fetch import Fetcher, Limits
from mirrord.model import HttpSettings

# Idle connections a loop keeps between its cycles: a cycle of many articles may leave `concurrency` of them,
# and a hundred mirrors' loops would hold thousands of sockets until their next cycles. A quiet cycle polls
# a source's few channels, most often on one host.
IDLE_BETWEEN_CYCLES = 2


class SharedFetcher:
    """The limits of the current `[http]` settings, and the Fetcher of each event loop that fetches with them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # guards limits and fetchers, which the jobs' threads change
        self.limits: Limits | None = None
        self.fetchers: dict[asyncio.AbstractEventLoop, Fetcher] = {}

    @asynccontextmanager
    async def lent(self, settings: HttpSettings) -> AsyncIterator[Fetcher]:
        """Lend this loop's Fetcher of settings to one cycle; when it ends, keep IDLE_BETWEEN_CYCLES of the
        loop's idle connections for its next cycle and close the others."""
        fetcher = await self.fetcher(settings)
        try:
            yield fetcher
        finally:
            await fetcher.close_idle_beyond(IDLE_BETWEEN_CYCLES)

    async def fetcher(self, settings: HttpSettings) -> Fetcher:
        """Return this loop's Fetcher of settings, made on first use or when settings changed (the loop's
        older Fetcher closed first: a loop runs one cycle at a time, and that cycle is the caller's)."""
        loop = asyncio.get_running_loop()
        current = self.fetchers.get(loop)
        if current is not None and current.settings == settings:
            return current
        if current is not None:
            await current.__aexit__(None, None, None)
        with self.lock:
            fetcher = self.fetchers[loop] = Fetcher(settings, self.shared_limits(settings))
        return fetcher

    def shared_limits(self, settings: HttpSettings) -> Limits:
        """Return the process's limits of settings, new ones when concurrency or per_host changed (called with
        the lock held)."""
        limits = self.limits
        if limits is None or (limits.concurrency, limits.per_host) != (settings.concurrency, settings.per_host):
            self.limits = limits = Limits(settings)
        return limits

    def close(self) -> None:
        """Close every loop's Fetcher in its loop; only when no cycle runs any more (the loops are not running)."""
        with self.lock:
            fetchers, self.fetchers = self.fetchers, {}
        for loop, fetcher in fetchers.items():
            if not loop.is_closed():
                loop.run_until_complete(fetcher.__aexit__(None, None, None))
