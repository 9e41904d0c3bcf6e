"""The only module that talks HTTP: a long-lived client per event loop, bounded concurrency, caps and retries.

The bounds (`Limits`: `concurrency` in all, `per_host` to each host) are slots any event loop can take
(`slots`), so that the daemon's Fetchers, one per mirror thread's loop (`sharedfetch`), share them.

httpx retries connection errors only and bounds each read, not the whole request; the total
deadline, the body size cap and the retrying of 429/5xx are therefore done here. The cap holds after
unpacking: content codings are undone a bounded piece at a time (`unpack`).

The client's connections are mirrord's own (`connections`), which cost a fraction of the CPU of httpx's
pool; through a proxy (http.proxy, or the environment's HTTP(S)_PROXY for feeds and pages) httpx's own
transports go.

Pictures come from wherever an article points, so their requests (`Fetcher.for_pictures`) connect
only to public addresses, or to the hosts the config names in image_hosts (`addresses`); redirects
connect through the same check.
"""

from __future__ import annotations

import asyncio
import copy
import email.utils
import ssl
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit
from urllib.request import getproxies

import httpx

from mirrord.addresses import AddressRefused, PublicAddressesOnly, check_proxied_host
from mirrord.connections import Connections, LoopBackend
from mirrord.errors import FetchError
from mirrord.model import HttpSettings, Response
from mirrord.retry import request_retry_delay
from mirrord.slots import CrossLoopSlots
from mirrord.unpack import ACCEPT_ENCODING, ContentDecoder, content_codings

MAX_REDIRECTS = 5
RETRY_AFTER_CAP = 120.0


class Limits:
    """`concurrency` requests in flight in all and `per_host` to each host, for every Fetcher made with them,
    whatever the event loop it runs in (`mirrord run` makes a Fetcher per loop, `sharedfetch`)."""

    def __init__(self, settings: HttpSettings):
        self.concurrency, self.per_host = settings.concurrency, settings.per_host
        self.in_flight = CrossLoopSlots(settings.concurrency)
        self.hosts: dict[str, CrossLoopSlots] = {}
        self.lock = threading.Lock()  # one host's slots made once, whichever thread asks first

    def of_host(self, host: str) -> CrossLoopSlots:
        slots = self.hosts.get(host)
        if slots is None:
            with self.lock:
                slots = self.hosts.setdefault(host, CrossLoopSlots(self.per_host))
        return slots


