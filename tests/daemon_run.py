"""A real `mirrord run` process for tests, the systemd socket it talks to, and ways to wait on both."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path


def wait_for(condition: Callable[[], object], timeout: float = 30, what: str = "condition") -> object:
    """Return condition()'s first true value, polling; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def health(port: int) -> int:
    """Return the status code of the daemon's /healthz, which a Kubernetes liveness probe asks."""
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status
    except urllib.error.HTTPError as error:
        return error.code


def schedule_every(config: Path, every: str, extra: str = "") -> Path:
    """Give each source of a test config the interval `every`, and append extra top-level tables."""
    text = config.read_text(encoding="utf-8")
    for source in ("daily", "weekly"):
        text = text.replace(f"[source.{source}]\n", f'[source.{source}]\nevery = "{every}"\n')
    config.write_text(text + extra, encoding="utf-8")
    return config


def without_source(config: Path, source: str) -> str:
    """Return the config's text with a source's tables (written last by write_config) cut off."""
    text = config.read_text(encoding="utf-8")
    return text[:text.index(f"[source.{source}]")]


class NotifySocket:
    """systemd's end of $NOTIFY_SOCKET: a datagram socket that keeps every message it receives."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="notify-")  # short: AF_UNIX paths are limited to 107 bytes
        self.path = os.path.join(self.folder, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self.open = True
        self.thread = threading.Thread(target=self.receive, daemon=True)
        self.thread.start()

    def receive(self) -> None:
        while self.open:
            try:
                self.messages.append(self.sock.recv(4096).decode("utf-8"))
            except TimeoutError:
                continue

    def received(self, prefix: str) -> list[str]:
        return [m for m in list(self.messages) if m.startswith(prefix)]

    def close(self) -> None:
        self.open = False
        self.thread.join()
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.folder)


class DaemonProcess:
    """`python -m mirrord -c CONFIG run` in a child process, stopped at the end of the test."""

    def __init__(self, config: Path, env: dict[str, str] | None = None):
        self.log_file = config.parent / "state" / "status.log"
        self.process = subprocess.Popen([sys.executable, "-m", "mirrord", "-c", str(config), "run"],
                                        env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)

    def events(self) -> list[dict]:
        """Return the status log's events; every line must be JSON."""
        if not self.log_file.exists():
            return []
        lines = self.log_file.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]

    def logged(self, event: str, **fields) -> list[dict]:
        return [e for e in self.events() if e["event"] == event and all(e.get(k) == v for k, v in fields.items())]

    def signal(self, number: int) -> None:
        self.process.send_signal(number)

    def stop(self, timeout: float = 30) -> int:
        """Send SIGTERM and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()
