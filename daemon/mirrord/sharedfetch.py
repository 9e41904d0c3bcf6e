"""The daemon's one Fetcher: one httpx client and one set of limits for every job of the process.

`per_host` and `concurrency` are promises to the sites, so they must hold for the process, not for each
mirror. The jobs of `mirrord run` run in threads of their own (one per mirror), each thread's cycles in an
event loop of that thread, while an httpx client and asyncio semaphores belong to one event loop. So the
Fetcher lives in an event loop of its own, in a thread of its own, and a cycle's requests are sent there
(`Borrowed`); the rest of a cycle (git, sqlite, the extraction workers) stays in the job's thread, where
a slow push of one mirror holds up no other mirror's requests.

A reload that changes `[http]` gets a new Fetcher for the cycles that start after it; the old one is
closed when the last cycle using it is done.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from mirrord.fetch import Fetcher
from mirrord.model import HttpSettings, Response

T = TypeVar("T")


class Borrowed:
    """Stands in for a Fetcher in a cycle's own event loop: each request runs on the shared Fetcher, in its loop."""

    def __init__(self, fetcher: Fetcher, loop: asyncio.AbstractEventLoop):
        self.fetcher = fetcher
        self.loop = loop

    async def get(self, *args: Any, **kwargs: Any) -> Response:
        """Fetcher.get on the shared Fetcher; cancelling the caller cancels the request."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.fetcher.get(*args, **kwargs),
                                                                          self.loop))

    def for_pictures(self, image_hosts: frozenset[str]) -> Borrowed:
        return Borrowed(self.fetcher.for_pictures(image_hosts), self.loop)


class SharedFetcher:
    """An event loop in a thread of its own, holding the Fetcher of the current `[http]` settings."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="mirrord-http", daemon=True)
        self.thread.start()
        self.lock = threading.Lock()  # guards current and users, which the jobs' threads change
        self.current: Fetcher | None = None
        self.users: Counter[Fetcher] = Counter()

    @contextmanager
    def borrowed(self, settings: HttpSettings) -> Iterator[Borrowed]:
        """Lend the Fetcher of settings to one cycle, made (and an older one retired) when settings changed."""
        fetcher = self.take(settings)
        try:
            yield Borrowed(fetcher, self.loop)
        finally:
            self.give_back(fetcher)

    def take(self, settings: HttpSettings) -> Fetcher:
        with self.lock:
            if self.current is None or self.current.settings != settings:
                old, self.current = self.current, self.run(open_fetcher(settings))
                self.close_unused(old)
            self.users[self.current] += 1
            return self.current

    def give_back(self, fetcher: Fetcher) -> None:
        with self.lock:
            self.users[fetcher] -= 1
            self.close_unused(fetcher)

    def close_unused(self, fetcher: Fetcher | None) -> None:
        """Close a Fetcher that is no longer current once no cycle uses it (called with the lock held)."""
        if fetcher is not None and fetcher is not self.current and self.users[fetcher] <= 0:
            del self.users[fetcher]
            self.run(fetcher.__aexit__(None, None, None))

    def close(self) -> None:
        """Close the Fetcher and end the loop's thread; only when no cycle runs any more."""
        with self.lock:
            current, self.current = self.current, None
            self.close_unused(current)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run coroutine in the loop's thread and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()


async def open_fetcher(settings: HttpSettings) -> Fetcher:
    """Make the Fetcher in the loop it is used in."""
    return Fetcher(settings)
