"""Servers that misbehave on purpose, on raw sockets at 127.0.0.1: what http.server cannot be made to do.

`RawServer` hands every connection, once its request head is read, to a function that writes whatever
bytes it likes, as slowly as it likes, or resets the connection; over TLS when given a context, and
keeping the connection open for more requests with `keep_alive`. `Socks5Proxy` is a minimal SOCKS5
proxy (no authentication) that records where it was asked to connect. `compression_bomb` makes the
small bodies that unpack to hundreds of megabytes.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
import struct
import threading
import zlib
from collections.abc import Callable, Iterable
from types import TracebackType

Handler = Callable[[socket.socket, str], None]


class Listener:
    """A listening socket on 127.0.0.1 (free port) serving each connection in its own thread."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def accept_loop(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class RawServer(Listener):
    """Reads each connection's first request head, records it, and lets `handle` answer (and read more heads).

    With `tls`, the connections are TLS ones: a handshake the client gives up on ends the connection.
    """

    def __init__(self, handle: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handle = handle
        self.tls = tls
        self.requests: list[str] = []
        self.lock = threading.Lock()
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:
                conn.close()
                return
        with conn:
            head = read_head(conn)
            if head is None:
                return
            with self.lock:
                self.requests.append(head)
            with contextlib.suppress(OSError):  # the client gave up first: what most of these tests provoke
                self.handle(conn, head)


def read_head(conn: socket.socket) -> str | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data.split(b"\r\n\r\n", 1)[0].decode("latin-1")


def answer(status: str, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """Return the bytes of a whole HTTP/1.1 response that closes its connection."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close",
             *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def keep_alive(status: str, body: bytes = b"") -> bytes:
    """Return the bytes of a whole HTTP/1.1 response that leaves its connection open for the next request."""
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode("latin-1") + body


def reset(conn: socket.socket) -> None:
    """Close with a TCP reset rather than an orderly close."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


class Socks5Proxy(Listener):
    """A SOCKS5 proxy without authentication that records each (host, port) it connects to."""

    def __init__(self) -> None:
        self.targets: list[tuple[str, int]] = []
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        with conn:
            greeting = conn.recv(2)
            conn.recv(greeting[1])
            conn.sendall(b"\x05\x00")
            _, _, _, kind = conn.recv(4)
            host = conn.recv(conn.recv(1)[0]).decode() if kind == 3 else socket.inet_ntoa(conn.recv(4))
            port = struct.unpack("!H", conn.recv(2))[0]
            self.targets.append((host, port))
            with socket.create_connection((host, port)) as upstream:
                conn.sendall(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")
                relay(conn, upstream)


def relay(one: socket.socket, other: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    back = threading.Thread(target=pump, args=(other, one), daemon=True)
    back.start()
    pump(one, other)
    back.join(timeout=10)


ZLIB_WBITS = {"gzip": 31, "deflate": 15}


@functools.cache
def compression_bomb(mebibytes: int, codings: str) -> bytes:
    """Return that many MiB of zeros compressed with each of codings in turn ("gzip, gzip": a few hundred
    bytes for 512 MiB), as a server sends it with `Content-Encoding: <codings>`."""
    data: Iterable[bytes] = (bytes(1 << 20) for _ in range(mebibytes))
    for coding in codings.split(", "):
        packer = zlib.compressobj(9, zlib.DEFLATED, ZLIB_WBITS[coding])
        data = [b"".join(packer.compress(chunk) for chunk in data) + packer.flush()]
    return b"".join(data)
