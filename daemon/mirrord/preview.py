"""`mirrord preview`: one article through a cycle's own steps, shown instead of published.

The page is fetched by the Fetcher, extracted, given its pictures and rendered by the very functions
a cycle uses, so that what preview prints is what a cycle would publish. Nothing is written: no
state, no git. Beside the page comes a short report for the person writing the rules: what each
selector matched, how much text, pictures and links there are, and why the article would be held back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timezone

from selectolax.lexbor import LexborHTMLParser

from mirrord.articles import download_images, fetch_page
from mirrord.budget import extract_within_budget
from mirrord.discover import article_id, discover_feed, entry_title, one_line
from mirrord.errors import HeldBack, MirrordError
from mirrord.extract import image_urls, outermost, remove_matches
from mirrord.fetch import Fetcher
from mirrord.markup import bound_depth
from mirrord.model import Article, Channel, Config, Entry, Mirror, Rules
from mirrord.render import render_page


@dataclass
class Preview:
    """What preview found: the page text a cycle would publish (None when held back) and the report lines."""

    page: str | None = None
    report: list[str] = field(default_factory=list)


def preview_article(config: Config, channel: Channel, url: str) -> Preview:
    """Return the page a cycle would publish for the article at url under channel's rules, and a report.
    Raise FetchError or DiscoverError when the article or its feed cannot be read."""
    return asyncio.run(preview_async(config.mirrors[config.sources[channel.source].mirror], config, channel, url))


async def preview_async(mirror: Mirror, config: Config, channel: Channel, url: str) -> Preview:
    result = Preview()
    async with Fetcher(config.http) as fetcher:
        if channel.rules.content:
            page = bound_depth(await fetch_page(url, channel, fetcher))
            entry = Entry(id=article_id(url, None, channel.rules.id), url=url, title=entry_title(page_title(page), url))
            result.report += selector_report(page, channel.rules)
        else:
            page, entry = None, await feed_entry(channel, url, fetcher)
            result.report.append(f"no content rule: the text is the feed entry's own ({channel.url})")
        try:
            article = await extract_within_budget(entry, channel, mirror, page, datetime.now(timezone.utc), {})
        except HeldBack as reason:
            result.report.append(f"HELD BACK, would not be published: {reason}")
            return result
        if mirror.images == "download":
            article = await download_images(article, fetcher.for_pictures(channel.rules.image_hosts),
                                            {"source": channel.source, "channel": channel.name})
    result.report += article_report(article, channel.rules, mirror, page_blocks_links(page, entry, channel.rules))
    result.page = render_page(article, mirror)[0].data.decode("utf-8")
    return result


async def feed_entry(channel: Channel, url: str, fetcher: Fetcher) -> Entry:
    """Return the entry of channel's feed whose link is url. Raise MirrordError when the feed does not list it."""
    if not channel.is_feed:
        raise MirrordError(f"channel {channel.name} is a listing page but its rules have no content selector")
    discovery = discover_feed(await fetcher.get(channel.url), channel.rules)
    for entry in discovery.entries:
        if entry.url == url:
            return entry
    raise MirrordError(f"{url} is not an entry of the feed {channel.url} ({len(discovery.entries)} entries): "
                       "give the URL of an article the feed lists now, or set a content selector")


def page_title(page: str) -> str:
    """Return the page's own title (og:title, else <title>), as a cycle would take it from the listing."""
    tree = LexborHTMLParser(page)
    meta = tree.css_first('meta[property="og:title"]')
    title = (meta.attributes.get("content") if meta else None) or (tree.css_first("title").text()
                                                                  if tree.css_first("title") else "")
    return one_line(title or "")


def selector_report(page: str, rules: Rules) -> list[str]:
    """Return one line per rule saying how many nodes it matches on the page, in the extractor's order:
    `remove` on the whole page first, then `lead` and `content` on what is left."""
    tree = LexborHTMLParser(page)
    lines = [f"remove {selector!r}: {len(tree.css(selector))} node(s)" for selector in rules.remove]
    remove_matches(tree, rules.remove)
    if rules.content == "auto":
        return [*lines, 'content "auto": main text and lead picture found by trafilatura']
    if rules.lead:
        lines.append(f"lead {rules.lead!r}: {len(outermost(tree.css(rules.lead)))} node(s)")
    return [*lines, f"content {rules.content!r}: {len(outermost(tree.css(rules.content or 'body')))} node(s)"]


def page_blocks_links(page: str | None, entry: Entry, rules: Rules) -> int | None:
    """Return how many links the article's source HTML has, before the mirror's link policy; None with
    content = "auto", whose choice of HTML is trafilatura's."""
    if page is None:
        return len(LexborHTMLParser(f"<body>{bound_depth(entry.content_html or '')}</body>").css("a[href]"))
    tree = LexborHTMLParser(page)
    remove_matches(tree, rules.remove)
    if rules.content == "auto":
        return None
    selectors = [s for s in (rules.lead, rules.content) if s]
    return sum(len(node.css("a[href]")) for s in selectors for node in outermost(tree.css(s)))


def article_report(article: Article, rules: Rules, mirror: Mirror, links_before: int | None) -> list[str]:
    """Return the lines about the extracted article: text, pictures and links after the mirror's policies."""
    links_after = sum(len(LexborHTMLParser(f"<body>{fragment}</body>").css("a[href]"))
                      for fragment in (article.lead_html, article.body_html) if fragment)
    found = "" if links_before is None else f"{links_before} in the selected HTML, "
    return [
        f"text: {article.text_length} characters (min_text {rules.min_text})",
        f"images ({mirror.images}): {len(image_urls(article))} pointing at the site, {len(article.images)} stored "
        "in the mirror",
        f"links ({mirror.links}): {found}{links_after} kept as links in the page"
        + (" (rewrite: preview does not read the ledger, so links to mirrored pages show as neutralized)"
           if mirror.links == "rewrite" else ""),
        f"would be published as pages/{article.channel}/{article.id}.md",
    ]

