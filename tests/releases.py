"""Earlier releases of mirrord, taken from this repository's history, run on a mirror before the code under
test continues it: users' mirrors must keep working across every change."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from mirror_run import Run

REPOSITORY = Path(__file__).resolve().parents[1]


def release(commit: str, what: str, into: Path) -> Path:
    """Return the daemon folder of the release at commit (`what` says which, for the skip message), extracted
    from this repository's history. Skip when the history does not hold it (a shallow clone), except in CI,
    where the test must run."""
    found = subprocess.run(["git", "-C", str(REPOSITORY), "cat-file", "-e", f"{commit}^{{commit}}"],
                           capture_output=True)
    if found.returncode != 0:
        missing = f"commit {commit} ({what}) is not in this clone's history"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    archive = subprocess.run(["git", "-C", str(REPOSITORY), "archive", commit, "daemon"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "daemon"


def run_release(daemon: Path, config: Path) -> Run:
    """Run `mirrord once` of the release whose package is in daemon/."""
    env = {**os.environ, "PYTHONPATH": str(daemon)}
    done = subprocess.run([sys.executable, "-m", "mirrord", "-c", str(config), "once"], capture_output=True,
                          text=True, timeout=120, env=env)
    return Run(done.returncode, done.stdout, done.stderr)
