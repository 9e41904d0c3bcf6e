"""Wall time of `mirrord demo` from nothing (fresh directory), as a user runs it.

Prints the median of REPEATS runs, and of a second run in the same directory (nothing new).
Run: python bench/demo.py [REPEATS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_demo(directory: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mirrord", "demo", "--dir", str(directory)], check=True,
                   capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    first, again = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            first.append(timed_demo(Path(tmp) / "demo"))
            again.append(timed_demo(Path(tmp) / "demo"))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import mirrord.cli"], check=True)
    startup = time.perf_counter() - started
    print(f"mirrord demo, fresh directory: median {statistics.median(first):.2f} s over {repeats} runs")
    print(f"mirrord demo, nothing new:     median {statistics.median(again):.2f} s")
    print(f"python start + import mirrord.cli: {startup:.2f} s (the floor of any command)")


if __name__ == "__main__":
    main()
