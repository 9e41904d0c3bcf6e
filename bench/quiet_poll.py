"""The CPU of a daemon's poll that finds nothing new (a 304), split by thread: the cycles' and the rest.

`bench/scale.py` measures a whole daemon; this drives its per-source job (`Daemon.run_source`: one cycle, its
outcome recorded, its next run noted) in-process over the feeds of scale.py's server, every channel answered
304, without APScheduler's timing, so that the figure is steady enough to compare two versions of the code.
Counted apart: the thread the cycles run in (`job`: its event loop, the clone's files, SQLite, the status log
and, since each loop has a Fetcher of its own, the requests), and the HTTP client's thread of the code before
that (`http`: up to 9b16b38 every request ran in a thread of its own, `sharedfetch`'s, and was sent there and
back; 0 for code without it). `other` is the rest of the process: mostly the feed server's threads, which serve
the requests in this process.

Each repeat runs this tree's code and the code at --rev (default: main at 9b16b38) one after the other, each
in a fresh process and state, on `--sources` sources of 2 channels over 100 mirrors, polling `--used` of
them (spread over the mirrors) `--rounds` times after a first cycle that builds their mirrors; the cycles run in
a thread of their own, as the daemon's do. With `--pages N`, every source of the used sources' mirrors first
publishes N pages in each of its channels, so that a poll runs against a mirror that keeps pages (a mirror of
10 sources, 20 channels, holds 20 N of them). Printed are the medians of the repeats (each repeat's figure is
itself the median of its rounds) and the ratios.

Run: .venv/bin/python bench/quiet_poll.py [--sources 1000] [--used 50] [--rounds 15] [--repeats 3] [--pages 0]
     [--rev 9b16b38]

Figures (2 cores shared with other work, ms of CPU a channel poll; the threads' parts are counted in clock ticks,
to 0.1 ms with the defaults): before, 4e77c39 4.87 (HTTP client 1.40, rest 3.52) against 3.16 (1.20, 1.96) for 966f4a9.
After the quiet cycle that ends once its channels are read (no clone opened, only its own channels' ledger
rows read), against 966f4a9 in the same run:
  --repeats 5 (empty mirrors): 2.37 (http 1.00, rest 1.37, job 1.20) against 3.29 (1.20, 2.09, 1.80): total
  0.72 x, rest 0.66 x, the cycles' thread 0.67 x; two runs before (without `job`): 2.33 against 2.52 (0.93 x,
  rest 0.80 x) and 2.32 against 2.83 (0.82 x, rest 0.72 x): 966f4a9 varies with the machine's load, this tree
  less;
  --used 10 --pages 20 --rounds 30 (400 pages a mirror): 2.24 (1.00, 1.24) against 5.69 (1.00, 4.69): total
  0.39 x, rest 0.27 x; 966f4a9's poll grew with the pages of its mirror (it read every live ledger row and
  rendered its channels' indexes), this one does not.
With a Fetcher per event loop (its requests sent from the cycle's own loop, not to an HTTP thread and back;
anyio's lock out of each connection; the cookie jar skipping answers that set none), against 9b16b38 in the same
run, --repeats 5: 1.80 (job 1.60) against 2.46 (job 1.10, http 1.00): total 0.73 x. Busy machine: the repeats
spread over 1.40-2.50 and 2.21-2.85. Again with two idle connections kept between a loop's cycles: 1.93 (job 1.70)
against 2.54 (1.30, 1.00), 0.76 x.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from pathlib import Path

from cold import code_of  # this tree's code or a commit's, as cold.py runs it

TICKS = os.sysconf("SC_CLK_TCK")
KEYS = ("total", "job", "http", "other")


def thread_cpu(native_id: int) -> float:
    """Return the CPU seconds (user + sys) one thread of this process used."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(args: argparse.Namespace) -> dict[str, float]:
    """In the child: poll the used sources `rounds` times; return the medians, in ms a channel poll. The cycles run
    in a thread of their own, as the daemon runs them (asyncio's runner in the main thread would also look at the
    signal handlers each time)."""
    from mirrord.config import load_config
    from mirrord.log import configure_logging
    from mirrord.scheduler import Daemon
    from scale import FeedSite, write_config

    with tempfile.TemporaryDirectory(prefix="quiet-poll-") as tmp, ThreadPoolExecutor(1) as job_thread:
        site = FeedSite()
        config = load_config(write_config(Path(tmp), site, args.sources, min(100, args.sources), 2, 60))
        configure_logging(config.log_file)
        daemon = Daemon(config, lambda: config)
        used = list(config.sources)[:args.used]

        def poll(names: list[str]) -> None:
            for name in names:
                job_thread.submit(daemon.run_source, name).result()

        poll(fill_mirrors(config, site, used, args.pages))  # builds the mirrors, saves the validators: every later
        poll(used)  # poll is a 304
        job = job_thread.submit(threading.get_native_id).result()
        client = getattr(daemon.http, "thread", None)  # the HTTP client's thread of the code up to 9b16b38
        threads = {"job": lambda: thread_cpu(job), "http": lambda: thread_cpu(client.native_id) if client else 0.0}
        figures: dict[str, list[float]] = {key: [] for key in KEYS}
        for _ in range(args.rounds):
            before = {"total": process_cpu()} | {key: cpu() for key, cpu in threads.items()}
            poll(used)
            after = {"total": process_cpu()} | {key: cpu() for key, cpu in threads.items()}
            spent = {key: (after[key] - before[key]) * 1000 / (2 * len(used)) for key in before}
            for key, value in (spent | {"other": spent["total"] - spent["job"] - spent["http"]}).items():
                figures[key].append(value)
        daemon.http.close()
        daemon.states.close()
        site.close()
    return {key: statistics.median(values) for key, values in figures.items()}


