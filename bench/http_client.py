"""CPU per request of mirrord's HTTP client: this tree's Fetcher, another commit's, and plain sockets.

bench/cold.py's site (6 listings and 300 article pages of ~93 KB, served on 127.0.0.1 over HTTP/1.1
keep-alive, no added latency) is fetched whole, IN_FLIGHT requests at a time, by each client in a process
of its own, interleaved, REPEATS times:

- this tree's `mirrord.fetch.Fetcher` (`concurrency = per_host = 16`), every page through `get`;
- the same at --rev (default 4e77c39, the httpx pool mirrord used before its own connections);
- plain asyncio sockets over IN_FLIGHT keep-alive connections (cold.py's floor of HTTP alone).

Printed, medians: CPU per request (the child's user+sys around the fetching alone, its start-up and imports
left out), wall of the fetching, and the ratios.

Run: python bench/http_client.py [--repeats 7] [--rev COMMIT]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cold import FETCHER_TIMING, IN_FLIGHT, build_site, code_of, serve, site_paths, socket_floor  # noqa: E402


def measure_sockets(port: int) -> None:
    """The floor, in this (child) process: print its CPU and wall seconds."""
    started, cpu = time.perf_counter(), time.process_time()
    asyncio.run(socket_floor(port, site_paths()))
    print(time.process_time() - cpu, time.perf_counter() - started)


def run_child(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Return the CPU and wall seconds a child prints."""
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rev", default="4e77c39", help="the commit to compare with [4e77c39]")
    parser.add_argument("--sockets", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sockets:
        return measure_sockets(args.sockets)
    server = serve(build_site(), 0.0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    paths = site_paths()
    figures: dict[str, list[tuple[float, float]]] = {"this tree": [], args.rev: [], "plain sockets": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            envs = {"this tree": code_of(None, Path(tmp)), args.rev: code_of(args.rev, Path(tmp) / "rev")}
            fetcher = [sys.executable, "-c", FETCHER_TIMING, base, *paths]
            for _ in range(args.repeats):
                for name, env in envs.items():
                    figures[name].append(run_child(fetcher, env))
                figures["plain sockets"].append(run_child(
                    [sys.executable, __file__, "--sockets", str(server.server_address[1])], envs["this tree"]))
    finally:
        server.shutdown()
        server.server_close()
    report(figures, len(paths), args.repeats)


def report(figures: dict[str, list[tuple[float, float]]], requests: int, repeats: int) -> None:
    cpu = {name: statistics.median(c for c, _ in runs) / requests * 1000 for name, runs in figures.items()}
    wall = {name: statistics.median(w for _, w in runs) for name, runs in figures.items()}
    floor = cpu["plain sockets"]
    print(f"{requests} requests of cold.py's site, {IN_FLIGHT} in flight, no added latency; medians of {repeats}")
    for name in figures:
        print(f"  {name:14} {cpu[name]:5.2f} ms CPU per request  {wall[name]:5.2f} s wall  "
              f"{cpu[name] / floor:4.1f}x the sockets' CPU")
    this, before = list(figures)[:2]
    print(f"  this tree takes {cpu[this] / cpu[before]:.2f}x the CPU per request of {before}")


if __name__ == "__main__":
    main()
