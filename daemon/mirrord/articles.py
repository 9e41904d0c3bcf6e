"""Fetch each new article's page and pictures and extract it: the network edge of the extract stage.

An article that cannot be published comes back as a value saying why (held back, or its fetch failed),
never as an exception that would stop the others.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from mirrord.encoding import decode_html
from mirrord.errors import FetchError, HeldBack
from mirrord.fetch import Fetcher
from mirrord.log import get_logger
from mirrord.model import Article, Candidate, Channel, Failure, Mirror, PageFile
from mirrord.outcome import request_failure
from mirrord.render import page_path
from mirrord.urls import absolute

log = get_logger()
HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
# Pictures above this size stay on the site: the mirror is a git repository that only grows.
IMAGE_MAX_BYTES = 5_000_000


@dataclass(frozen=True)
class Fetched:
    """What became of a candidate: its article, or why there is none (held back, or a failed fetch)."""

    candidate: Candidate
    article: Article | None = None
    held_back: str | None = None
    failure: Failure | None = None


async def fetch_article(candidate: Candidate, mirror: Mirror, fetcher: Fetcher, pages: Mapping[str, str]) -> Fetched:
    """Fetch and extract one candidate; `pages` maps the urls of the mirror's pages to their paths."""
    entry, channel = candidate.entry, candidate.channel
    context = {"mirror": mirror.name, "source": channel.source, "channel": channel.name, "article": entry.id,
               "url": entry.url}
    try:
        page = await fetch_page(entry.url, channel, fetcher) if channel.rules.content else None
        return Fetched(candidate, await extract_fetched(candidate, page, mirror, fetcher, pages, context))
    except HeldBack as reason:
        log.warning("article.skipped", **context, error=str(reason))
        return Fetched(candidate, held_back=str(reason))
    except FetchError as error:
        failure = request_failure("article", mirror.name, channel, entry.url, error)
        log.warning("fetch.failed", **context, error=failure.message, hint=failure.hint)
        return Fetched(candidate, failure=failure)


async def extract_fetched(candidate: Candidate, page: str | None, mirror: Mirror, fetcher: Fetcher,
                          pages: Mapping[str, str], context: dict[str, str]) -> Article:
    """Return the article of a fetched page (None: of the feed entry's own content), its links to the mirror's
    pages rewritten and its pictures downloaded as the mirror says: the steps `preview` shares with a cycle.
    Raise HeldBack when it would not be published."""
    from mirrord.workers import extract_within_budget  # its worker processes' machinery: not for a quiet cycle

    entry, channel = candidate.entry, candidate.channel
    links = await asyncio.to_thread(links_in, page if page is not None else entry.content_html or "", entry.url,
                                    pages, page_path(channel.name, entry.id)) if mirror.links == "rewrite" else {}
    article = await extract_within_budget(entry, channel, mirror, page, datetime.now(timezone.utc), links)
    log.debug("article.extracted", **context)
    if mirror.images == "download":
        article = await download_images(article, mirror, fetcher.for_pictures(channel.rules.image_hosts), context)
    return article


def links_in(html_text: str, base: str, pages: Mapping[str, str], from_path: str) -> dict[str, str]:
    """Return url -> link from the page at from_path to each other page of the mirror (`pages`: url -> path)
    that the page's anchors point to (`links = "rewrite"`): all that extraction needs, small enough to hand
    to a worker process with each article. Only the page's own links are looked up: copying a map of every
    page for each page made a cycle quadratic in the pages listed. A millisecond or more of a page's hrefs
    made absolute: run in a thread, off the event loop, and only for the policy that reads it."""
    found = {}
    for quoted, single, bare in HREF.findall(html_text):
        url = absolute(base, html.unescape(quoted or single or bare).strip())
        path = pages.get(url)
        if path is not None and path != from_path:
            found[url] = "../" + path.removeprefix("pages/")
    return found


def start_workers() -> None:
    """Start an extraction worker ahead of the first page (see `workers.Workers.prestart`): for a cycle with
    articles to fetch."""
    from mirrord.workers import WORKERS

    WORKERS.prestart()


async def fetch_page(url: str, channel: Channel, fetcher: Fetcher) -> str:
    """Return the decoded text of an article's page; redirects may not leave the source's hosts."""
    response = await fetcher.get(url, hosts=channel.rules.hosts)
    return decode_html(response.body, response.content_type)


async def download_images(article: Article, mirror: Mirror, fetcher: Fetcher, context: dict[str, str]) -> Article:
    """Return the article with its pictures stored beside its page, for readers who cannot reach the site.
    A picture that cannot be stored keeps pointing at the site (logged): the page is worth more than it.
    fetcher must be a `Fetcher.for_pictures` one, which refuses addresses that are not public. The HTML and
    the page change in a worker (`budget`); the pictures' bytes stay here."""
    from mirrord.extract import image_urls
    from mirrord.workers import localize_within_budget

    urls = image_urls(article)
    files = await asyncio.gather(*(download_image(article, url, fetcher, context) for url in urls))
    stored = {url: file for url, file in zip(urls, files, strict=True) if file}
    if not stored:
        return article
    article = await localize_within_budget(article, {url: file.path for url, file in stored.items()}, mirror)
    return replace(article, images=tuple({file.path: file for file in stored.values()}.values()))


async def download_image(article: Article, url: str, fetcher: Fetcher, context: dict[str, str]) -> PageFile | None:
    from mirrord.extract import image_file

    try:
        return image_file(article, await fetcher.get(url, max_bytes=IMAGE_MAX_BYTES))
    except FetchError as error:
        log.warning("image.failed", **{**context, "url": url}, error=str(error))
        return None
