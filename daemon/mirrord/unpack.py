"""Undo a response's content codings a bounded piece at a time, so that a cap can hold after unpacking.

httpx inflates each network read in one call, so a few kilobytes of `gzip, gzip` became half a gigabyte
in memory before any cap could look at them.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

import httpx

from mirrord.errors import FetchError

# Only what ContentDecoder undoes in bounded steps is asked for, even if httpx could decode more (brotli).
ACCEPT_ENCODING = "gzip, deflate"
ZLIB_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
UNDECODABLE = {"br", "zstd", "compress", "x-compress"}
# A body compressed twice happens (a proxy compressing a compressed page); three times is an attack.
MAX_CODINGS = 2
DECODE_STEP = 64 * 1024


def content_codings(url: str, answer: httpx.Response) -> list[str]:
    """Return the content codings to undo, in the order they were applied (RFC 9110 8.4).

    Labels that name no compression ("identity", and the "utf-8" or "none" some servers send) are
    ignored, as httpx does. Raise FetchError for a coding mirrord cannot undo or for too many of them.
    """
    labels = [label.strip().lower() for label in answer.headers.get_list("content-encoding", split_commas=True)]
    undecodable = [label for label in labels if label in UNDECODABLE]
    if undecodable:
        raise FetchError(url, f"the server sent Content-Encoding {undecodable[0]}, which mirrord did not ask for "
                         f"and cannot decode (it asks for {ACCEPT_ENCODING})", transient=False)
    codings = [label for label in labels if label in ZLIB_WBITS]
    if len(codings) > MAX_CODINGS:
        raise FetchError(url, f"the body is compressed {len(codings)} times (Content-Encoding {', '.join(codings)}):"
                         f" refused, more than {MAX_CODINGS} is never genuine", transient=False)
    return codings


class ContentDecoder:
    """Undoes stacked content codings a piece of at most DECODE_STEP bytes at a time.

    Each coding is a lazy stage pulling pieces from the one below it, so that no stage ever holds more
    than one piece: a kilobyte that inflates to gigabytes costs DECODE_STEP per stage, and the reader
    can stop as soon as the total passes its cap.
    """

    def __init__(self, codings: list[str]):
        self.stages = [Inflater(coding) for coding in reversed(codings)]

    def decode(self, raw: bytes, final: bool = False) -> Iterator[bytes]:
        """Return the pieces raw unpacks to; `final` at the end of the body, to flush every stage."""
        pieces: Iterable[bytes] = (raw,)
        for stage in self.stages:
            pieces = stage.decode(pieces, final)
        return iter(pieces)


class Inflater:
    """One gzip or deflate coding undone in bounded steps (zlib's max_length)."""

    def __init__(self, coding: str):
        self.coding = coding
        self.zlib = zlib.decompressobj(ZLIB_WBITS[coding])
        self.started = False

    def decode(self, pieces: Iterable[bytes], final: bool) -> Iterator[bytes]:
        for piece in pieces:
            yield from self.inflate(piece)
        if final:
            yield from self.inflate(b"")
            yield self.zlib.flush()

    def inflate(self, data: bytes) -> Iterator[bytes]:
        """Yield what data inflates to, DECODE_STEP bytes at most at a time; bytes after the end of the
        compressed stream are ignored, as httpx does."""
        while not self.zlib.eof:
            piece = self.decompress(data)
            data = self.zlib.unconsumed_tail
            if piece:
                yield piece
            if not data and len(piece) < DECODE_STEP:
                return

    def decompress(self, data: bytes) -> bytes:
        """Inflate one step. Raise httpx.DecodingError on a corrupt stream. "deflate" is meant to be
        zlib-wrapped, but some servers send it raw: the first step tells which (as httpx does)."""
        first, self.started = not self.started, True
        try:
            return self.zlib.decompress(data, DECODE_STEP)
        except zlib.error as error:
            if first and self.coding == "deflate":
                self.zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.decompress(data)
            raise httpx.DecodingError(f"Content-Encoding {self.coding}: {error}") from None
