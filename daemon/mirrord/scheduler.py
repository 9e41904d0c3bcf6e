"""`mirrord run`: one APScheduler job per source, reload on SIGHUP, a clean stop on SIGTERM, systemd's watchdog.

Each mirror has an executor of its own with a single thread: that is the in-process lock of the mirror
(its sources write one working clone, one after the other; the file lock keeps other processes out),
and it is why a slow or failing source never holds up another mirror. Each thread's loop has a Fetcher of its
own, all within one set of limits (`sharedfetch`), so that `[http] concurrency` and `per_host` hold for the
process.
"""

from __future__ import annotations

import asyncio
import contextvars
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from apscheduler.executors.pool import ThreadPoolExecutor as JobThreads
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mirrord.errors import ConfigError
from mirrord.hints import CRASHED
from mirrord.log import get_logger, structlog_module
from mirrord.model import Config, Failure, Options, Source, SourceResult
from mirrord.notify import notify, reloading_message, status_line, watchdog_interval
from mirrord.outcome import Report, record_results, source_results
from mirrord.pipeline import run_once
from mirrord.sharedfetch import SharedFetcher
from mirrord.state import State

STOP_TIMEOUT = 300.0  # seconds a stop waits for the cycles in progress to commit and push
HEARTBEAT = 5.0  # seconds between two runs of the liveness job the watchdog checks
LOCK_WAIT = 60.0  # seconds a cycle waits for another process (a `mirrord once`) writing its mirror
HEARTBEAT_JOB = "mirrord:heartbeat"
STATE_CACHE_KIB = 512  # pages of the state each thread keeps in memory: a thread per mirror, a hundred mirrors

log = get_logger()
T = TypeVar("T")


def job_id(source: str) -> str:
    return f"source:{source}"


