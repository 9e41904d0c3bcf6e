"""The daemon's side of the extraction workers (`budget` is theirs): started when needed, called from the event
loop of any thread within a time budget, stopped when the process ends.

A call is written to its worker's pipe and its answer read by the calling event loop itself, the pipes
watched by the loop: a call used to cross to a thread of the default executor and back, whose hand-offs
cost the daemon's process about as much CPU as the pickles they carried. The slots are shared by every
thread's loop (the daemon runs a loop per mirror, `slots`): a call waiting for one is woken in its own loop.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import datetime
from typing import Any

from mirrord.budget import LENGTH, extract_and_render, localize_and_render
from mirrord.errors import HeldBack
from mirrord.model import Article, Channel, Entry, Mirror
from mirrord.slots import CrossLoopSlots

BUDGET_SECONDS = 30.0
PIPE_BYTES = 1 << 20  # fs.pipe-max-size's default
JOBS_PER_WORKER = 500  # then the worker is replaced, so that what the libraries leak stays small


async def extract_within_budget(entry: Entry, channel: Channel, mirror: Mirror, page: str | None,
                                fetched: datetime, local_pages: Mapping[str, str],
                                budget: float = BUDGET_SECONDS) -> Article:
    """Return extract_and_render's article, computed in a worker process off the event loop. Raise HeldBack
    when the article is held back, takes longer than budget seconds, or crashes its worker."""
    return await WORKERS.run(extract_and_render, (entry, channel, mirror, page, fetched, dict(local_pages)), budget)


async def localize_within_budget(article: Article, paths: Mapping[str, str], mirror: Mirror,
                                 budget: float = BUDGET_SECONDS) -> Article:
    """Return localize_and_render's article, computed in a worker process; raise HeldBack as
    extract_within_budget does."""
    return await WORKERS.run(localize_and_render, (article, dict(paths), mirror), budget)


class Workers:
    """A few worker processes for CPU-bound calls, started when needed; callable from the event loops of
    several threads."""

    def __init__(self, size: int):
        self.slots = CrossLoopSlots(size)
        self.idle: list[Worker] = []
        self.lock = threading.Lock()

    async def run(self, function: Callable[..., Any], arguments: tuple, budget: float) -> Any:
        """Return function(*arguments) computed in a worker. Raise HeldBack when it raises HeldBack or any
        other exception, takes longer than budget seconds, or its worker dies."""
        async with self.slots:
            worker = self.take()
            try:
                outcome, value = await worker.call(function, arguments, budget)
            except BaseException:
                worker.stop()
                raise
            if outcome == "failed":  # a fresh process for the next call: this one may be in a bad way
                worker.stop()
            else:
                self.give_back(worker)
        if outcome == "held back":
            raise HeldBack(value)
        if outcome == "failed":
            raise HeldBack(f"extracting or rendering it failed ({value}); tried again next cycle")
        return value

    def prestart(self) -> None:
        """Start a worker now when a call would have to start one, so that its start-up (a Python importing
        the extraction) runs while the first pages are fetched instead of delaying their extraction."""
        with self.lock:
            if self.slots.free and not self.idle:
                self.idle.append(Worker())

    def take(self) -> Worker:
        with self.lock:
            if self.idle:
                return self.idle.pop()
        return Worker()

    def give_back(self, worker: Worker) -> None:
        if worker.jobs >= JOBS_PER_WORKER:
            worker.stop()
            return
        with self.lock:
            self.idle.append(worker)

    def close(self) -> None:
        """Stop the idle workers; busy ones come back to the pool when their call ends."""
        with self.lock:
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.stop()


class Worker:
    """One worker process: a Python of its own (`python -c`, so that nothing of the daemon's main module is
    run again in it) reading calls from its stdin and answering on its stdout, both pickled (`budget.serve`).
    The daemon's ends of the pipes do not block: the calling loop waits on them."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", "from mirrord.budget import serve; serve()"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        start_new_session=True)  # Ctrl-C in a terminal is the parent's to handle
        self.to_worker, self.from_worker = os.dup(self.process.stdin.fileno()), os.dup(self.process.stdout.fileno())
        self.process.stdin.close()
        self.process.stdout.close()
        for pipe in (self.to_worker, self.from_worker):
            os.set_blocking(pipe, False)
            widen(pipe)
        self.jobs = 0

    async def call(self, function: Callable[..., Any], arguments: tuple, budget: float) -> tuple[str, Any]:
        """Return ("done", result), ("held back", reason) or ("failed", what was raised). Raise HeldBack when
        the call overruns its budget or the worker dies."""
        self.jobs += 1
        data = pickle.dumps((function, arguments), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            async with asyncio.timeout(budget):
                await write_all(self.to_worker, LENGTH.pack(len(data)) + data)
                (length,) = LENGTH.unpack(await read_exactly(self.from_worker, LENGTH.size))
                outcome, value = pickle.loads(await read_exactly(self.from_worker, length))
        except TimeoutError:
            raise HeldBack(f"extracting and rendering took longer than {budget:g} s, so it was stopped: the page "
                           "may be built to be slow (huge or deeply nested markup); tried again next cycle") from None
        except (EOFError, OSError):
            raise HeldBack(f"the worker extracting it died (exit code {self.process.poll()}): the page may be "
                           "built to exhaust memory; tried again next cycle") from None
        return outcome, value

    def stop(self) -> None:
        os.close(self.to_worker)
        os.close(self.from_worker)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def widen(pipe: int) -> None:
    """Let the pipe hold PIPE_BYTES where the system allows it: a page and its answer then pass in one write
    each, where the usual 64 KiB took two or three, each a wait in the loop and a switch between the processes."""
    with suppress(AttributeError, OSError):  # not Linux, or more than the system lets a process have: as it was
        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


async def write_all(pipe: int, data: bytes) -> None:
    """Write data to a non-blocking pipe, waiting in the loop whenever the pipe is full."""
    left = memoryview(data)
    while left:
        try:
            left = left[os.write(pipe, left):]
        except BlockingIOError:
            await ready(pipe, writing=True)


async def read_exactly(pipe: int, size: int) -> bytes:
    """Read size bytes from a non-blocking pipe, waiting in the loop for them. Raise EOFError when it closes
    first."""
    parts, left = [], size
    while left:
        try:
            part = os.read(pipe, min(left, 1 << 20))
        except BlockingIOError:
            await ready(pipe, writing=False)
            continue
        if not part:
            raise EOFError("the pipe closed")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


async def ready(pipe: int, writing: bool) -> None:
    """Wait until the pipe can be written (or read)."""
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    watch, unwatch = (loop.add_writer, loop.remove_writer) if writing else (loop.add_reader, loop.remove_reader)
    watch(pipe, lambda: waiter.done() or waiter.set_result(None))
    try:
        await waiter
    finally:
        unwatch(pipe)


WORKERS = Workers(max(1, min(4, (os.cpu_count() or 1) - 1)))
