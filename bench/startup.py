"""Start-up of the commands people type, this tree against another commit in the same run, interleaved:
`--version`, `check`, `status` and `once` with nothing new (every channel answers 304) on bench/cold.py's
site of 6 listing channels, each tree with its own mirror, published once before the runs.

Printed: the median wall and CPU (user + sys, children included) of each command for each tree over
REPEATS runs, and the ratio of the other commit's to this tree's. Bytecode is compiled first for both, as an
installed release has it (see cold.code_of). Targets of issue 13: --version, check and status under 150 ms
wall, once with nothing new under 400 ms.

Run: python bench/startup.py [--repeats N] [--rev COMMIT]  (default COMMIT: main)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from cold import build_site, code_of, run_measured, serve, write_config

COMMANDS = {"--version": ["--version"], "check": ["check"], "status": ["status"], "once, nothing new": ["once"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rev", default="main", help="the commit to compare with [main]")
    args = parser.parse_args()
    server = serve(build_site(), 0.0)
    mirrord = [sys.executable, "-m", "mirrord"]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        trees = {"this tree": code_of(None, tmp), args.rev: code_of(args.rev, tmp / "code")}
        configs = {}
        for tree, env in trees.items():
            folder = Path(tempfile.mkdtemp(dir=tmp))
            configs[tree] = write_config(folder, server.server_address[1])
            run_measured(mirrord + ["-c", str(configs[tree]), "once"], env)  # publishes everything: then all 304
        figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.repeats):
            for command, words in COMMANDS.items():
                for tree, env in trees.items():
                    options = [] if command == "--version" else ["-c", str(configs[tree])]
                    wall, cpu, _ = run_measured(mirrord + options + words, env)
                    figures.setdefault((command, tree), []).append((wall, cpu))
    server.shutdown()
    print(f"medians of {args.repeats} interleaved runs, ms (wall / CPU); ratio: {args.rev} over this tree")
    for command in COMMANDS:
        walls, cpus = {}, {}
        for tree in trees:
            walls[tree] = statistics.median(wall for wall, _ in figures[(command, tree)]) * 1000
            cpus[tree] = statistics.median(cpu for _, cpu in figures[(command, tree)]) * 1000
        print(f"  {command:18} this tree {walls['this tree']:5.0f} / {cpus['this tree']:4.0f}   {args.rev} "
              f"{walls[args.rev]:5.0f} / {cpus[args.rev]:4.0f}   ratio {walls[args.rev] / walls['this tree']:.2f} "
              f"wall, {cpus[args.rev] / cpus['this tree']:.2f} CPU")


if __name__ == "__main__":
    main()
