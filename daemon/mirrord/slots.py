"""Slots shared by the event loops of several threads: the process's limits that no one loop owns.

`mirrord run` runs an event loop per mirror, each in a thread of its own, while `[http] concurrency` and
`per_host` (promises to the sites) and the extraction workers are the process's. asyncio's Semaphore
belongs to one loop; these slots belong to none. A free slot is taken under a lock no one holds long; a
caller finding none waits in its own loop, and the slot freed is handed over to the first waiting caller
in that caller's loop (from another thread through call_soon_threadsafe, which wakes that loop; from the
same loop with a plain call_soon, so that one loop alone, `mirrord once`, pays no wake-up).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque


class CrossLoopSlots:
    """`size` slots, taken and freed from the event loops of any threads: `async with slots:` holds one."""

    def __init__(self, size: int):
        self.free = size
        self.waiting: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = deque()
        self.lock = threading.Lock()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    async def acquire(self) -> None:
        """Take a slot, waiting in this loop for one to be handed over when all are taken."""
        with self.lock:
            if self.free:
                self.free -= 1
                return
            loop = asyncio.get_running_loop()
            waiter = loop.create_future()
            self.waiting.append((loop, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            with self.lock:
                queued = (loop, waiter) in self.waiting
                if queued:
                    self.waiting.remove((loop, waiter))
            if not queued and waiter.done() and not waiter.cancelled():
                self.release()  # handed over just before the cancel: passed on (one on its way, by `hand_over`)
            raise

    def release(self) -> None:
        """Give the slot to the first caller waiting for one (in its own loop), else back to the free ones."""
        with self.lock:
            if not self.waiting:
                self.free += 1
                return
            loop, waiter = self.waiting.popleft()
        if loop is running_loop():
            loop.call_soon(self.hand_over, waiter)
            return
        try:
            loop.call_soon_threadsafe(self.hand_over, waiter)
        except RuntimeError:  # its loop has closed: the slot goes on to the next
            self.release()

    def hand_over(self, waiter: asyncio.Future) -> None:
        """Give the slot to waiter, in its loop; when it was cancelled meanwhile, to the next caller."""
        if waiter.done():
            self.release()
        else:
            waiter.set_result(None)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """Return this thread's running loop; None when there is none (a coroutine closed unfinished, outside its
    loop, still frees its slot)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
