"""The daemon's Fetchers, one per event loop, against a real server on 127.0.0.1: the limits of `[http]` hold
for the process whatever loop a request comes from, and a reload that changes them is taken up by the cycles
after it, the old clients closed."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from mirrord.fetch import Fetcher
from mirrord.sharedfetch import IDLE_BETWEEN_CYCLES, SharedFetcher
from mirrord.slots import CrossLoopSlots
from test_fetch import SETTINGS

from rawserver import RawServer, answer, keep_alive, read_head


class CountingServer(RawServer):
    """Answers every request after `delay` seconds, counting the requests in flight per Host and in all."""

    def __init__(self, delay: float, close: bool = True):
        self.counting = threading.Lock()
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        super().__init__(self.slow_answer)
        self.delay, self.close_after = delay, close

    def slow_answer(self, conn, head: str) -> None:
        host = re.search(r"(?im)^host: ([^:\r\n]+)", head).group(1)
        with self.counting:
            for key in (host, "all"):
                self.in_flight[key] += 1
                self.peak[key] = max(self.peak[key], self.in_flight[key])
        time.sleep(self.delay)
        with self.counting:
            for key in (host, "all"):
                self.in_flight[key] -= 1
        conn.sendall(answer("200 OK", b"ok") if self.close_after else keep_alive("200 OK", b"ok"))

    def urls(self, requests: int) -> list[str]:
        """requests URLs on each of two hosts, both this server: 127.0.0.1 and localhost."""
        return [f"http://{host}:{self.port}/?n={n}" for host in ("127.0.0.1", "localhost") for n in range(requests)]


def in_threads(loops: list[asyncio.AbstractEventLoop], work: Callable[[], Coroutine[Any, Any, Any]]) -> list:
    """Run work() at once in a thread per loop, each in its loop, as the daemon's mirror threads run their
    cycles; return the results. The loops are left open, as the daemon keeps them."""
    results = [None] * len(loops)

    def run(index: int) -> None:
        results[index] = loops[index].run_until_complete(work())

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(loops))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def fetch_all(shared: SharedFetcher, settings, urls: list[str]) -> Callable[[], Coroutine[Any, Any, Fetcher]]:
    async def cycle() -> Fetcher:
        fetcher = await shared.fetcher(settings)
        responses = await asyncio.gather(*(fetcher.get(url) for url in urls))
        assert [response.body for response in responses] == [b"ok"] * len(urls)
        return fetcher
    return cycle


def test_per_host_and_concurrency_hold_for_the_fetchers_of_several_threads_loops():
    """Three threads' loops fetch from two hosts at once, each with its own Fetcher: never more than per_host
    requests at one host, nor concurrency in all, because the slots are the process's, not each loop's."""
    settings = replace(SETTINGS, concurrency=3, per_host=2)
    shared = SharedFetcher()
    with CountingServer(delay=0.2) as server:
        loops = [asyncio.new_event_loop() for _ in range(3)]
        fetchers = in_threads(loops, fetch_all(shared, settings, server.urls(4)))
        shared.close()
    for loop in loops:
        loop.close()
    assert len(server.requests) == 24
    assert server.peak["127.0.0.1"] == server.peak["localhost"] == 2 and server.peak["all"] == 3
    assert len({id(fetcher) for fetcher in fetchers}) == 3, "a Fetcher (client, connections) per loop"
    assert {id(fetcher.limits) for fetcher in fetchers} == {id(shared.limits)}, "one set of limits"
    assert all(fetcher.client.is_closed for fetcher in fetchers), "closed with the daemon"


def test_a_reload_changing_http_gives_each_loop_a_new_fetcher_within_the_new_limits_and_closes_the_old():
    """The cycles after a reload that changes [http] use new Fetchers and, when per_host changed, the new
    per_host across loops; each loop's old Fetcher is closed with its idle connections."""
    shared = SharedFetcher()
    with CountingServer(delay=0.2, close=False) as server:
        loops = [asyncio.new_event_loop() for _ in range(2)]
        before = in_threads(loops, fetch_all(shared, SETTINGS, server.urls(1)))
        assert all(fetcher.client._transport.idle_count for fetcher in before), "kept alive for the next cycle"
        again = [loop.run_until_complete(shared.fetcher(SETTINGS)) for loop in loops]
        assert again == before, "a cycle with unchanged settings reuses its loop's Fetcher"
        timeout_only = loops[0].run_until_complete(shared.fetcher(replace(SETTINGS, timeout=9.0)))
        assert timeout_only is not before[0]
        assert timeout_only.limits is before[0].limits, "the same limits: concurrency and per_host are unchanged"
        assert before[0].client.is_closed and not before[0].client._transport.idle_count

        server.peak.clear()
        after = in_threads(loops, fetch_all(shared, replace(SETTINGS, per_host=1), server.urls(3)))
        assert server.peak["127.0.0.1"] == server.peak["localhost"] == 1 and server.peak["all"] == 2
        assert after[0].limits is after[1].limits is not before[1].limits
        assert timeout_only.client.is_closed and before[1].client.is_closed
        shared.close()
    for loop in loops:
        loop.close()
    assert after[0].client.is_closed and after[1].client.is_closed and not shared.fetchers


def test_a_slot_freed_when_the_loop_waiting_for_it_has_closed_goes_on_to_the_next():
    """A mirror thread's loop closed (the daemon stopping) while its cycle waited for a slot: the slot freed in
    another loop skips it, to the next waiter or back to the free ones, and is not lost."""
    slots = CrossLoopSlots(1)
    holder, gone = asyncio.new_event_loop(), asyncio.new_event_loop()
    holder.run_until_complete(slots.acquire())
    waiting = gone.create_task(slots.acquire())
    gone.run_until_complete(asyncio.sleep(0))
    assert len(slots.waiting) == 1 and not waiting.done()
    gone.close()

    async def release() -> None:
        slots.release()

    holder.run_until_complete(release())
    holder.close()
    assert slots.free == 1 and not slots.waiting


def test_a_loop_keeps_a_few_idle_connections_for_its_next_cycle_and_closes_the_others():
    """A cycle of many requests opens many connections; when it ends its loop keeps the few last used (its
    next cycle's polls reuse them) and closes the others: a hundred mirror threads keeping `concurrency`
    sockets each until their next cycles would run out of file descriptors."""
    def kept_open(conn, _head) -> None:
        time.sleep(0.2)
        conn.sendall(keep_alive("200 OK", b"ok"))
        while read_head(conn) is not None:
            conn.sendall(keep_alive("200 OK", b"ok"))

    shared, settings = SharedFetcher(), replace(SETTINGS, per_host=6)

    async def cycle(urls: list[str]) -> tuple[Fetcher, int]:
        async with shared.lent(settings) as fetcher:
            await asyncio.gather(*(fetcher.get(url) for url in urls))
            return fetcher, fetcher.pools[0].idle_count

    loop = asyncio.new_event_loop()
    with RawServer(kept_open) as server:
        fetcher, during = loop.run_until_complete(cycle([server.url(f"/?n={n}") for n in range(6)]))
        assert during == 6 and fetcher.pools[0].idle_count == IDLE_BETWEEN_CYCLES == 2
        again, _ = loop.run_until_complete(cycle([server.url("/c0"), server.url("/c1")]))
        assert again is fetcher and len(server.requests) == 6, "the next cycle's two polls on the kept connections"
        shared.close()
    loop.close()
