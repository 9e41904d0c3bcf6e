"""Real git servers on 127.0.0.1 for tests: `git daemon` (git://) and sshd with a deploy key (ssh://)."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mirror_run import bare_repository

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def require_sshd(path: str | None = None, environ: dict[str, str] | None = None) -> str:
    """Return sshd's path. Skip the test on a machine without it, saying why, except in CI, which installs
    it (.ci/run): there a missing sshd fails the test instead of hiding it."""
    path = path or SSHD
    if os.access(path, os.X_OK):
        return path
    missing = f"sshd not found at {path}: install openssh-server to run the tests that push over ssh"
    if (os.environ if environ is None else environ).get("CI"):
        pytest.fail(missing)
    pytest.skip(missing)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stderr.read() if process.stderr else ""
            raise RuntimeError(f"server exited with {process.returncode}: {output}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@contextmanager
def running(command: list[str], port: int) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def git_daemon(root: Path, port: int | None = None) -> Iterator[str]:
    """Serve the bare repositories under root read-write at git://127.0.0.1:PORT/; yield that base URL."""
    port = port or free_port()
    command = ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", f"--base-path={root}",
               "--listen=127.0.0.1", f"--port={port}", str(root)]
    with running(command, port):
        yield f"git://127.0.0.1:{port}"


def deploy_key(folder: Path) -> Path:
    """Create an ed25519 key pair without passphrase; return the private key's path."""
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "deploy_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mirrord-test", "-f", str(key)], check=True)
    return key


@contextmanager
def sshd(folder: Path, authorized_key: Path) -> Iterator[str]:
    """Run sshd on a loopback port accepting only authorized_key for this user; yield ssh://USER@127.0.0.1:PORT.
    Skip the test where sshd is missing, but in CI (require_sshd)."""
    daemon = require_sshd()
    folder.mkdir(parents=True, exist_ok=True)
    host_key = folder / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    authorized = folder / "authorized_keys"
    authorized.write_text(Path(f"{authorized_key}.pub").read_text())
    authorized.chmod(0o600)
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
AuthorizedKeysFile {authorized}
PidFile {folder / 'sshd.pid'}
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
""")
    Path("/run/sshd").mkdir(exist_ok=True)
    with running([daemon, "-D", "-e", "-f", str(config)], port):
        yield f"ssh://{getpass.getuser()}@127.0.0.1:{port}"


def rejecting_repository(path: Path, message: str = "pushes are closed") -> Path:
    """A bare repository whose pre-receive hook refuses every push."""
    bare_repository(path)
    hook = path / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    hook.chmod(0o755)
    return path


def gated_repository(path: Path, gate: Path) -> Path:
    """A bare repository whose pre-receive hook holds every push until the file gate exists (two minutes at
    most), so that a test decides when the push in progress ends."""
    bare_repository(path)
    hook = path / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\nfor i in $(seq 1200); do [ -e '{gate}' ] && exit 0; sleep 0.1; done\nexit 1\n")
    hook.chmod(0o755)
    return path
