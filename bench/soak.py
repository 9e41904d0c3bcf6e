"""500 cycles of one long-lived mirrord process against a local site with new articles each cycle.

Prints resident memory, open file descriptors and child processes at cycle 10 and at the last
cycle (targets: under 10 MB of memory growth; descriptors and children flat).
Run: python bench/soak.py [CYCLES]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from mirrord.config import load_config  # noqa: E402
from mirrord.log import configure_logging  # noqa: E402
from mirrord.model import Options  # noqa: E402
from mirrord.pipeline import run_once  # noqa: E402

from fixture_site import add_article, populate  # noqa: E402
from httpsite import Site  # noqa: E402
from mirror_run import write_config  # noqa: E402


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def child_processes() -> int:
    me = str(os.getpid())
    children = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children += fields[1] == me
    return children


def main() -> None:
    cycles = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as tmp, Site() as site:
        populate(site)
        bare = Path(tmp) / "remote.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        config = load_config(write_config(Path(tmp) / "mirrord.toml", site, bare, keep=20))
        configure_logging(config.log_file, console_level=40)
        figures = {}
        started = time.monotonic()
        for cycle in range(1, cycles + 1):
            add_article(site, ("world", "local", "features")[cycle % 3], f"soak-{cycle}", f"Soak story {cycle}")
            reports = run_once(config, [], Options())
            assert all(report.ok for report in reports), [r.failures for r in reports]
            if cycle in (10, cycles):
                figures[cycle] = (resident_mb(), open_descriptors(), child_processes())
        elapsed = time.monotonic() - started
    for cycle, (rss, fds, children) in figures.items():
        print(f"cycle {cycle:>4}: resident {rss:.1f} MB, open descriptors {fds}, child processes {children}")
    first, last = figures[10], figures[cycles]
    print(f"growth cycle 10 → {cycles}: {last[0] - first[0]:+.1f} MB (target < 10), "
          f"descriptors {last[1] - first[1]:+d}, children {last[2] - first[2]:+d} (targets 0); "
          f"{elapsed / cycles * 1000:.0f} ms per cycle")


if __name__ == "__main__":
    main()
