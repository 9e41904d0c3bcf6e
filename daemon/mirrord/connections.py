"""The Fetcher's HTTP/1.1 connections: asyncio streams under httpcore's protocol code, kept idle per origin.

httpx's own pool (httpcore's AsyncConnectionPool over anyio) cost 2-3 ms of CPU a request at 16 in flight,
where plain asyncio sockets cost 0.2 (bench/http_client.py): on every request and every response closed it
matches every waiting request against every connection (quadratic in the pool's size), and it asks each
connection whether the server closed it, which through anyio is a getpeername and a poll() each time.
These connections cost about 0.4 times as much. Here:

- `LoopStream` is httpcore's network stream over asyncio's StreamReader and StreamWriter. Whether the
  server closed (or wrote on) an idle connection is already known to the event loop, so asking costs no
  system call. Every read, write and connect is bounded by the timeout httpcore passes, and its
  failures are httpcore's errors, the OSError (ssl's errors among them) kept as their cause.
- `LoopBackend` connects with asyncio; `addresses.PublicAddressesOnly` builds on it for pictures.
- `Connections` is an httpx transport keeping idle `httpcore.AsyncHTTP11Connection`s per origin, the
  most recently used first, and no queue: the Fetcher's semaphores already bound what is in flight.

httpx has no public way to give its transport another pool (encode/httpx#3749), so `Connections` is a
transport of its own on httpx's public `AsyncBaseTransport`: it turns httpx's request into httpcore's
and httpcore's errors into httpx's, as httpx's transport does, and the Fetcher's client uses it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

KEEPALIVE_EXPIRY = 30.0  # seconds an idle connection is kept: see Connections
SWEEP_EVERY = 1.0  # seconds between two looks at every idle connection, for those expired or closed
READ_LIMIT = 1 << 17  # bytes a stream buffers before it stops reading the socket; httpcore reads 64 KiB at a time
IDEMPOTENT = (b"GET", b"HEAD")

Origin = tuple[bytes, bytes, int]


class LoopStream(httpcore.AsyncNetworkStream):
    """One connection as httpcore sees it, over an asyncio StreamReader and StreamWriter."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Return what the server sent next, b"" at its end; within timeout when nothing is there yet (a read
        that need not wait sets no timer: the timers were about a twentieth of the CPU of a request)."""
        try:
            if self.closed_or_written_by_server():
                return await self.reader.read(max_bytes)
            async with asyncio.timeout(timeout):
                return await self.reader.read(max_bytes)
        except TimeoutError as error:
            raise httpcore.ReadTimeout(f"nothing read within {timeout:g} s") from error
        except OSError as error:
            raise httpcore.ReadError(describe(error)) from error

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send buffer; wait (within timeout) only for what the socket did not take at once. A connection the
        server closed shows on the next read."""
        try:
            self.writer.write(buffer)
            if self.writer.transport.get_write_buffer_size():
                async with asyncio.timeout(timeout):
                    await self.writer.drain()
        except TimeoutError as error:
            raise httpcore.WriteTimeout(f"could not write within {timeout:g} s") from error
        except OSError as error:
            raise httpcore.WriteError(describe(error)) from error

    async def aclose(self) -> None:
        """Close at once, without TLS's close_notify (as httpx's own streams do): nothing waits on the peer."""
        self.writer.transport.abort()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> LoopStream:
        try:
            async with asyncio.timeout(timeout):
                await self.writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as error:
            await self.aclose()
            raise httpcore.ConnectTimeout(f"no TLS handshake within {timeout:g} s") from error
        except OSError as error:  # ssl.SSLError is one: a certificate refused, a handshake failed
            await self.aclose()
            raise httpcore.ConnectError(describe(error)) from error
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return self.closed_or_written_by_server()
        names = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername", "socket": "socket"}
        return self.writer.get_extra_info(names[info]) if info in names else None

    def closed_or_written_by_server(self) -> bool:
        """True when the server closed the connection, reset it or sent something (a 408 before closing):
        on an idle connection each means it cannot carry another request. StreamReader has no public way to
        ask whether bytes wait in its buffer; `_buffer` has been that buffer since asyncio began."""
        reader = self.reader
        return reader.at_eof() or reader.exception() is not None or bool(reader._buffer)