def trigger_for(source: Source) -> BaseTrigger:
    """Return when a source runs: its cron, else every `every` seconds give or take a tenth (so that
    sources started together drift apart)."""
    if source.cron:
        return CronTrigger.from_crontab(source.cron)
    return IntervalTrigger(seconds=source.every or 900, jitter=(source.every or 900) // 10 or None)


def interval_of(trigger: BaseTrigger) -> float:
    """Return the seconds between two runs of trigger (for a cron, between its next two)."""
    if isinstance(trigger, IntervalTrigger):
        return trigger.interval.total_seconds()
    first = trigger.get_next_fire_time(None, datetime.now(timezone.utc))
    second = trigger.get_next_fire_time(first, first)
    return (second - first).total_seconds() if first and second else 3600.0


class Daemon:
    """The scheduler of every source, the signals that steer it and what it tells systemd."""

    def __init__(self, config: Config, load_config: Callable[[], Config], shallow: bool = False):
        self.config = config
        self.load_config = load_config
        self.options = Options(lock_wait=LOCK_WAIT, push_backoff=True, shallow=shallow)
        self.scheduler = BackgroundScheduler(executors={"default": JobThreads(1)},
                                             job_defaults={"coalesce": True, "max_instances": 1})
        self.executors: set[str] = set()
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.reload_wanted = False
        self.stop_signal = ""
        self.last_beat = time.monotonic()
        self.failing: set[str] = set()
        self.running = 0
        self.idle = threading.Condition()
        self.http = SharedFetcher()
        self.states = ThreadStates()
        self.loops = ThreadLoops()

    def serve(self) -> int:
        """Run until SIGTERM or SIGINT; return 0 when the cycles in progress finished in time, else 1."""
        self.install_signal_handlers()
        self.scheduler.start()
        self.scheduler.add_job(self.beat, IntervalTrigger(seconds=HEARTBEAT), id=HEARTBEAT_JOB,
                               misfire_grace_time=int(HEARTBEAT))
        for source in self.config.sources.values():
            self.schedule(source)
        log.info("daemon.started", sources=len(self.config.sources), mirrors=len(self.config.mirrors))
        notify("READY=1")
        notify(status_line(f"running {len(self.config.sources)} sources, no cycle done yet"))
        watchdog = watchdog_interval()
        while not self.stopping.is_set():
            self.wake.wait(min(watchdog or HEARTBEAT, HEARTBEAT))
            self.wake.clear()
            if self.reload_wanted:
                self.reload()
            if watchdog:
                self.feed_watchdog()
        return self.stop()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.on_stop_signal)
        signal.signal(signal.SIGINT, self.on_stop_signal)
        signal.signal(signal.SIGHUP, self.on_reload_signal)

    def on_stop_signal(self, number: int, _frame) -> None:
        """Only set flags: the main loop logs and acts, as a signal handler must not take the logging lock."""
        self.stop_signal = signal.Signals(number).name
        self.stopping.set()
        self.wake.set()

    def on_reload_signal(self, _number: int, _frame) -> None:
        self.reload_wanted = True
        self.wake.set()

    def schedule(self, source: Source) -> None:
        """Add or replace the job of a source; a source on an interval runs at once, a cron one at its time."""
        executor = f"mirror:{source.mirror}"
        if executor not in self.executors:
            self.scheduler.add_executor(JobThreads(1), alias=executor)
            self.executors.add(executor)
        trigger = trigger_for(source)
        start_now = {} if source.cron else {"next_run_time": datetime.now(timezone.utc)}
        job = self.scheduler.add_job(self.run_source, trigger, args=[source.name], id=job_id(source.name),
                                     name=f"source {source.name}", executor=executor, replace_existing=True,
                                     misfire_grace_time=max(1, int(interval_of(trigger) / 2)), **start_now)
        self.remember_next_run(source, job.next_run_time)

    def run_source(self, name: str) -> None:
        """The job of a source: one cycle, its outcome logged and recorded; nothing it raises stops the daemon."""
        config = self.config
        with self.counted():
            source = config.sources.get(name)
            if source is not None and not self.stopping.is_set():
                self.run_cycle(config, source)

    @contextmanager
    def counted(self) -> Iterator[None]:
        """Count the cycles running, so that a stop can wait for them (counted before the stop check)."""
        with self.idle:
            self.running += 1
        try:
            yield
        finally:
            with self.idle:
                self.running -= 1
                self.idle.notify_all()

    def run_cycle(self, config: Config, source: Source) -> None:
        name = source.name
        with structlog_module().contextvars.bound_contextvars(source=name, mirror=source.mirror):
            started = datetime.now(timezone.utc)
            state = self.states.get(config.state_dir)
            results = cycle(config, source, self.http, self.options, state, self.loops.run)
            job = self.scheduler.get_job(job_id(name))
            with state.together():
                broken = record_results(config, results, started, state)
                state.source_scheduled(name, source.mirror, job.next_run_time if job else None)
            failed = bool(broken) or any(result.failed for _, result in results)
            if failed:
                self.failing.add(name)
            else:
                self.failing.discard(name)
            new = sum(len(result.published) for _, result in results)
            notify(status_line(f"last cycle {started:%H:%M:%S} UTC: {name} {new} new, "
                               f"{'failed' if failed else 'ok'}; {len(config.sources)} sources, "
                               f"{len(self.failing)} failing"))

    def remember_next_run(self, source: Source, next_run: datetime | None) -> None:
        self.states.get(self.config.state_dir).source_scheduled(source.name, source.mirror, next_run)

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def alive(self) -> bool:
        """Return whether the scheduler works: its heartbeat job ran lately. A failing or broken source, or a
        cycle still running, does not change it; systemd's watchdog and the metrics' /healthz both ask this."""
        return self.scheduler.running and time.monotonic() - self.last_beat < 3 * HEARTBEAT

    def feed_watchdog(self) -> None:
        """Send WATCHDOG=1 only while the scheduler works."""
        if self.alive():
            notify("WATCHDOG=1")
        else:
            log.error("watchdog.missed", error="the scheduler's heartbeat stopped; systemd will restart mirrord")

    def reload(self) -> None:
        """Read the config again and reschedule what changed; keep the running config if the new one is bad."""
        self.reload_wanted = False
        notify(reloading_message())
        try:
            self.apply(self.load_config())
        except ConfigError as error:
            log.error("config.reload_failed", error=f"{len(error.problems)} problem(s) in {error.file}; "
                      "the running config is kept", problems=[p.describe(error.file) for p in error.problems])
        notify("READY=1")

    def apply(self, config: Config) -> None:
        old, self.config = self.config, config
        added = sorted(config.sources.keys() - old.sources.keys())
        removed = sorted(old.sources.keys() - config.sources.keys())
        changed = sorted(name for name in config.sources.keys() & old.sources.keys()
                         if config.sources[name] != old.sources[name])
        for name in removed:
            self.scheduler.remove_job(job_id(name))
            self.failing.discard(name)
        for name in added + changed:
            self.schedule(config.sources[name])
        log.info("config.reloaded", added=added, removed=removed, changed=changed)

    def stop(self) -> int:
        """Stop scheduling and wait up to STOP_TIMEOUT for the cycles in progress.

        The wait is ours, not the scheduler's: its shutdown holds the lock that a finishing job needs."""
        notify("STOPPING=1")
        log.info("daemon.stopping", signal=self.stop_signal, timeout_s=STOP_TIMEOUT)
        self.scheduler.pause()
        with self.idle:
            finished = self.idle.wait_for(lambda: self.running == 0, STOP_TIMEOUT)
        self.scheduler.shutdown(wait=False)
        if not finished:
            log.error("daemon.stop_timeout", error=f"cycles still running after {STOP_TIMEOUT:.0f} s are abandoned; "
                      "their articles are fetched again next time")
            return 1
        self.http.close()
        self.states.close()
        self.loops.close()
        log.info("daemon.stopped")
        return 0


