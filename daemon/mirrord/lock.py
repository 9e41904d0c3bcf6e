"""One writer per mirror: the lock file that makes a second mirrord wait, then say who holds it."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mirrord.errors import LockHeld


@contextmanager
def mirror_lock(state_dir: Path, mirror: str, wait: float) -> Iterator[None]:
    """Hold the mirror's lock file; wait up to `wait` seconds, then raise LockHeld naming the holder."""
    path = state_dir / "locks" / f"{mirror}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise LockHeld(f"mirror {mirror} is being written by {holder} (lock {path}); "
                                   "try again when it is done") from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"mirrord pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