class LoopBackend(httpcore.AsyncNetworkBackend):
    """Connects with asyncio, trying each address of a name in turn (RFC 8305's 250 ms head start apart)."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> LoopStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, limit=READ_LIMIT, happy_eyeballs_delay=0.25,
                    local_addr=(local_address, 0) if local_address else None)
        except TimeoutError as error:
            raise httpcore.ConnectTimeout(f"no connection within {timeout:g} s") from error
        except OSError as error:
            raise httpcore.ConnectError(describe(error)) from error
        for option in socket_options or ():
            writer.get_extra_info("socket").setsockopt(*option)
        return LoopStream(reader, writer)


def describe(error: OSError) -> str:
    return str(error) or type(error).__name__


def tls_context() -> ssl.SSLContext:
    """Return the context https connections verify certificates with, made on the first https connection.

    Loading the CA bundle costs ~30 ms of CPU, which a cycle of http:// sources alone need not pay, and
    which is paid once per process, not once per client."""
    return tls_context_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def tls_context_for(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """httpx's context: certifi's CA bundle, or the SSL_CERT_FILE or SSL_CERT_DIR it names. httpx reads those
    variables itself; their values are the cache's key, so that setting one gets a context that reads it."""
    context = httpx.create_ssl_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


class Connections(httpx.AsyncBaseTransport):
    """An httpx transport over HTTP/1.1 connections made by `backend`, keeping up to `keep` idle ones.

    A connection is reused while its server keeps it open, for KEEPALIVE_EXPIRY seconds at most. A GET
    sent on a reused connection that the server had closed meanwhile (which the event loop may not have
    seen yet) is sent again once, on a new connection, as browsers do.

    KEEPALIVE_EXPIRY is 30 s, not httpx's 5: the daemon has a Fetcher, so a pool, per mirror thread, whose
    sources' cycles come a few seconds to minutes apart, and a new connection costs about as much CPU as the
    request it carries (a server that closes sooner is seen at the next request, or the GET sent again).
    Browsers keep idle connections longer still (Firefox 115 s). The idle connections of a loop whose cycles
    are over stay open until its next request: at most `keep` a loop.
    """

    def __init__(self, backend: httpcore.AsyncNetworkBackend, keep: int):
        self.backend = backend
        self.keep = keep
        self.idle: dict[Origin, list[httpcore.AsyncHTTP11Connection]] = {}
        self.idle_count = 0
        self.next_sweep = 0.0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        core = core_request(request)
        with httpx_errors():
            connection, answer = await self.send(core)
        give_back = functools.partial(self.give_back, key_of(core.url.origin), connection)
        return httpx.Response(status_code=answer.status, headers=answer.headers, extensions=answer.extensions,
                              stream=Body(answer.stream, give_back))

    async def send(self, request: httpcore.Request) -> tuple[httpcore.AsyncHTTP11Connection, httpcore.Response]:
        """Return the connection the request went on and the answer's head. Raise httpcore's errors."""
        if request.url.scheme not in (b"http", b"https"):
            raise httpcore.UnsupportedProtocol(f"unsupported protocol '{request.url.scheme.decode()}://'")
        origin = request.url.origin
        connection, reused = await self.take(origin, request)
        try:
            return connection, await connection.handle_async_request(request)
        except (httpcore.RemoteProtocolError, httpcore.ReadError):
            if not reused or request.method not in IDEMPOTENT:
                raise
        connection = await self.connect(origin, request)  # the server had closed it: once more on a new one
        return connection, await connection.handle_async_request(request)

    async def take(self, origin: httpcore.Origin,
                   request: httpcore.Request) -> tuple[httpcore.AsyncHTTP11Connection, bool]:
        """Return an idle connection to origin that can carry a request (True), else a new one (False)."""
        await self.sweep()
        idle = self.idle.get(key_of(origin))
        while idle:
            connection = idle.pop()
            self.idle_count -= 1
            if not connection.has_expired():
                return connection, True
            await connection.aclose()
        return await self.connect(origin, request), False

    async def connect(self, origin: httpcore.Origin, request: httpcore.Request) -> httpcore.AsyncHTTP11Connection:
        """Return a new connection to origin, over TLS for https, within the request's connect timeout."""
        timeout = request.extensions.get("timeout", {}).get("connect")
        host = origin.host.decode("ascii")
        stream = await self.backend.connect_tcp(host, origin.port, timeout=timeout)
        if origin.scheme == b"https":
            stream = await stream.start_tls(tls_context(), server_hostname=host, timeout=timeout)
        connection = httpcore.AsyncHTTP11Connection(origin, stream, keepalive_expiry=KEEPALIVE_EXPIRY)
        # httpcore's lock of the connection's state is anyio's, which yields to the event loop even when free:
        # two more turns of the loop a request, an eighth of its CPU. A connection here carries one request at
        # a time (taken from the idle ones, or new), so asyncio's lock, which does not yield when free, is enough.
        connection._state_lock = asyncio.Lock()
        return connection

    async def give_back(self, origin: Origin, connection: httpcore.AsyncHTTP11Connection) -> None:
        """Keep a connection whose answer was read whole (and whose server keeps it open); close any other."""
        if connection.is_idle() and self.idle_count < self.keep:
            self.idle[origin] = self.idle.pop(origin, [])  # the origins in the order they were last used
            self.idle[origin].append(connection)
            self.idle_count += 1
        else:
            await connection.aclose()

    async def sweep(self) -> None:
        """Close the idle connections that expired or that their server closed, every SWEEP_EVERY seconds at
        most: else the connections to a host asked no more would stay open until the Fetcher closes."""
        now = time.monotonic()
        if now < self.next_sweep:
            return
        self.next_sweep = now + SWEEP_EVERY
        for origin, idle in list(self.idle.items()):
            for connection in [connection for connection in idle if connection.has_expired()]:
                idle.remove(connection)
                self.idle_count -= 1
                await connection.aclose()
            if not idle:
                del self.idle[origin]

    async def close_idle_beyond(self, count: int) -> None:
        """Close the idle connections but the count most recently given back (the daemon's loops keep a few for
        their next cycle, not all that a cycle of many articles opened)."""
        newest_first = [(origin, connection) for origin in reversed(self.idle)
                        for connection in reversed(self.idle[origin])]
        for origin, connection in newest_first[count:]:
            self.idle[origin].remove(connection)
            await connection.aclose()
        self.idle = {origin: connections for origin, connections in self.idle.items() if connections}
        self.idle_count = min(count, len(newest_first))

    async def aclose(self) -> None:
        idle, self.idle, self.idle_count = self.idle, {}, 0
        for connections in idle.values():
            for connection in connections:
                await connection.aclose()


