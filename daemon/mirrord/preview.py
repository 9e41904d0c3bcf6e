"""`mirrord preview`: one article through a cycle's own steps, shown instead of published.

The article is found in its channel's listing or feed as a cycle finds it (its title is the listing's
link text or the feed's title, its name follows the `id` rule), then fetched, extracted, given its
links and pictures and rendered by the very functions a cycle uses, so that what preview prints is
what a cycle would publish. Nothing is written: no state, no git (the state is read, when there is
one, for the pages `links = "rewrite"` points to). Beside the page comes a short report for the person
writing the rules: what each selector matched, how much text, pictures and links there are, and why the
article would be held back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser

from mirrord.articles import extract_fetched, fetch_page
from mirrord.channels import items_read
from mirrord.discover import article_id, entry_title, one_line, read_channel
from mirrord.errors import DiscoverError, FetchError, HeldBack, MirrordError
from mirrord.extract import image_urls, outermost, remove_matches
from mirrord.fetch import Fetcher
from mirrord.identity import identity
from mirrord.markup import bound_depth
from mirrord.model import Article, Candidate, Channel, Config, Entry, Mirror, Rules
from mirrord.render import render_page
from mirrord.state import State


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
        entry = await listed_entry(mirror, channel, url, fetcher, result.report)
        page = await fetch_page(url, channel, fetcher) if channel.rules.content else None
        if page is None:
            result.report.append(f"no content rule: the text is the feed entry's own ({channel.url})")
        else:
            result.report += selector_report(bound_depth(page), channel.rules)
        if entry is None:
            entry = Entry(id=article_id(url, None, channel.rules.id), url=url,
                          title=entry_title(page_title(page or ""), url), key=identity(url))
        context = {"mirror": mirror.name, "source": channel.source, "channel": channel.name, "article": entry.id,
                   "url": url}
        try:
            article = await extract_fetched(Candidate(entry, channel), page, mirror, fetcher,
                                            mirror_pages(config, mirror), context)
        except HeldBack as reason:
            result.report.append(f"HELD BACK, would not be published: {reason}")
            return result
    result.report += article_report(article, channel.rules, mirror, page_blocks_links(page, entry, channel.rules))
    result.page = render_page(article, mirror)[0].data.decode("utf-8")
    return result


async def listed_entry(mirror: Mirror, channel: Channel, url: str, fetcher: Fetcher, report: list[str]) -> Entry | None:
    """Return the entry the channel lists for url, as a cycle takes it (its title is the listing's link text
    or the feed's title, its name follows the `id` rule). None, said in the report, when the channel does not
    list it now or cannot be read but a content rule lets the page stand in. Raise FetchError, DiscoverError
    or MirrordError when a feed channel without content rule cannot give it."""
    try:
        discovery = read_channel(channel, await fetcher.get(channel.url), items_read(mirror.keep))
    except (FetchError, DiscoverError) as error:
        if not channel.rules.content:
            raise
        report.append(f"channel {channel.url} could not be read ({error}): the title shown is the page's own, a "
                      "cycle would take the listing's")
        return None
    wanted = identity(url)
    for entry in discovery.entries:
        if entry.key == wanted:
            return entry
    if not channel.rules.content:
        raise MirrordError(f"{url} is not an entry of the feed {channel.url} ({len(discovery.entries)} entries): "
                           "give the URL of an article the feed lists now, or set a content selector")
    report.append(f"not listed by {channel.url} now: the title shown is the page's own, a cycle would take the "
                  "listing's")
    return None


def mirror_pages(config: Config, mirror: Mirror) -> dict[str, str]:
    """Return url -> path of the mirror's live pages as the state holds them (read only; none without a
    state), so that `links = "rewrite"` points links to them as a cycle would."""
    path = config.state_dir / "state.sqlite3"
    if not path.is_file():
        return {}
    state = State(path, readonly=True)
    try:
        return {row.url: row.path for row in state.ledger_rows(mirror.name, (), ())}
    finally:
        state.close()


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
        + (" (rewrite: to the pages the mirror has now)" if mirror.links == "rewrite" else ""),
        f"would be published as pages/{article.channel}/{article.id}.md",
    ]

