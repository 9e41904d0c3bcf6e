"""systemd's notify protocol (sd_notify(3)): one datagram to $NOTIFY_SOCKET per message, no dependency.

`Type=notify` units wait for READY=1; STATUS= shows in `systemctl status`; WATCHDOG=1 must come
more often than WatchdogSec (systemd passes it as $WATCHDOG_USEC) or the service is restarted.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

from mirrord.log import printable


def notify(message: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Send message ("READY=1", "STATUS=...") to systemd; False when not started by it or the socket is gone."""
    address = environ.get("NOTIFY_SOCKET", "")
    if not address.startswith(("/", "@")):
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # a Linux abstract socket, as sd_notify(3) spells it
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
    except OSError:
        return False
    return True


def status_line(text: str) -> str:
    """Return the STATUS= message for text, made one line as systemctl shows it, printable in a terminal."""
    return "STATUS=" + " ".join(printable(text).split())


def reloading_message() -> str:
    """Return RELOADING=1 with the monotonic time systemd requires alongside it."""
    return f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"


def watchdog_interval(environ: Mapping[str, str] = os.environ) -> float | None:
    """Return the seconds between two WATCHDOG=1 (half of WatchdogSec), None when no watchdog watches us."""
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000