class Body(httpx.AsyncByteStream):
    """An answer's body as httpx reads it; closing it gives its connection back to the pool."""

    def __init__(self, stream: AsyncIterable[bytes], give_back: Callable[[], Awaitable[None]]):
        self.stream = stream
        self.give_back = give_back

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with httpx_errors():
            async for chunk in self.stream:
                yield chunk

    async def aclose(self) -> None:
        try:
            with httpx_errors():
                await self.stream.aclose()  # type: ignore[attr-defined]
        finally:
            await self.give_back()


def core_request(request: httpx.Request) -> httpcore.Request:
    url = request.url
    return httpcore.Request(method=request.method, headers=request.headers.raw, content=request.stream,
                            extensions=request.extensions,
                            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port,
                                             target=url.raw_path))


def key_of(origin: httpcore.Origin) -> Origin:
    """httpcore's Origin compares equal but does not hash."""
    return (origin.scheme, origin.host, origin.port)


# httpcore's errors and the httpx errors they become, the more specific first.
ERRORS = ((httpcore.ConnectTimeout, httpx.ConnectTimeout), (httpcore.ReadTimeout, httpx.ReadTimeout),
          (httpcore.WriteTimeout, httpx.WriteTimeout), (httpcore.TimeoutException, httpx.TimeoutException),
          (httpcore.ConnectError, httpx.ConnectError), (httpcore.ReadError, httpx.ReadError),
          (httpcore.WriteError, httpx.WriteError), (httpcore.NetworkError, httpx.NetworkError),
          (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
          (httpcore.LocalProtocolError, httpx.LocalProtocolError), (httpcore.ProtocolError, httpx.ProtocolError),
          (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol))


@contextmanager
def httpx_errors() -> Iterator[None]:
    """Raise httpcore's errors as the httpx errors they are, the httpcore error (and its cause) as the cause."""
    try:
        yield
    except Exception as error:
        public = next((public for core, public in ERRORS if isinstance(error, core)), None)
        if public is None:
            raise
        raise public(str(error)) from error
