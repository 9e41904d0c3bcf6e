"""One commit made by `git fast-import`, fed as its parts are ready: the pages' contents first, written in a
thread, so that git compresses them on another core while the rest of the commit (indexes, feeds, ledger) is
made; then the commit, which names them by mark. Commands are written to git's stdin as they come: no file of
the whole stream, no waiting for all of it."""

from __future__ import annotations

import contextlib
import subprocess
import threading
from pathlib import Path

from mirrord.gitstreams import blob_stream
from mirrord.model import PageFile

# fast-import tries a delta of each blob against the one before it in the stream, which for pages of different
# articles (and their QR codes) costs more CPU than it saves bytes, and deflates at level 6: blobs above 1 KiB
# stored whole at level 4 take about 40% of its CPU, in a pack no bigger. Only this process sees the settings.
IMPORT_SETTINGS = ("-c", "core.bigFileThreshold=1k", "-c", "pack.compression=4")

class Import:
    """A running `git fast-import` in a clone, the contents of `ahead` already on their way to it. git says
    little on stderr (`--quiet`: a fatal error's line), so it is read once git is done."""

    def __init__(self, root: Path, environ: dict[str, str], ahead: list[PageFile]):
        self.process = subprocess.Popen(["git", *IMPORT_SETTINGS, "fast-import", "--quiet"], cwd=root, env=environ,
                                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        blobs, self.marks = blob_stream(ahead)
        self.sending = threading.Thread(target=self.send, args=(blobs,), daemon=True)
        self.sending.start()
        self.reason: bytes | None = None

    def send(self, commands: bytes) -> None:
        with contextlib.suppress(BrokenPipeError):  # git stopped early: its exit code and stderr say why
            self.process.stdin.write(commands)

    def finish(self, commit: bytes) -> str | None:
        """Send the commit's commands and end the import; return git's reason when it failed, else None."""
        self.sending.join()
        self.send(commit)
        self.close()
        reason = " ".join((self.reason or b"").decode("utf-8", errors="replace").split())
        code = self.process.returncode
        return (reason or f"git fast-import exited with {code}") if code else None

    def close(self) -> None:
        """End git's input and wait for it; an import ended before its commit was sent (the cycle failed on
        the way) leaves only unreachable objects, which gc removes."""
        if self.reason is None:
            self.sending.join()
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
            with self.process.stderr:
                self.reason = self.process.stderr.read()
            self.process.wait()
