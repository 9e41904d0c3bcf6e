"""`mirrord status --follow`: the status log's events as they are appended, across rotations."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

LEVELS = ("debug", "info", "warning", "error", "critical")
BACKLOG_BYTES = 16_384  # how much of the end of the log is shown before following it


def follow_events(path: Path, poll: float = 0.5) -> Iterator[dict]:
    """Yield the events of the last lines of the log, then each new one; reopen the log when logrotate
    moved it away (its inode changed) or truncated it. Runs until the caller stops."""
    handle, partial = open_at_backlog(path), ""
    while True:
        line = handle.readline() if handle else ""
        if line.endswith("\n"):
            yield parse_line(partial + line)
            partial = ""
            continue
        partial += line
        if rotated(path, handle):
            if handle:
                handle.close()
            handle, partial = open_log(path), ""
            continue
        time.sleep(poll)


def open_at_backlog(path: Path):
    """Open the log positioned at the start of a line near its end; None when it does not exist yet."""
    handle = open_log(path)
    if handle is not None:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - BACKLOG_BYTES))
        if size > BACKLOG_BYTES:
            handle.readline()
    return handle


def open_log(path: Path):
    try:
        return open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None


def rotated(path: Path, handle) -> bool:
    try:
        current = path.stat()
    except FileNotFoundError:
        return False
    if handle is None:
        return True
    opened = os.fstat(handle.fileno())
    return current.st_ino != opened.st_ino or current.st_size < handle.tell()


def parse_line(line: str) -> dict:
    """Return a line's event; a line that is not JSON (written by something else) becomes its text."""
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    return event if isinstance(event, dict) else {"event": line.rstrip("\n"), "level": "info"}


def wanted(event: dict, level: str, source: str | None = None, mirror: str | None = None) -> bool:
    """Tell whether an event passes the --level and --source filters; a source's events include those of
    its mirror that name no source (commits, pushes)."""
    rank = LEVELS.index(event["level"]) if event.get("level") in LEVELS else 1
    if rank < LEVELS.index(level):
        return False
    return source is None or event.get("source", mirror and event.get("mirror") == mirror and source) == source
