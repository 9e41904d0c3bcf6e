"""The CPU stage of one article (extract, then render its page) in a worker process, within a time budget.

Extraction and rendering are pure and CPU-bound: run on the event loop, one slow page would stall every
fetch in flight, and Python cannot stop a thread. So they run in worker processes (one fewer than the
cores, the daemon's own process keeping one for fetching and committing; started on first use, each kept
for later articles), waited for in a thread; a call that overruns its budget gets
its worker killed (a new one starts when next needed) and the article held back, as does a page that
crashes the stage (a RecursionError, a bug) or its worker: one bad article is held back with its
reason, never the cycle.

`bound_depth` keeps hostile nesting linear before any parser sees it (a 1 MB page of 100,000 nested
elements takes about a second); the budget is what catches the cost nobody foresaw.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from mirrord.errors import HeldBack
from mirrord.model import Article, Channel, Entry, Mirror

BUDGET_SECONDS = 30.0
LENGTH = struct.Struct(">Q")  # before each pickled message on the pipes
JOBS_PER_WORKER = 500  # then the worker is replaced, so that what the libraries leak stays small


def extract_and_render(entry: Entry, channel: Channel, mirror: Mirror, page: str | None, fetched: datetime,
                       local_pages: Mapping[str, str]) -> Article:
    """Return the extracted article with its page and QR code rendered: rendering (HTML to Markdown for
    `body = "markdown"`), which hostile markup could make slow, is done here within the budget, and the
    commit writes the files as they are (the daemon's process, which fetches, stays free). Raise HeldBack
    as extract_article does."""
    from mirrord.extract import extract_article  # in the worker: the daemon's process need not load it

    return with_page(extract_article(entry, channel, mirror, page, fetched, local_pages), mirror)


def localize_and_render(article: Article, paths: Mapping[str, str], mirror: Mirror) -> Article:
    """Return the article with its downloaded pictures (URL -> path beside the page) in its HTML, its page
    and QR code rendered again; its pictures' bytes stay in the daemon's process."""
    from mirrord.extract import with_local_images

    return with_page(with_local_images(article, paths), mirror)


def with_page(article: Article, mirror: Mirror) -> Article:
    """Return the article carrying its page and QR code as `mirror` renders them."""
    from mirrord.render import page_files

    return replace(article, rendered=tuple(page_files(article, mirror)))


async def extract_within_budget(entry: Entry, channel: Channel, mirror: Mirror, page: str | None,
                                fetched: datetime, local_pages: Mapping[str, str],
                                budget: float = BUDGET_SECONDS) -> Article:
    """Return extract_and_render's article, computed in a worker process off the event loop. Raise HeldBack
    when the article is held back, takes longer than budget seconds, or crashes its worker."""
    return await in_worker(extract_and_render, (entry, channel, mirror, page, fetched, dict(local_pages)), budget)


async def localize_within_budget(article: Article, paths: Mapping[str, str], mirror: Mirror,
                                 budget: float = BUDGET_SECONDS) -> Article:
    """Return localize_and_render's article, computed in a worker process; raise HeldBack as
    extract_within_budget does."""
    return await in_worker(localize_and_render, (article, dict(paths), mirror), budget)


async def in_worker(function: Callable[..., Any], arguments: tuple, budget: float) -> Any:
    import asyncio  # here: the workers, which import this module, never need it (a third of their start)

    return await asyncio.to_thread(WORKERS.run, function, arguments, budget)


class Workers:
    """A few worker processes for CPU-bound calls, started when needed; safe to call from several threads."""

    def __init__(self, size: int):
        self.size = size
        self.slots = threading.BoundedSemaphore(size)
        self.idle: list[Worker] = []
        self.lock = threading.Lock()

    def run(self, function: Callable[..., Any], arguments: tuple, budget: float) -> Any:
        """Return function(*arguments) computed in a worker. Raise HeldBack when it raises HeldBack or any
        other exception, takes longer than budget seconds, or its worker dies."""
        with self.slots:
            worker = self.take()
            try:
                outcome, value = worker.call(function, arguments, budget)
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
        if self.slots.acquire(blocking=False):
            try:
                with self.lock:
                    if not self.idle:
                        self.idle.append(Worker())
            finally:
                self.slots.release()

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
    run again in it) reading calls from its stdin and answering on its stdout, both pickled."""

    def __init__(self) -> None:
        import subprocess  # here: the workers, which import this module, never start one

        self.process = subprocess.Popen([sys.executable, "-c", "from mirrord.budget import serve; serve()"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        start_new_session=True)  # Ctrl-C in a terminal is the parent's to handle
        self.to_worker, self.from_worker = os.dup(self.process.stdin.fileno()), os.dup(self.process.stdout.fileno())
        self.process.stdin.close()
        self.process.stdout.close()
        self.jobs = 0

    def call(self, function: Callable[..., Any], arguments: tuple, budget: float) -> tuple[str, Any]:
        """Return ("done", result), ("held back", reason) or ("failed", what was raised). Raise HeldBack when
        the call overruns its budget or the worker dies."""
        self.jobs += 1
        try:
            send(self.to_worker, (function, arguments))
            if not select.select([self.from_worker], [], [], budget)[0]:
                raise HeldBack(f"extracting and rendering took longer than {budget:g} s, so it was stopped: the "
                               "page may be built to be slow (huge or deeply nested markup); tried again next cycle")
            outcome, value = receive(self.from_worker)
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


def serve() -> None:
    """A worker's life: run each call read from stdin, write its result or what went wrong to stdout, until
    stdin closes. Whatever a library prints goes nowhere, so that it cannot garble the answers (stderr, where
    logging's last resort writes, is the null device already)."""
    requests, answers = os.dup(0), os.dup(1)
    nowhere = os.open(os.devnull, os.O_RDWR)
    os.dup2(nowhere, 0)
    os.dup2(nowhere, 1)
    while True:
        try:
            function, arguments = receive(requests)
        except (EOFError, OSError):
            return
        try:
            answer = ("done", function(*arguments))
        except HeldBack as reason:
            answer = ("held back", str(reason))
        except Exception as error:  # a bug or a page that breaks a library: the article's failure, not the cycle's
            answer = ("failed", f"{type(error).__name__}: {str(error)[:300]}")
        send(answers, answer)


def send(pipe: int, value: Any) -> None:
    """Write value to a pipe, pickled, after its length."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    message = memoryview(LENGTH.pack(len(data)) + data)
    while message:
        message = message[os.write(pipe, message):]


def receive(pipe: int) -> Any:
    """Read the next value `send` wrote to a pipe. Raise EOFError when the pipe closes before it is whole."""
    (length,) = LENGTH.unpack(read_exactly(pipe, LENGTH.size))
    return pickle.loads(read_exactly(pipe, length))


def read_exactly(pipe: int, size: int) -> bytes:
    parts, left = [], size
    while left:
        part = os.read(pipe, min(left, 1 << 20))
        if not part:
            raise EOFError("the pipe closed")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


WORKERS = Workers(max(1, min(4, (os.cpu_count() or 1) - 1)))