def fill_mirrors(config, site, used: list[str], pages: int) -> list[str]:
    """Give every channel of the used sources' mirrors `pages` items to publish (none: empty mirrors); return the
    sources whose first cycle builds those mirrors."""
    if not pages:
        return used
    mirrors = {config.sources[name].mirror for name in used}
    sources = [name for name, source in config.sources.items() if source.mirror in mirrors]
    for name in sources:
        for channel in ("c0", "c1"):
            path = f"/feed/{name}/{channel}.xml"
            site.feeds[path] = [(serial, formatdate(usegmt=True)) for serial in range(pages)]
            site.versions[path] += 1
    return sources


def run_child(env: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", "--sources", str(args.sources), "--used", str(args.used),
               "--rounds", str(args.rounds), "--pages", str(args.pages)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--used", type=int, default=50, help="sources polled, spread over the mirrors")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--pages", type=int, default=0,
                        help="pages each channel of the used sources' mirrors holds (all their sources' first cycles)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rev", default="9b16b38", help="the code to compare with (a commit)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return
    with tempfile.TemporaryDirectory(prefix="quiet-poll-code-") as tmp:
        codes = {"this tree": code_of(None, Path(tmp)), args.rev: code_of(args.rev, Path(tmp))}
        figures: dict[str, list[dict[str, float]]] = {name: [] for name in codes}
        for repeat in range(args.repeats):
            for name, env in codes.items():
                figures[name].append(run_child(env, args))
                print(f"repeat {repeat + 1} {name}: {json.dumps(figures[name][-1])}", flush=True)
    medians = {name: {key: statistics.median(f[key] for f in runs) for key in KEYS} for name, runs in figures.items()}
    print(f"ms of CPU per channel poll (304), medians of {args.repeats} repeats; {args.used} of {args.sources} "
          f"sources x {args.rounds} rounds; {args.pages} pages a channel")
    print(f"{'code':>12}" + "".join(f"{key:>7}" for key in KEYS))
    for name, values in medians.items():
        print(f"{name:>12}" + "".join(f"{values[key]:7.2f}" for key in KEYS))
    base, ours = medians[args.rev], medians["this tree"]
    print("ratio (this tree / " + args.rev + "): " + ", ".join(f"{key} {ours[key] / base[key]:.2f}" for key in KEYS))
    print("total: the process; job: the thread the cycles run in; http: the HTTP client's thread of code that has "
          "one (up to 9b16b38); other: the rest (mostly the feed server's threads, which serve the requests)")


if __name__ == "__main__":
    main()
