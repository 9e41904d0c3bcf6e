"""The bytes git's batch commands read and write: a commit for `git fast-import`, `git cat-file --batch` answers.

Built and parsed apart from running git (`publish` does that), so the formats are kept and tested in one place.
"""

from __future__ import annotations

import json
import time

from mirrord.model import PageFile


def fast_import_stream(ref: str, parent: str | None, files: list[PageFile], deleted: list[str], message: str,
                       environment: dict[str, str], merge: str | None = None,
                       marks: dict[str, int] | None = None) -> bytes:
    """Return the `git fast-import` commands of one commit: the files, the deletions, on top of parent (and
    merging the commit `merge` when given). A file whose path is in marks names the blob sent before under
    that mark (`blob_stream`); the others carry their data."""
    when = f"{int(time.time())} +0000"
    author = f"{environment['GIT_AUTHOR_NAME']} <{environment['GIT_AUTHOR_EMAIL']}> {when}"
    committer = f"{environment['GIT_COMMITTER_NAME']} <{environment['GIT_COMMITTER_EMAIL']}> {when}"
    text = message.encode("utf-8")
    parts = [f"commit {ref}\nauthor {author}\ncommitter {committer}\ndata {len(text)}\n".encode(), text, b"\n"]
    if parent:
        parts.append(f"from {parent}\n".encode())
    if merge:
        parts.append(f"merge {merge}\n".encode())
    parts += [f"D {quoted_path(path)}\n".encode() for path in deleted]
    marks = marks or {}
    for file in files:
        if file.path in marks:
            parts.append(f"M 100644 :{marks[file.path]} {quoted_path(file.path)}\n".encode())
        else:
            parts += [f"M 100644 inline {quoted_path(file.path)}\ndata {len(file.data)}\n".encode(), file.data, b"\n"]
    return b"".join(parts)


def blob_stream(files: list[PageFile]) -> tuple[bytes, dict[str, int]]:
    """Return the `git fast-import` commands giving git these files' contents ahead of a commit, and the mark
    of each path."""
    marks = {file.path: number for number, file in enumerate(files, 1)}
    return b"".join(b"blob\nmark :%d\ndata %d\n%s\n" % (marks[file.path], len(file.data), file.data)
                    for file in files), marks


def batch_contents(answer: bytes, count: int) -> list[bytes | None]:
    """Return the bytes of each of count objects in `git cat-file --batch` output (None for a missing one)."""
    contents: list[bytes | None] = []
    position = 0
    for _ in range(count):
        end = answer.index(b"\n", position)
        header = answer[position:end].split()
        position = end + 1
        if len(header) != 3 or not header[2].isdigit():
            contents.append(None)
            continue
        size = int(header[2])
        contents.append(answer[position:position + size])
        position += size + 1
    return contents


def quoted_path(path: str) -> str:
    """Quote a path for fast-import when it could be misread (ids are safe file names, so rarely)."""
    if path.startswith('"') or any(c in path for c in "\n\\ "):
        return json.dumps(path, ensure_ascii=False)
    return path
