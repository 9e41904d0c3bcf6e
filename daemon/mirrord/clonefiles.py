"""The files of the working clone, reached through real folders only: no link can lead a write out of it.

A remote's history may carry symbolic links. Git checks them out as plain files in mirrord's clone
(core.symlinks is off), but a link or other odd file may already stand on the way to a path mirrord
writes (from a clone made before that, or put there by hand): it is removed first and logged, and files
are opened without following links, so that a link someone pushed to a remote can never make mirrord
read or write outside its clone. No git here; `publish` runs it.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from mirrord.errors import PublishError
from mirrord.log import get_logger
from mirrord.model import PageFile

log = get_logger()


class CloneFiles:
    """The files of one mirror's clone."""

    def __init__(self, root: Path, mirror: str):
        self.root = root
        self.mirror = mirror

    def read(self, path: str) -> bytes | None:
        """Return a file of the clone; None when it is missing or not a regular file inside the clone."""
        folder = self.folder_of(path, make=False)
        file = folder / posixpath.basename(path) if folder is not None else None
        return file.read_bytes() if file is not None and stat.S_ISREG(lstat(file)) else None

    def signature(self, path: str) -> tuple[int, ...] | None:
        """Return what changes whenever the file at path is written, replaced or touched (its inode, size, and
        modification and change times); None when there is nothing there."""
        try:
            found = os.lstat(self.root / path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns

    def delete(self, path: str) -> None:
        """Delete the file or folder at path; a link goes, never what it points to."""
        folder = self.folder_of(path, make=False)
        target = folder / posixpath.basename(path) if folder is not None else None
        if target is not None and stat.S_ISDIR(lstat(target)):
            shutil.rmtree(target)
        elif target is not None:
            target.unlink(missing_ok=True)

    def write(self, files: Iterable[PageFile]) -> None:
        """Write each file, removing a link or other odd file that stands at its path; never through a link.
        Each folder on the way is checked (and made) once for all the files in it: nothing else writes the
        clone meanwhile, and a cycle's hundreds of pages share a few folders."""
        folders: dict[str, Path] = {}
        for file in files:
            name = posixpath.dirname(file.path)
            folder = folders.get(name) or folders.setdefault(name, self.folder_of(file.path, make=True))
            self.write_file(folder / posixpath.basename(file.path), file.path, file.data)

    def write_file(self, target: Path, path: str, data: bytes) -> None:
        mode = lstat(target)
        if mode and not stat.S_ISREG(mode):
            self.remove_odd_file(target, mode, path)
        handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        try:
            written = memoryview(data)
            while written:
                written = written[os.write(handle, written):]
        finally:
            os.close(handle)

    def folder_of(self, path: str, make: bool) -> Path | None:
        """Return the folder of path in the clone when every folder on the way is a real one. With make,
        missing folders are created and what stands in the way of one (a link, a file) is removed (logged);
        without, None when a folder on the way is missing or no real folder."""
        parts = [part for part in path.split("/")[:-1] if part not in ("", ".")]
        if ".." in parts:
            raise PublishError(f"refusing to write {path!r} in the clone: it leads out of it")
        folder = self.root
        for part in parts:
            folder = folder / part
            mode = lstat(folder)
            if stat.S_ISDIR(mode):
                continue
            if not make:
                return None
            if mode:
                self.remove_odd_file(folder, mode, path)
            folder.mkdir()
        return folder

    def remove_odd_file(self, file: Path, mode: int, writing: str) -> None:
        """Remove what stands where a folder or a regular file must be written, and say so."""
        what = f"a symbolic link to {os.readlink(file)}" if stat.S_ISLNK(mode) else \
            "a folder" if stat.S_ISDIR(mode) else "a file" if stat.S_ISREG(mode) else "a special file"
        if stat.S_ISDIR(mode):
            shutil.rmtree(file)
        else:
            file.unlink()
        log.warning("clone.unsafe_file", mirror=self.mirror, path=str(file.relative_to(self.root)),
                    error=f"{what} stood where {writing} is written; replaced (a remote's history may carry it)")


def lstat(path: Path) -> int:
    """Return the mode of path itself (a link is not followed), 0 when there is nothing."""
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return 0