class Fetcher:
    """Fetches URLs politely within its limits (its own unless given): `concurrency` requests in all,
    `per_host` per host. Its client and connections belong to the event loop it is first used in."""

    def __init__(self, settings: HttpSettings, limits: Limits | None = None):
        self.settings = settings
        self.limits = limits or Limits(settings)
        transport = page_transport(settings)
        self.client = new_client(settings, transport)
        self.pools: list[Connections] = [transport] if transport else []  # pictures' too, made on first use
        # None: any address (feeds and pages, whose hosts the config names); else see for_pictures.
        self.image_hosts: frozenset[str] | None = None
        self.picture_clients: dict[frozenset[str], httpx.AsyncClient] = {}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for client in (self.client, *self.picture_clients.values()):
            await client.aclose()

    async def close_idle_beyond(self, count: int) -> None:
        """Close the idle connections of every pool but the count most recently used of each."""
        for pool in self.pools:
            await pool.close_idle_beyond(count)

    def for_pictures(self, image_hosts: frozenset[str]) -> Fetcher:
        """Return a Fetcher sharing this one's limits and connections whose requests go to public addresses
        only, or to the hosts in image_hosts: a picture's URL is whatever the page says, and a site that says
        http://169.254.169.254/ or http://localhost:8080/admin must not get mirrord to fetch it."""
        view = copy.copy(self)
        view.image_hosts = frozenset(image_hosts)
        return view

    async def get(self, url: str, etag: str | None = None, last_modified: str | None = None, *,
                  hosts: frozenset[str] = frozenset(), max_bytes: int | None = None) -> Response:
        """Return the response for url, retrying transient failures. Raise FetchError when it fails.

        A redirect is followed only to a host in `hosts` (any host when empty), and a body is read up
        to `max_bytes`, never more than http.max_bytes.
        """
        limit = min(max_bytes or self.settings.max_bytes, self.settings.max_bytes)
        request = Request(url, conditional_headers(etag, last_modified), hosts, limit)
        for attempt in range(self.settings.retries + 1):
            try:
                return await self.get_once(request)
            except FetchError as error:
                if not error.transient or attempt == self.settings.retries:
                    raise
                await asyncio.sleep(error.retry_after or request_retry_delay(attempt))
        raise AssertionError("unreachable")

    async def get_once(self, request: Request) -> Response:
        """One attempt, redirects included, within http.timeout in all: httpx bounds each read only."""
        url = request.url
        # The host's slot first: a request waiting for a busy host must not hold one of the shared slots.
        async with self.limits.of_host(urlsplit(url).hostname or ""), self.limits.in_flight:
            try:
                async with asyncio.timeout(self.settings.timeout):
                    return await self.follow(request)
            except TimeoutError:
                raise FetchError(url, f"no complete answer within http.timeout ({self.settings.timeout:g} s)",
                                 transient=True, kind="timeout") from None
            except AddressRefused as refused:
                raise FetchError(url, str(refused), transient=False, kind="refused") from None
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
                raise FetchError(url, f"not a URL mirrord can fetch ({error})", transient=False,
                                 kind="url") from None
            except httpx.DecodingError as error:
                raise FetchError(url, f"the body could not be decoded ({error})", transient=False,
                                 kind="decode") from None
            except httpx.TransportError as error:
                raise FetchError(url, describe_transport_error(error), transient=True,
                                 kind=transport_kind(error)) from None

    async def follow(self, request: Request) -> Response:
        """Return the final answer, following at most MAX_REDIRECTS redirects, each checked before it is made."""
        client = self.picture_client() if self.image_hosts is not None else self.client
        next_request = client.build_request("GET", request.url, headers=request.headers)
        for _ in range(MAX_REDIRECTS + 1):
            if self.image_hosts is not None and self.settings.proxy:
                await check_proxied_host(next_request.url.raw_host.decode("ascii"), self.image_hosts)
            answer = await client.send(next_request, stream=True)
            try:
                if answer.next_request is None:
                    return await read_response(request, answer)
                next_request = answer.next_request
                check_redirect(request, str(next_request.url))
            finally:
                await answer.aclose()
        raise FetchError(request.url, f"more than {MAX_REDIRECTS} redirects", transient=False, kind="redirect")

    def picture_client(self) -> httpx.AsyncClient:
        """Return the client for pictures under this Fetcher's image_hosts, made on first use.

        Without a proxy its connections go through PublicAddressesOnly. Through a proxy, which connects
        and may resolve names itself, follow() checks each hop's host beforehand (check_proxied_host); the
        proxy variables of the environment are not used for pictures.
        """
        hosts = self.image_hosts or frozenset()
        if hosts not in self.picture_clients:
            settings = self.settings
            guarded = None if settings.proxy else Connections(PublicAddressesOnly(hosts), settings.concurrency)
            self.pools += [guarded] if guarded else []
            self.picture_clients[hosts] = new_client(settings, guarded)
        return self.picture_clients[hosts]


def page_transport(settings: HttpSettings) -> Connections | None:
    """Return the transport of feeds and pages: mirrord's connections, or None (httpx's own) through a proxy,
    http.proxy's or the environment's (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY), which httpx honours."""
    proxies = getproxies()
    if settings.proxy or any(proxies.get(scheme) for scheme in ("http", "https", "all")):
        return None
    return Connections(LoopBackend(), settings.concurrency)


