"""Run mirrord as users do (a real process) and look at what readers get (a real clone)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from fixture_site import DAILY_CONTENT, DAILY_REMOVE, EXCLUDED_WORD, FEATURES_ITEMS, WEEKLY_CONTENT, channel_url

PUBLIC_URL = "https://git.example/me/news/blob/main"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def mirrord(config: Path, *args: str, timeout: float = 120) -> Run:
    """Run `mirrord -c config ARGS` in a child process."""
    done = subprocess.run([sys.executable, "-m", "mirrord", "-c", str(config), *args], capture_output=True,
                          text=True, timeout=timeout)
    return Run(done.returncode, done.stdout, done.stderr)


# A fresh, small parent runs the command and reports its children's peak: a child's own ru_maxrss starts at
# its parent's resident size when it was started (Linux keeps the high-water mark across fork and exec), so
# measured from pytest's process it would never show less than pytest's hundred megabytes.
MEASURED = "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True); " \
           "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); " \
           "print(done.stdout, end=''); print(done.stderr, end='', file=sys.stderr)"


def measured(*command: str, timeout: float = 120) -> tuple[Run, int]:
    """Run command in a child process; return how it went and its peak memory in bytes (the largest of it and
    the children it waited for, such as git's)."""
    done = subprocess.run([sys.executable, "-c", MEASURED, *command], capture_output=True, text=True,
                          timeout=timeout)
    first, _, stdout = done.stdout.partition("\n")
    code, peak_kib = (int(n) for n in first.split())
    return Run(code, stdout, done.stderr), peak_kib * 1024


def mirrord_peak(config: Path, *args: str, timeout: float = 120) -> tuple[Run, int]:
    """Run `mirrord -c config ARGS` in a child process; return how it went and its peak memory in bytes."""
    return measured(sys.executable, "-m", "mirrord", "-c", str(config), *args, timeout=timeout)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def bare_repository(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return path


def clone(bare: Path, into: Path) -> Path:
    """Return a fresh clone of what a reader of the remote sees."""
    subprocess.run(["git", "clone", "-q", str(bare), str(into)], check=True)
    return into


def commit_count(bare: Path) -> int:
    return int(git(bare, "rev-list", "--count", "main").strip())


def metadata(page: Path) -> dict:
    """Return the JSON of a page's hidden metadata line."""
    return metadata_of(page.read_text(encoding="utf-8"))


def metadata_of(text: str) -> dict:
    """Return the JSON of the hidden metadata line of a page's text (one read from git history, say)."""
    last = text.rstrip().splitlines()[-1]
    assert last.startswith("<!-- mirrord ") and last.endswith(" -->"), last
    return json.loads(last.removeprefix("<!-- mirrord ").removesuffix(" -->"))


def write_config(path: Path, site, remote: Path | str | list, keep: int = 300, extra_mirror: str = "") -> Path:
    """Write a config mirroring the fixture site: world from the feed's text, local and features fetched."""
    remotes = ", ".join(f'"{r}"' for r in (remote if isinstance(remote, list) else [remote]))
    path.write_text(f"""
state_dir = "{path.parent / 'state'}"

[mirror.news]
title = "News mirror"
remotes = [{remotes}]
public_url = "{PUBLIC_URL}"
keep = {keep}
header = "[Home](../../README.md)"
image_hosts = ["127.0.0.1"]  # the fixture site is served on this machine
{extra_mirror}

[source.daily]
title = "The Daily Courier"
remove = [{", ".join(f'"{r}"' for r in DAILY_REMOVE)}]
exclude = ["{EXCLUDED_WORD}"]

[source.daily.channel.world]
title = "World"
url = "{channel_url(site, 'world')}"

[source.daily.channel.local]
title = "Local"
url = "{channel_url(site, 'local')}"
content = "{DAILY_CONTENT}"

[source.weekly]
title = "The Weekly Review"
content = "{WEEKLY_CONTENT}"

[source.weekly.channel.features]
title = "Features"
url = "{channel_url(site, 'features')}"
items = "{FEATURES_ITEMS}"
""", encoding="utf-8")
    return path


def read_terminal(primary: int) -> str:
    """Return what a program wrote to the terminal until it closed it."""
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    return b"".join(chunks).decode("utf-8", errors="replace")


