"""What a cycle reads of a clone's `.git` itself, without a git process or GitPython's objects: the commit HEAD
points to, and the clone's own settings.

A cycle with nothing new asks both (HEAD several times), and a daemon of a thousand sources runs such a
cycle many times a minute: resolving HEAD through GitPython's references cost ~120 µs each, building its
Repo and reading its config ~400 µs more, where reading two small files costs ~30 µs.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache
from pathlib import Path

from git.config import GitConfigParser

COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # sha1 and sha256 object names
# A ref git could have written, read inside .git only: under refs/, no step up, no empty part, no control character.
REF_NAME = re.compile(r"refs/(?:[^/\x00-\x20\x7f]+/)*[^/\x00-\x20\x7f]+")
SYMBOLIC_DEPTH = 5  # git itself follows a few symbolic refs at most


def head_commit(git_dir: Path) -> str | None:
    """Return the commit HEAD points to, following symbolic refs through loose ref files and packed-refs;
    None before the first commit (the branch HEAD names does not exist yet) or when a ref is not one git wrote."""
    name = "HEAD"
    for _ in range(SYMBOLIC_DEPTH):
        value = loose_ref(git_dir, name)
        if value is None:
            value = packed_ref(git_dir, name)
        if value is None:
            return None
        if not value.startswith("ref: "):
            return value if COMMIT.fullmatch(value) else None
        name = value.removeprefix("ref: ").strip()
        if ".." in name or "\\" in name or not REF_NAME.fullmatch(name):
            return None
    return None


def loose_ref(git_dir: Path, name: str) -> str | None:
    try:
        return (git_dir / name).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def packed_ref(git_dir: Path, name: str) -> str | None:
    """Return the commit of a ref that `git pack-refs` (run by gc) moved into packed-refs."""
    try:
        lines = (git_dir / "packed-refs").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        commit, _, ref = line.partition(" ")
        if ref == name:
            return commit
    return None


def clone_settings(git_dir: Path) -> dict[str, str]:
    """Return the clone's own settings (`.git/config`) as `section.subsection.key` -> last value (section and key
    in lower case, as git compares them); parsed once for each text the file has had."""
    return dict(parsed_settings((git_dir / "config").read_bytes()))


@lru_cache(maxsize=1024)
def parsed_settings(text: bytes) -> tuple[tuple[str, str], ...]:
    source = io.BytesIO(text)
    source.name = "config"  # GitConfigParser names the file it reads in its errors
    reader = GitConfigParser(source, read_only=True)
    return tuple((f"{section_key(section)}.{key.lower()}", values[-1]) for section in reader.sections()
                 for key, values in reader.items_all(section) if values)


def section_key(section: str) -> str:
    """Return a config section as git names it in keys: `remote "origin"` -> `remote.origin`."""
    name, _, subsection = section.partition(" ")
    return ".".join([name.lower(), subsection.strip('"')] if subsection else [name.lower()])