def new_client(settings: HttpSettings, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    """Return a client over transport or, when None, over httpx's own transports (with these limits) through
    http.proxy, or through the environment's proxy variables when http.proxy is not set."""
    client = httpx.AsyncClient(
        headers={"User-Agent": settings.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        timeout=httpx.Timeout(settings.timeout),
        limits=httpx.Limits(max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency),
        follow_redirects=False,
        proxy=settings.proxy if transport is None else None,
        transport=transport,
    )
    client._cookies = Cookies()  # the setter would copy it into a plain httpx.Cookies
    return client


class Cookies(httpx.Cookies):
    """httpx's cookie jar, left alone by an answer that sets no cookie: httpx makes urllib's request and
    response objects for each answer to let the jar look at it, a tenth of the CPU of a 304's request, and
    the jar takes nothing from an answer without Set-Cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


@dataclass(frozen=True)
class Request:
    """What one get() asks for: the URL, its conditional headers and its limits."""

    url: str
    headers: dict[str, str]
    hosts: frozenset[str]
    max_bytes: int


def conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def check_status(url: str, answer: httpx.Response) -> None:
    """Raise FetchError for an answer that is not content; 429 and 5xx are transient."""
    status = answer.status_code
    if status < 400:
        return
    raise FetchError(url, f"HTTP {status} {answer.reason_phrase}".rstrip(),
                     transient=status == 429 or status >= 500,
                     retry_after=parse_retry_after(answer.headers.get("retry-after")), status=status, kind="status")


def check_redirect(request: Request, target: str) -> None:
    """Refuse a redirect out of http(s) or to a host the source does not allow, before it is followed."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https"):
        raise FetchError(request.url, f"redirected to {target}, which is not an http(s) URL", transient=False,
                         kind="redirect")
    if request.hosts and parts.hostname not in request.hosts:
        raise FetchError(request.url, f"redirected to {target}, whose host {parts.hostname} is not in the "
                         "source's hosts (add it to hosts if the site moved there)", transient=False, kind="redirect")


async def read_response(request: Request, answer: httpx.Response) -> Response:
    check_status(request.url, answer)
    return Response(
        url=str(answer.url),
        status=answer.status_code,
        body=await read_capped(request.url, answer, request.max_bytes),
        content_type=answer.headers.get("content-type", ""),
        etag=answer.headers.get("etag"),
        last_modified=answer.headers.get("last-modified"),
    )


async def read_capped(url: str, answer: httpx.Response, max_bytes: int) -> bytes:
    """Read the body, refusing more than max_bytes (after decompression) so that memory stays bounded."""
    declared = answer.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(url, too_big(f"body of {int(declared)} bytes", max_bytes), transient=False,
                         kind="too_big")
    codings = content_codings(url, answer)
    chunks, size = [], 0
    async for chunk in unpacked(url, answer, ContentDecoder(codings), max_bytes):
        size += len(chunk)
        if size > max_bytes:
            what = f"body unpacked from {', '.join(codings)}" if codings else "body"
            raise FetchError(url, too_big(what, max_bytes), transient=False, kind="too_big")
        chunks.append(chunk)
    return b"".join(chunks)


async def unpacked(url: str, answer: httpx.Response, decoder: ContentDecoder, max_bytes: int) -> AsyncIterator[bytes]:
    """Yield the body's pieces as decoder unpacks them. Raise FetchError when more than max_bytes are sent,
    unpacked or not: bytes can keep coming after the end of the compressed data, which unpack to nothing."""
    sent = 0
    async for raw in answer.aiter_raw():
        sent += len(raw)
        if sent > max_bytes:
            raise FetchError(url, too_big("body", max_bytes), transient=False, kind="too_big")
        for piece in decoder.decode(raw):
            yield piece
    for piece in decoder.decode(b"", final=True):
        yield piece


def too_big(what: str, max_bytes: int) -> str:
    return f"{what} is over the limit of {max_bytes} bytes, skipped (raise http.max_bytes if it is genuine)"


def parse_retry_after(value: str | None) -> float | None:
    """Return the wait a Retry-After header asks for (seconds or an HTTP date), capped."""
    if not value:
        return None
    if value.strip().isdigit():
        return min(float(value), RETRY_AFTER_CAP)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, min((when - datetime.now(timezone.utc)).total_seconds(), RETRY_AFTER_CAP))


def transport_kind(error: httpx.TransportError) -> str:
    """Return what a transport error was: "tls" when a certificate or handshake failed (httpx wraps the
    ssl module's error), "timeout", "connect" or "other"."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return "tls"
        cause = cause.__cause__ or cause.__context__
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    return "connect" if isinstance(error, httpx.ConnectError) else "other"


def describe_transport_error(error: httpx.TransportError) -> str:
    if isinstance(error, httpx.ConnectError):
        return f"cannot connect ({error or 'refused'})"
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    return f"connection failed ({type(error).__name__}: {error})"
