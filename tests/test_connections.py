"""mirrord's own HTTP connections against real servers on 127.0.0.1: reuse per host, servers that close idle
connections, keep-alive expiry, requests cut by the deadline, closing, TLS (verification, SNI, the context
made once and only for https), and the timeouts httpcore asks of each read, write and handshake."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpcore
import httpx
import pytest

from mirrord import connections
from mirrord.connections import LoopBackend
from mirrord.errors import FetchError
from mirrord.fetch import Fetcher
from mirrord.model import HttpSettings, Response

from rawserver import RawServer, keep_alive, read_head

SETTINGS = HttpSettings(user_agent="mirrord-tests/1", timeout=5.0, concurrency=16, per_host=4, retries=0,
                        max_bytes=1_000_000, proxy=None)


def fetch_in_turn(urls: list[str], settings: HttpSettings = SETTINGS, pause: float = 0.0,
                  image_hosts: frozenset[str] | None = None) -> list[Response | FetchError]:
    """Fetch urls one after another with one Fetcher (as pictures when image_hosts is given), pause seconds
    apart; return each answer or failure."""
    async def fetch() -> list[Response | FetchError]:
        results: list[Response | FetchError] = []
        async with Fetcher(settings) as fetcher:
            getter = fetcher if image_hosts is None else fetcher.for_pictures(image_hosts)
            for url in urls:
                try:
                    results.append(await getter.get(url))
                except FetchError as error:
                    results.append(error)
                await asyncio.sleep(pause)
        return results

    return asyncio.run(fetch())


def bodies(results: list[Response | FetchError]) -> list[bytes | str]:
    return [result.body if isinstance(result, Response) else str(result) for result in results]


def answering(served: list[str], then: Callable[[socket.socket], None] | None = None):
    """A RawServer handler answering every request of a connection with b"page" (its path noted in served), kept
    open for the next one; or, with `then`, doing that after the first answer instead of reading on."""
    def handle(conn: socket.socket, head: str | None) -> None:
        while head is not None:
            served.append(head.split(" ", 2)[1])
            conn.sendall(keep_alive("200 OK", b"page"))
            if then is not None:
                return then(conn)
            head = read_head(conn)

    return handle


def test_requests_to_a_host_reuse_its_connections():
    served: list[str] = []

    async def at_once(url: str) -> list[Response]:
        async with Fetcher(SETTINGS) as fetcher:
            return await asyncio.gather(*(fetcher.get(f"{url}?n={n}") for n in range(12)))

    with RawServer(answering(served)) as server:
        assert bodies(fetch_in_turn([server.url(f"/{n}") for n in range(10)])) == [b"page"] * 10
        assert len(served) == 10 and len(server.requests) == 1, "ten requests in turn, one connection"
        assert [response.body for response in asyncio.run(at_once(server.url()))] == [b"page"] * 12
    assert 1 < len(server.requests) - 1 <= SETTINGS.per_host, "twelve at once: per_host connections at most"


@pytest.mark.parametrize("close, pause", [
    (lambda conn: None, 0.0),  # at once, as the answer is sent
    (lambda conn: time.sleep(0.1), 0.4),  # while the connection waits idle in the client
    (read_head, 0.0),  # as the next request comes (the race no check beforehand can win)
], ids=["at-once", "while-idle", "as-the-next-request-comes"])
def test_a_server_closing_idle_connections_costs_no_failed_fetch(close, pause):
    """The server closes each connection after one answer without saying so (no Connection: close). Seen
    before the connection is used again, it is not; else the request goes once more, on a new connection."""
    served: list[str] = []
    with RawServer(answering(served, close)) as server:
        results = fetch_in_turn([server.url(f"/{n}") for n in range(5)], pause=pause)
    assert bodies(results) == [b"page"] * 5
    assert len(server.requests) == 5


def test_an_answer_sent_on_an_idle_connection_is_not_taken_for_the_next_request():
    """Some servers send 408 Request Timeout on a connection left idle, some time before they close it."""
    read, sent = threading.Event(), threading.Event()

    def time_out(conn: socket.socket) -> None:
        read.wait(5)
        conn.sendall(keep_alive("408 Request Timeout", b"idle too long"))
        sent.set()
        server.stopped.wait(30)

    async def fetch_twice(url: str) -> list[bytes]:
        async with Fetcher(SETTINGS) as fetcher:
            first = await fetcher.get(url)
            read.set()
            await asyncio.to_thread(sent.wait, 5)
            await asyncio.sleep(0.1)  # the event loop reads what came meanwhile
            return [first.body, (await fetcher.get(url)).body]

    with RawServer(answering([], time_out)) as server:
        assert asyncio.run(fetch_twice(server.url())) == [b"page", b"page"]


def test_an_idle_connection_is_not_reused_past_its_keep_alive(monkeypatch):
    monkeypatch.setattr(connections, "KEEPALIVE_EXPIRY", 0.5)
    with RawServer(answering([])) as server:
        assert bodies(fetch_in_turn([server.url("/a"), server.url("/b")], pause=0.8)) == [b"page", b"page"]
        assert len(server.requests) == 2
        assert bodies(fetch_in_turn([server.url("/a"), server.url("/b")])) == [b"page", b"page"]
        assert len(server.requests) == 3, "within the keep-alive, the connection is reused"


def noting_the_end(ended: threading.Event) -> Callable[[socket.socket], None]:
    """After the first answer: wait until the client closes the connection, then set ended."""
    def wait_for_the_end(conn: socket.socket) -> None:
        while read_head(conn) is not None:
            pass
        ended.set()

    return wait_for_the_end


def test_an_expired_connection_to_a_host_asked_no_more_is_closed(monkeypatch):
    monkeypatch.setattr(connections, "KEEPALIVE_EXPIRY", 0.2)
    monkeypatch.setattr(connections, "SWEEP_EVERY", 0.0)
    ended = threading.Event()

    async def two_hosts(first: str, second: str) -> bool:
        async with Fetcher(SETTINGS) as fetcher:
            await fetcher.get(first)
            await asyncio.sleep(0.4)
            await fetcher.get(second)
            return await asyncio.to_thread(ended.wait, 5)

    with RawServer(answering([], noting_the_end(ended))) as first, RawServer(answering([])) as second:
        assert asyncio.run(two_hosts(first.url(), second.url()))


def test_a_request_cut_by_the_deadline_leaves_no_broken_connection_behind():
    """A request cut mid-body or while waiting for the answer's head closes its connection: the next request
    to the host goes on a new one and gets its own answer."""
    served: list[str] = []

    def handle(conn: socket.socket, head: str | None) -> None:
        while head is not None:
            path = head.split(" ", 2)[1]
            served.append(path)
            if path == "/stalls":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
            if path != "/ok":
                server.stopped.wait(30)
                return
            conn.sendall(keep_alive("200 OK", b"page"))
            head = read_head(conn)

    with RawServer(handle) as server:
        urls = [server.url(path) for path in ("/ok", "/stalls", "/ok", "/silent", "/ok")]
        results = fetch_in_turn(urls, replace(SETTINGS, timeout=1))
    outcomes = [result.kind if isinstance(result, FetchError) else result.body for result in results]
    assert outcomes == [b"page", "timeout", b"page", "timeout", b"page"]
    assert len(server.requests) == 3, "the connection of each cut request was not used again"


def test_closing_the_fetcher_closes_its_connections():
    ended = threading.Event()

    async def fetch_then_close(url: str) -> bool:
        async with Fetcher(SETTINGS) as fetcher:
            await fetcher.get(url)
        return await asyncio.to_thread(ended.wait, 5)

    with RawServer(answering([], noting_the_end(ended))) as server:
        assert asyncio.run(fetch_then_close(server.url()))


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA of the tests' own and a certificate it signed for localhost (only), made with openssl."""
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*arguments: str) -> None:
        subprocess.run(["openssl", *arguments], cwd=folder, check=True, capture_output=True)

    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=mirrord tests CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (folder / "server.ext").write_text("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n"
                                       "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
                                       "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    return folder


def tls_server(certificates: Path, names: list[str]) -> RawServer:
    """A keep-alive RawServer over TLS with the localhost certificate, noting the name each client asked for."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
    context.sni_callback = lambda _socket, name, _context: names.append(name)
    return RawServer(answering([]), tls=context)


@pytest.fixture
def trusted(certificates: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tests' CA trusted (SSL_CERT_FILE, as httpx reads it), for the test only."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "ca.pem"))
    return certificates


def test_https_is_verified_sends_the_host_name_and_reuses_its_connection(trusted):
    names: list[str] = []
    with tls_server(trusted, names) as server:
        urls = [f"https://localhost:{server.port}/{n}" for n in range(3)]
        assert bodies(fetch_in_turn(urls)) == [b"page"] * 3
    assert names == ["localhost"] and len(server.requests) == 1


def test_pictures_over_https_connect_to_the_checked_address_and_verify_the_host_name(trusted):
    names: list[str] = []
    with tls_server(trusted, names) as server:
        url = f"https://localhost:{server.port}/p.png"
        assert bodies(fetch_in_turn([url, url], image_hosts=frozenset({"localhost"}))) == [b"page", b"page"]
        refused = fetch_in_turn([url], image_hosts=frozenset())[0]
    assert names == ["localhost"] and len(server.requests) == 1
    assert isinstance(refused, FetchError) and refused.kind == "refused"


def test_a_certificate_from_an_unknown_ca_or_for_another_host_is_a_tls_failure(certificates, monkeypatch):
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with tls_server(certificates, []) as server:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        unknown_ca = fetch_in_turn([f"https://localhost:{server.port}/"])[0]
        monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "ca.pem"))
        other_host = fetch_in_turn([f"https://127.0.0.1:{server.port}/"])[0]
    for failed in (unknown_ca, other_host):
        assert isinstance(failed, FetchError) and failed.kind == "tls" and failed.transient
        assert "cannot connect" in failed.reason and "CERTIFICATE_VERIFY_FAILED" in failed.reason
    assert "not valid for '127.0.0.1'" in other_host.reason and "local issuer" in unknown_ca.reason


def test_the_tls_context_is_made_on_the_first_https_connection_and_once(trusted, monkeypatch):
    """Loading the CA bundle costs ~30 ms of CPU: a run of http:// sites alone does not pay it, and a process
    pays it once, not once per client."""
    made = []
    create = httpx.create_ssl_context
    monkeypatch.setattr(httpx, "create_ssl_context", lambda *args, **kwargs: made.append(1) or create(*args, **kwargs))
    connections.tls_context_for.cache_clear()
    with RawServer(answering([])) as plain, tls_server(trusted, []) as tls:
        fetch_in_turn([plain.url("/a"), plain.url("/b")])
        fetch_in_turn([plain.url("/p.png")], image_hosts=frozenset({"127.0.0.1"}))
        assert made == []
        for _ in range(2):
            assert bodies(fetch_in_turn([f"https://localhost:{tls.port}/"])) == [b"page"]
            fetch_in_turn([f"https://localhost:{tls.port}/p.png"], image_hosts=frozenset({"localhost"}))
    assert made == [1]


def test_reads_writes_connects_and_handshakes_are_bounded_by_the_timeouts_httpcore_passes():
    async def exercise(port: int, closed_port: int) -> None:
        stream = await LoopBackend().connect_tcp("127.0.0.1", port, timeout=5)
        await stream.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", timeout=5)
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(65536, timeout=0.2)
        with pytest.raises(httpcore.WriteTimeout):  # more than the sockets' buffers hold, and nobody reads
            await stream.write(bytes(64 << 20), timeout=0.2)
        await stream.aclose()
        handshake = await LoopBackend().connect_tcp("127.0.0.1", port, timeout=5)
        with pytest.raises(httpcore.ConnectTimeout):
            await handshake.start_tls(ssl.create_default_context(), "localhost", timeout=0.2)
        with pytest.raises(httpcore.ConnectError) as refused:
            await LoopBackend().connect_tcp("127.0.0.1", closed_port, timeout=5)
        assert isinstance(refused.value.__cause__, ConnectionRefusedError)

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    with RawServer(lambda conn, head: server.stopped.wait(30)) as server:
        asyncio.run(exercise(server.port, closed_port))
