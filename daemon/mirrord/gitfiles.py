"""What every cycle asks of the working clone, read from the files git keeps in `.git`: HEAD's commit and the
clone's own settings. No git process and no GitPython (some 50 ms to import, and a `git version` process):
a cycle with nothing new runs neither, `publish` loads GitPython when git has to run. In a daemon polling a
thousand sources, resolving HEAD through GitPython cost ~120 us each time, its Repo and config ~400 us more;
reading two small files costs ~30 us.

Only what git itself writes in a clone it made is read: the `files` ref store (loose refs, then packed-refs)
and the config file's sections, keys and (quoted, escaped) values. Reading a setting wrongly costs a `git
config` that sets it again, nothing more.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

SYMBOLIC = "ref: "
COMMIT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
# A ref git could have written, read inside .git only: under refs/, no step up, no empty part, no control character.
REF_NAME = re.compile(r"refs/(?:[^/\x00-\x20\x7f]+/)*[^/\x00-\x20\x7f]+")
SECTION = re.compile(r'\[\s*([-.\w]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]')
KEY = re.compile(r"([A-Za-z][-A-Za-z0-9]*)\s*(=?)")
ESCAPES = {"n": "\n", "t": "\t", "b": "\b", "\\": "\\", '"': '"'}
QUOTING = ('"', "\\", "#", ";")  # the characters that make a config value more than its text
MAX_LINKS = 5  # symbolic refs followed from HEAD, as git does, not forever


def head_commit(git_dir: Path) -> str | None:
    """Return the commit HEAD points to, through its branch; None before the first commit (an unborn branch) or
    when a ref names something git would not have written (outside refs/)."""
    name = "HEAD"
    for _ in range(MAX_LINKS):
        value = ref_value(git_dir, name)
        if value is None or not value.startswith(SYMBOLIC):
            return value if value is not None and COMMIT.fullmatch(value) else None
        name = value.removeprefix(SYMBOLIC).strip()
        if ".." in name or "\\" in name or not REF_NAME.fullmatch(name):
            return None
    return None


def ref_value(git_dir: Path, name: str) -> str | None:
    """Return what a ref holds (a commit, or `ref: <other ref>`): its loose file, else its packed-refs line.
    Read by the built-in open on a str path: pathlib's read_text cost four times as much, several times a cycle."""
    try:
        with open(os.path.join(git_dir, name), "rb") as loose:
            return loose.read().decode("utf-8").strip()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        pass
    try:
        packed = (git_dir / "packed-refs").read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    for line in packed.splitlines():
        commit, _, ref = line.partition(" ")
        if ref == name and not line.startswith(("#", "^")):
            return commit
    return None


def clone_settings(config_file: Path) -> dict[str, str]:
    """Return the settings of a clone's config file as `section.subsection.key` -> last value (section and key
    in lower case, as git compares them; a key without a value is `true`); {} when there is no such file."""
    try:
        text = config_file.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    settings: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        header = SECTION.match(line)
        if header:
            name, subsection = header.group(1).lower(), header.group(2)
            section = f"{name}.{unescaped(subsection)}" if subsection is not None else name
            line = line[header.end():].strip()
        key = KEY.match(line)
        if section and key:
            value = config_value(line[key.end():]) if key.group(2) else "true"
            settings[f"{section}.{key.group(1).lower()}"] = value
    return settings


def config_value(text: str) -> str:
    """Return a config value as git reads it: quotes keep spaces and comment marks, backslashes escape, an
    unquoted `#` or `;` starts a comment, and spaces around the value are dropped."""
    if not any(mark in text for mark in QUOTING):
        return text.strip()  # what git wrote: nothing to unquote, the rest is read a character at a time
    text = text.lstrip()
    value: list[str] = []
    quoted, kept, index = False, 0, 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            index += 1
            value.append(ESCAPES.get(text[index], text[index]))
            kept = len(value)
        elif char == '"':
            quoted = not quoted
            kept = len(value)
        elif char in "#;" and not quoted:
            break
        else:
            value.append(char)
            if quoted or not char.isspace():
                kept = len(value)
        index += 1
    return "".join(value[:kept])


def unescaped(subsection: str) -> str:
    return re.sub(r"\\(.)", r"\1", subsection)
