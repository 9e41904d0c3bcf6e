"""The CPU stage of one article (extract, then render its page) as a worker process runs it, within a time
budget; `workers` is the daemon's side.

Extraction and rendering are pure and CPU-bound: run on the event loop, one slow page would stall every
fetch in flight, and Python cannot stop a thread. So they run in worker processes (one fewer than the
cores, the daemon's own process keeping one for fetching and committing; started on first use, each kept
for later articles); a call that overruns its budget gets
its worker killed (a new one starts when next needed) and the article held back, as does a page that
crashes the stage (a RecursionError, a bug) or its worker: one bad article is held back with its
reason, never the cycle. This module is all a worker loads before its first call: it stays small.

`bound_depth` keeps hostile nesting linear before any parser sees it (a 1 MB page of 100,000 nested
elements takes about a second); the budget is what catches the cost nobody foresaw.
"""

from __future__ import annotations

import os
import pickle
import struct
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from mirrord.errors import HeldBack
from mirrord.model import Article, Channel, Entry, Mirror

LENGTH = struct.Struct(">Q")  # before each pickled message on the pipes


def extract_and_render(entry: Entry, channel: Channel, mirror: Mirror, page: str | None, fetched: datetime,
                       local_pages: Mapping[str, str]) -> Article:
    """Return the extracted article with its page and QR code rendered: rendering (HTML to Markdown for
    `body = "markdown"`), which hostile markup could make slow, is done here within the budget, and the
    commit writes the files as they are (the daemon's process, which fetches, stays free). Raise HeldBack
    as extract_article does."""
    from mirrord.extract import extract_article  # in the worker: the daemon's process need not load it

    return with_page(extract_article(entry, channel, mirror, page, fetched, local_pages), mirror)


def localize_and_render(article: Article, paths: Mapping[str, str], mirror: Mirror) -> Article:
    """Return the article with its downloaded pictures (URL -> path beside the page) in its HTML, its page
    and QR code rendered again; its pictures' bytes stay in the daemon's process."""
    from mirrord.extract import with_local_images

    return with_page(with_local_images(article, paths), mirror)


def with_page(article: Article, mirror: Mirror) -> Article:
    """Return the article carrying its page and QR code as `mirror` renders them."""
    from mirrord.render import page_files

    return replace(article, rendered=tuple(page_files(article, mirror)))


def serve() -> None:
    """A worker's life: run each call read from stdin, write its result or what went wrong to stdout, until
    stdin closes. Whatever a library prints goes nowhere, so that it cannot garble the answers (stderr, where
    logging's last resort writes, is the null device already)."""
    requests, answers = os.dup(0), os.dup(1)
    nowhere = os.open(os.devnull, os.O_RDWR)
    os.dup2(nowhere, 0)
    os.dup2(nowhere, 1)
    while True:
        try:
            function, arguments = receive(requests)
        except (EOFError, OSError):
            return
        try:
            answer = ("done", function(*arguments))
        except HeldBack as reason:
            answer = ("held back", str(reason))
        except Exception as error:  # a bug or a page that breaks a library: the article's failure, not the cycle's
            answer = ("failed", f"{type(error).__name__}: {str(error)[:300]}")
        send(answers, answer)


def send(pipe: int, value: Any) -> None:
    """Write value to a pipe, pickled, after its length."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    message = memoryview(LENGTH.pack(len(data)) + data)
    while message:
        message = message[os.write(pipe, message):]


def receive(pipe: int) -> Any:
    """Read the next value `send` wrote to a pipe. Raise EOFError when the pipe closes before it is whole."""
    (length,) = LENGTH.unpack(read_exactly(pipe, LENGTH.size))
    return pickle.loads(read_exactly(pipe, length))


def read_exactly(pipe: int, size: int) -> bytes:
    parts, left = [], size
    while left:
        part = os.read(pipe, min(left, 1 << 20))
        if not part:
            raise EOFError("the pipe closed")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


