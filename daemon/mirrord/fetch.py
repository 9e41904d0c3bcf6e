"""The only module that talks HTTP: one long-lived client, bounded concurrency, caps and retries.

httpx retries connection errors only and bounds each read, not the whole request; the total
deadline, the body size cap and the retrying of 429/5xx are therefore done here.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
from collections import defaultdict
from datetime import datetime, timezone
from urllib.parse import urlsplit

import httpx

from mirrord.errors import FetchError
from mirrord.model import HttpSettings, Response

MAX_REDIRECTS = 5
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 120.0


class Fetcher:
    """Fetches URLs politely: `concurrency` requests in all, `per_host` per host."""

    def __init__(self, settings: HttpSettings, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings
        self.client = httpx.AsyncClient(
            headers={"User-Agent": settings.user_agent},
            timeout=httpx.Timeout(settings.timeout),
            limits=httpx.Limits(max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency),
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            proxy=settings.proxy,
            transport=transport,
        )
        self.in_flight = asyncio.Semaphore(settings.concurrency)
        self.per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(settings.per_host))

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.client.aclose()

    async def get(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Response:
        """Return the response for url, retrying transient failures. Raise FetchError when it fails."""
        headers = conditional_headers(etag, last_modified)
        for attempt in range(self.settings.retries + 1):
            try:
                return await self.get_once(url, headers)
            except FetchError as error:
                if not error.transient or attempt == self.settings.retries:
                    raise
                await asyncio.sleep(error.retry_after or backoff_delay(attempt))
        raise AssertionError("unreachable")

    async def get_once(self, url: str, headers: dict[str, str]) -> Response:
        host = urlsplit(url).hostname or ""
        async with self.in_flight, self.per_host[host]:
            try:
                async with asyncio.timeout(self.settings.timeout):
                    return await self.stream(url, headers)
            except TimeoutError:
                reason = f"no complete answer within {self.settings.timeout:g} s"
                raise FetchError(url, reason, transient=True) from None
            except httpx.TooManyRedirects:
                raise FetchError(url, f"more than {MAX_REDIRECTS} redirects", transient=False) from None
            except httpx.TransportError as error:
                raise FetchError(url, describe_transport_error(error), transient=True) from None

    async def stream(self, url: str, headers: dict[str, str]) -> Response:
        async with self.client.stream("GET", url, headers=headers) as answer:
            check_status(url, answer)
            body = await read_capped(url, answer, self.settings.max_bytes)
            return Response(
                url=str(answer.url),
                status=answer.status_code,
                body=body,
                content_type=answer.headers.get("content-type", ""),
                etag=answer.headers.get("etag"),
                last_modified=answer.headers.get("last-modified"),
            )


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


async def read_capped(url: str, answer: httpx.Response, max_bytes: int) -> bytes:
    """Read the body, refusing more than max_bytes so that memory stays bounded."""
    declared = answer.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(url, f"body of {int(declared)} bytes is over http.max_bytes ({max_bytes})", transient=False)
    chunks, size = [], 0
    async for chunk in answer.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(url, f"body is over http.max_bytes ({max_bytes} bytes)", transient=False)
        chunks.append(chunk)
    return b"".join(chunks)


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


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with full jitter, so that retries of many requests spread out."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))


def describe_transport_error(error: httpx.TransportError) -> str:
    if isinstance(error, httpx.ConnectError):
        return f"cannot connect ({error or 'refused'})"
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    return f"connection failed ({type(error).__name__}: {error})"