class ThreadStates:
    """The state database kept open in each thread of the daemon: opening it for each cycle (its schema
    checked, its upgrade looked for) and closing it again (a checkpoint of its log when no other connection
    is open) cost more than a poll that finds nothing new."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[tuple[int, Path], State] = {}

    def get(self, state_dir: Path) -> State:
        """Return this thread's State of the database in state_dir, opened the first time."""
        key = (threading.get_ident(), state_dir / "state.sqlite3")
        with self.lock:
            if key not in self.open:
                self.open[key] = State(key[1], cache_kib=STATE_CACHE_KIB)
            return self.open[key]

    def close(self) -> None:
        """Close every thread's State; only when no cycle runs any more."""
        with self.lock:
            for state in self.open.values():
                state.close()
            self.open.clear()


class ThreadLoops:
    """The event loop kept in each thread of the daemon for its cycles: a new loop for each cycle (what
    asyncio.run makes, and closes) cost about as much as the rest of driving a cycle that finds nothing new.
    Each cycle still gets what asyncio.run gives it: a thread pool of its own, and no task of it left behind."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[int, asyncio.Runner] = {}

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run coroutine to its end in this thread's loop, made the first time."""
        with self.lock:
            runner = self.open.get(threading.get_ident())
            if runner is None:
                runner = self.open[threading.get_ident()] = asyncio.Runner()
        loop = runner.get_loop()
        workers = ThreadPoolExecutor(thread_name_prefix="mirrord-cycle")  # threads made only if the cycle asks
        loop.set_default_executor(workers)
        try:
            return runner.run(coroutine, context=contextvars.copy_context())  # this cycle's source and mirror
        finally:
            cancel_left_over(loop)
            workers.shutdown(wait=True)

    def close(self) -> None:
        """Close every thread's loop; only when no cycle runs any more."""
        with self.lock:
            for runner in self.open.values():
                runner.close()
            self.open.clear()


def cancel_left_over(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks a cycle left running (a gather that raised leaves its other tasks going), and let them
    end, so that none of them runs on in the next cycle of the thread."""
    left = asyncio.all_tasks(loop)
    for task in left:
        task.cancel()
    if left:
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))


def cycle(config: Config, source: Source, http: SharedFetcher, options: Options, state: State,
          run: Callable[[Coroutine[Any, Any, list[Report]]], list[Report]]) -> list[tuple[str, SourceResult]]:
    """Run one cycle of a source with its thread's Fetcher (within the process's limits), open state and event
    loop (`run`); return (mirror, result) whatever happened."""
    try:
        reports = run_once(config, [source.name], options, http, state, run)
    except Exception as error:  # a bug in one cycle must not stop the others: logged with its traceback
        log.exception("cycle.crashed", error=f"{type(error).__name__}: {error}")
        return [(source.mirror, SourceResult(source.name, failed=[
            Failure("mirror", source.mirror, f"crashed: {error}", hint=CRASHED, source=source.name)]))]
    return [(report.mirror, result) for report in reports for result in source_results(config, report, [source.name])]
