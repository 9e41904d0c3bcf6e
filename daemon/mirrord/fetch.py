"""The only module that talks HTTP: one long-lived client, bounded concurrency, caps and retries.

httpx retries connection errors only and bounds each read, not the whole request; the total
deadline, the body size cap and the retrying of 429/5xx are therefore done here.
"""

from __future__ import annotations

import asyncio
import email.utils
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

import httpx

from mirrord.errors import FetchError
from mirrord.model import HttpSettings, Response
from mirrord.retry import request_retry_delay

MAX_REDIRECTS = 5
RETRY_AFTER_CAP = 120.0


class Fetcher:
    """Fetches URLs politely: `concurrency` requests in all, `per_host` per host."""

    def __init__(self, settings: HttpSettings, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings
        self.client = httpx.AsyncClient(
            headers={"User-Agent": settings.user_agent},
            timeout=httpx.Timeout(settings.timeout),
            limits=httpx.Limits(max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency),
            follow_redirects=False,
            proxy=settings.proxy,
            transport=transport,
        )
        self.in_flight = asyncio.Semaphore(settings.concurrency)
        self.per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(settings.per_host))

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.client.aclose()

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
        async with self.per_host[urlsplit(url).hostname or ""], self.in_flight:
            try:
                async with asyncio.timeout(self.settings.timeout):
                    return await self.follow(request)
            except TimeoutError:
                raise FetchError(url, f"no complete answer within http.timeout ({self.settings.timeout:g} s)",
                                 transient=True) from None
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
                raise FetchError(url, f"not a URL mirrord can fetch ({error})", transient=False) from None
            except httpx.DecodingError as error:
                raise FetchError(url, f"the body could not be decoded ({error})", transient=False) from None
            except httpx.TransportError as error:
                raise FetchError(url, describe_transport_error(error), transient=True) from None

    async def follow(self, request: Request) -> Response:
        """Return the final answer, following at most MAX_REDIRECTS redirects, each checked before it is made."""
        next_request = self.client.build_request("GET", request.url, headers=request.headers)
        for _ in range(MAX_REDIRECTS + 1):
            answer = await self.client.send(next_request, stream=True)
            try:
                if answer.next_request is None:
                    return await read_response(request, answer)
                next_request = answer.next_request
                check_redirect(request, str(next_request.url))
            finally:
                await answer.aclose()
        raise FetchError(request.url, f"more than {MAX_REDIRECTS} redirects", transient=False)


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
                     retry_after=parse_retry_after(answer.headers.get("retry-after")))


def check_redirect(request: Request, target: str) -> None:
    """Refuse a redirect out of http(s) or to a host the source does not allow, before it is followed."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https"):
        raise FetchError(request.url, f"redirected to {target}, which is not an http(s) URL", transient=False)
    if request.hosts and parts.hostname not in request.hosts:
        raise FetchError(request.url, f"redirected to {target}, whose host {parts.hostname} is not in the "
                         "source's hosts (add it to hosts if the site moved there)", transient=False)


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
        raise FetchError(url, too_big(f"body of {int(declared)} bytes", max_bytes), transient=False)
    chunks, size = [], 0
    async for chunk in answer.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(url, too_big("body", max_bytes), transient=False)
        chunks.append(chunk)
    return b"".join(chunks)


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


def describe_transport_error(error: httpx.TransportError) -> str:
    if isinstance(error, httpx.ConnectError):
        return f"cannot connect ({error or 'refused'})"
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    return f"connection failed ({type(error).__name__}: {error})"
