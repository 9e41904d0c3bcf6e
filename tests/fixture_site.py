"""A fictional two-source news site for end-to-end tests.

It covers the three kinds of channel mirrord handles, plus the awkward cases
real sites produce, so one fixture can drive a whole mirror run.

Sources, channels and URLs (20 feed/listing entries, 19 distinct articles):

* source "daily" ("The Daily Courier"); pages at /daily/2026/11/<slug>.html
  with the text in ``<article><div class="body">`` followed by a
  ``<div class="share">`` of share buttons (DAILY_CONTENT, DAILY_REMOVE)
  - channel "world": /daily/world.xml, RSS 2.0 with the FULL text in
    content:encoded (7 items; pages exist too, but need not be fetched)
  - channel "local": /daily/local.xml, RSS 2.0 with summaries only, so the
    article pages must be fetched (7 items)
* source "weekly" ("The Weekly Review"); pages at /weekly/2026/11/<slug>.html
  with the text in ``<div class="story-text">`` (WEEKLY_CONTENT)
  - channel "features": /weekly/features.html, an HTML listing whose items
    are ``ul.stories li a[href]`` (FEATURES_ITEMS) with relative hrefs such
    as ``2026/11/<slug>.html`` (6 items)

The default id of an article (stem of its URL's last segment) is its slug.
Dates are fixed; every channel lists newest first.

Special cases, by slug:

* SHARED_SLUG       "storm-closes-ports": the same URL in "world" and "local"
* EXCLUDED_SLUG     "sponsored-travel-deals" (world): title contains
                    EXCLUDED_WORD ("Sponsored")
* MISSING_BODY_SLUG "bus-route-changes" (local): page has no div.body
* SHORT_BODY_SLUG   "school-roof-repairs" (local): div.body holds just "-"
* FOREIGN_SLUG      "regional-election-results" (local): link points to
                    FOREIGN_HOST (http://elsewhere.example/...), never served
* UNICODE_SLUG      "cafe-mueller-anniversary" (local): non-ASCII title/text
* LINKS             {article slug: slug it links to}: the world article's
                    link is root-relative (in the feed text), the local one
                    path-relative (in the page)

News.good_slugs(channel) lists what a correct mirror keeps, given
EXCLUDED_WORD is excluded and bodies under MIN_TEXT characters are rejected.
populate(site, special_cases=False) serves only ordinary articles (world 6,
local 3, features 6).

Typical use::

    with Site() as site:
        news = populate(site)
        ...mirror site.url(FEEDS["world"]) ...
        add_article(site, "world", "new-slug", "New title", ["Para one.", "Para two."])
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape

try:  # imported as tests.fixture_site
    from .httpsite import HTML, Response, Site
except ImportError:  # imported with tests/ on sys.path (pytest's default)
    from httpsite import HTML, Response, Site

SOURCES = {"daily": "The Daily Courier", "weekly": "The Weekly Review"}
CHANNEL_SOURCE = {"world": "daily", "local": "daily", "features": "weekly"}
CHANNEL_TITLES = {"world": "World", "local": "Local", "features": "Features"}
FEEDS = {"world": "/daily/world.xml", "local": "/daily/local.xml", "features": "/weekly/features.html"}
FULL_CONTENT_CHANNELS = frozenset({"world"})

DAILY_CONTENT = "div.body"
DAILY_REMOVE = ("div.share",)
WEEKLY_CONTENT = "div.story-text"
FEATURES_ITEMS = "ul.stories li a[href]"

FOREIGN_HOST = "http://elsewhere.example"
EXCLUDED_WORD = "Sponsored"
MIN_TEXT = 20  # good_slugs() treats bodies with less text than this as too short

SHARED_SLUG = "storm-closes-ports"
EXCLUDED_SLUG = "sponsored-travel-deals"
MISSING_BODY_SLUG = "bus-route-changes"
SHORT_BODY_SLUG = "school-roof-repairs"
FOREIGN_SLUG = "regional-election-results"
UNICODE_SLUG = "cafe-mueller-anniversary"
SPECIAL_SLUGS = frozenset({EXCLUDED_SLUG, MISSING_BODY_SLUG, SHORT_BODY_SLUG, FOREIGN_SLUG})
LINKS = {"fisheries-pact-signed": "rail-link-opens", "market-square-lights": "allotment-waiting-list"}

_DAILY_START = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
_WEEKLY_START = datetime(2026, 11, 19, 7, 0, tzinfo=timezone.utc)


@dataclass
class Article:
    """One article; shared by every channel that lists it."""

    slug: str
    title: str
    paragraphs: list[str]  # HTML fragments, one per <p>
    published: datetime
    source: str
    foreign: bool = False  # linked at FOREIGN_HOST; no page is served
    has_body: bool = True  # False: the page lacks its body div

    @property
    def path(self) -> str:
        return f"/{self.source}/{self.published:%Y/%m}/{self.slug}.html"

    @property
    def text(self) -> str:
        """Body text without markup, to judge whether it is too short."""
        return re.sub(r"<[^>]+>", "", " ".join(self.paragraphs)).strip()

    def link(self, base_url: str) -> str:
        return (FOREIGN_HOST if self.foreign else base_url) + self.path

    @property
    def summary(self) -> str:
        """Short teaser for summary feeds; deliberately not the article text."""
        return f"In brief: {self.title}."


@dataclass
class News:
    """State of the fixture site: which articles each channel lists."""

    channels: dict[str, list[Article]] = field(default_factory=dict)

    def article(self, slug: str) -> Article:
        for arts in self.channels.values():
            for art in arts:
                if art.slug == slug:
                    return art
        raise KeyError(slug)

    def articles(self) -> list[Article]:
        """Distinct articles, in channel order."""
        seen: dict[str, Article] = {}
        for arts in self.channels.values():
            for art in arts:
                seen.setdefault(art.slug, art)
        return list(seen.values())

    def slugs(self, channel: str) -> list[str]:
        return [a.slug for a in self.channels[channel]]

    def good_slugs(self, channel: str) -> list[str]:
        """Slugs a correct mirror keeps, newest first (EXCLUDED_WORD excluded)."""
        return [
            a.slug
            for a in self.channels[channel]
            if not a.foreign
            and EXCLUDED_WORD not in a.title
            and (channel in FULL_CONTENT_CHANNELS or (a.has_body and len(a.text) >= MIN_TEXT))
        ]

    def routes(self, base_url: str) -> dict[str, Response]:
        routes = {FEEDS["world"]: _rss(base_url, "world", self.channels["world"], full=True)}
        routes[FEEDS["local"]] = _rss(base_url, "local", self.channels["local"], full=False)
        routes[FEEDS["features"]] = _listing(base_url, self.channels["features"])
        for art in self.articles():
            if not art.foreign:
                routes[art.path] = _page(base_url, art)
        return routes


def default_news(special_cases: bool = True) -> News:
    """The standard layout; without special cases only ordinary articles remain."""
    world = [_daily(2 * i, slug, title) for i, (slug, title) in enumerate(_WORLD)]
    shared = world[1]
    local = [
        shared if slug == SHARED_SLUG else _daily(2 * i + 1, slug, title) for i, (slug, title) in enumerate(_LOCAL)
    ]
    features = [
        _art(_WEEKLY_START - timedelta(days=i), "weekly", slug, title) for i, (slug, title) in enumerate(_FEATURES)
    ]
    _by_slug(local, MISSING_BODY_SLUG).has_body = False
    _by_slug(local, SHORT_BODY_SLUG).paragraphs = ["-"]
    _by_slug(local, FOREIGN_SLUG).foreign = True
    for src, dst in LINKS.items():
        arts = world if any(a.slug == src for a in world) else local
        target = _by_slug(arts, dst)
        href = target.path if arts is world else f"{dst}.html"
        _by_slug(arts, src).paragraphs.insert(
            1, f'<p>The decision follows <a href="{href}">{escape(target.title)}</a>, reported earlier.</p>'
        )
    news = News({"world": world, "local": local, "features": features})
    if not special_cases:
        for name, arts in news.channels.items():
            arts[:] = [
                a for a in arts if a.slug not in SPECIAL_SLUGS and not (name == "local" and a.slug == SHARED_SLUG)
            ]
    return news


def build_news_site(base_url: str, *, special_cases: bool = True) -> dict[str, Response]:
    """Routes of the default site, with absolute links to `base_url`."""
    return default_news(special_cases).routes(base_url)


_STATE: weakref.WeakKeyDictionary[Site, News] = weakref.WeakKeyDictionary()


def populate(site: Site, *, special_cases: bool = True) -> News:
    """Serve the default site on `site`; returns its state for assertions."""
    news = default_news(special_cases)
    _STATE[site] = news
    site.routes.update(news.routes(site.base_url))
    return news


def news_of(site: Site) -> News:
    """The state `populate` installed on `site`."""
    return _STATE[site]


def add_article(
    site: Site,
    channel: str,
    slug: str,
    title: str,
    paragraphs: Iterable[str] | None = None,
    *,
    published: datetime | None = None,
) -> Article:
    """Publish a new article at the top of `channel` (feed/listing and page).

    `paragraphs` are HTML fragments; by default three generated ones. The date
    defaults to one hour after the newest article on the site.
    """
    news = _STATE[site]
    when = published or max(a.published for a in news.articles()) + timedelta(hours=1)
    art = _art(when, CHANNEL_SOURCE[channel], slug, title)
    if paragraphs is not None:
        art.paragraphs = _html(paragraphs)
    news.channels[channel].insert(0, art)
    site.routes.update(news.routes(site.base_url))
    return art


def set_body(site: Site, slug: str, paragraphs: Sequence[str] | None) -> Article:
    """Change an article's text everywhere; None removes the page's body div."""
    news = _STATE[site]
    art = news.article(slug)
    if paragraphs is None:
        art.has_body = False
    else:
        art.has_body = True
        art.paragraphs = _html(paragraphs)
    site.routes.update(news.routes(site.base_url))
    return art


def channel_url(site: Site, channel: str) -> str:
    return site.url(FEEDS[channel])


def article_url(site: Site, slug: str) -> str:
    return _STATE[site].article(slug).link(site.base_url)


def sources_toml(site: Site) -> str:
    """[source.*] tables for this site in mirrord's config schema."""
    return f"""
[source.daily]
title = "{SOURCES["daily"]}"
content = "{DAILY_CONTENT}"
remove = [{", ".join(f'"{r}"' for r in DAILY_REMOVE)}]

[source.daily.channel.world]
title = "{CHANNEL_TITLES["world"]}"
url = "{channel_url(site, "world")}"

[source.daily.channel.local]
title = "{CHANNEL_TITLES["local"]}"
url = "{channel_url(site, "local")}"

[source.weekly]
title = "{SOURCES["weekly"]}"
content = "{WEEKLY_CONTENT}"

[source.weekly.channel.features]
title = "{CHANNEL_TITLES["features"]}"
url = "{channel_url(site, "features")}"
items = "{FEATURES_ITEMS}"
"""


# --- content -----------------------------------------------------------------

_WORLD = [
    ("fisheries-pact-signed", "Coastal states sign fisheries pact"),
    (SHARED_SLUG, "Storm closes ports along the northern coast"),
    ("rail-link-opens", "Cross-border rail link opens after a decade of work"),
    (EXCLUDED_SLUG, f"{EXCLUDED_WORD}: ten winter travel deals"),
    ("rates-and-ratings", "Central banks hold rates & ratings agencies react"),
    ("glacier-survey", "Glacier survey finds faster retreat"),
    ("telescope-images", "New telescope images released to the public"),
]
_LOCAL = [
    ("market-square-lights", "Market square lights switched on"),
    (SHARED_SLUG, ""),  # the "world" article itself is reused
    (MISSING_BODY_SLUG, "Bus route changes from Monday"),
    (UNICODE_SLUG, "Café Müller celebrates fifty years — „Danke“ from the owners"),
    (SHORT_BODY_SLUG, "School roof repairs finished early"),
    (FOREIGN_SLUG, "Regional election results"),
    ("allotment-waiting-list", "Allotment waiting list reopens"),
]
_FEATURES = [
    ("night-trains-return", "The return of the night train"),
    ("lighthouse-keepers", "The last lighthouse keepers"),
    ("rooftop-beekeeping", "Beekeeping on city rooftops"),
    ("repair-cafes", "Inside the repair café movement"),
    ("mapping-old-footpaths", "Mapping forgotten footpaths"),
    ("winter-swimmers", "The winter swimmers of the harbour"),
]


def _daily(step: int, slug: str, title: str) -> Article:
    return _art(_DAILY_START - timedelta(hours=3 * step), "daily", slug, title)


def _art(when: datetime, source: str, slug: str, title: str) -> Article:
    paras = [
        f"{escape(title)}. The first details emerged on {when:%A %-d %B}, and our reporters followed the story through the day.",
        "Reaction was mixed: some called the news long overdue, while others said more information was needed "
        "before anyone could judge what it means for readers in the region.",
        f"This report, filed by {SOURCES[source]} as “{slug}”, will be updated as the story develops.",
    ]
    if slug == UNICODE_SLUG:
        paras.append("Die Gäste feierten bis spät in die Nacht; ein Stück Käsekuchen kostete wie 1976 nur 1,50 €.")
    return Article(slug, title, [f"<p>{p}</p>" for p in paras], when, source)


def _html(paragraphs: Iterable[str]) -> list[str]:
    """Wrap plain-text paragraphs in <p>; fragments starting with a tag pass as-is."""
    return [p if p.lstrip().startswith("<") else f"<p>{p}</p>" for p in paragraphs]


def _by_slug(arts: list[Article], slug: str) -> Article:
    return next(a for a in arts if a.slug == slug)


def _rss(base_url: str, channel: str, arts: Sequence[Article], *, full: bool) -> Response:
    items = []
    for a in arts:
        link = escape(a.link(base_url))
        content = "\n".join(a.paragraphs)
        encoded = f"\n      <content:encoded><![CDATA[{content}]]></content:encoded>" if full else ""
        items.append(
            f"""    <item>
      <title>{escape(a.title)}</title>
      <link>{link}</link>
      <guid isPermaLink="true">{link}</guid>
      <pubDate>{format_datetime(a.published)}</pubDate>
      <description>{escape(a.summary)}</description>{encoded}
    </item>"""
        )
    newest = max((a.published for a in arts), default=_DAILY_START)
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
  <channel>
    <title>{SOURCES["daily"]} — {CHANNEL_TITLES[channel]}</title>
    <link>{base_url}/daily/</link>
    <description>{CHANNEL_TITLES[channel]} news from {SOURCES["daily"]}.</description>
    <lastBuildDate>{format_datetime(newest)}</lastBuildDate>
{chr(10).join(items)}
  </channel>
</rss>
"""
    return Response(xml.encode("utf-8"), "application/rss+xml; charset=utf-8")


def _document(title: str, source: str, main: str, head: str = "") -> Response:
    """A full page with the navigation and footer noise real sites have."""
    name = SOURCES[source]
    html = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{escape(title)} — {name}</title>{head}</head>
<body>
<header><a class="logo" href="/{source}/">{name}</a>
<nav><a href="/daily/world.xml">World</a> <a href="/daily/local.xml">Local</a> <a href="/weekly/features.html">Features</a></nav>
</header>
<main>
{main}
</main>
<aside class="popular"><h2>Most read</h2><ul><li><a href="/daily/2026/11/glacier-survey.html">Glacier survey</a></li></ul></aside>
<footer><p>© 2026 {name}. <a href="/about.html">About</a></p><script>var tracker = 1;</script></footer>
</body>
</html>
"""
    return Response(html.encode("utf-8"), HTML)


def _page(base_url: str, a: Article) -> Response:
    text = "\n".join(a.paragraphs)
    meta = f'<p class="byline">By staff · <time datetime="{a.published.isoformat()}">{a.published:%-d %B %Y}</time></p>'
    head = f'<meta property="article:published_time" content="{a.published.isoformat()}">'
    if a.source == "daily":
        body = f'<div class="body">\n{text}\n</div>\n' if a.has_body else '<p class="notice">Loading…</p>\n'
        main = (
            f"<article>\n<h1>{escape(a.title)}</h1>\n{meta}\n{body}"
            '<div class="share">Share: <a href="https://social.example/share">Post</a> <button>Copy link</button></div>\n'
            "</article>"
        )
    else:
        body = f'<div class="story-text">\n{text}\n</div>\n' if a.has_body else ""
        main = f'<h1>{escape(a.title)}</h1>\n{meta}\n{body}<div class="newsletter">Sign up for the weekly letter</div>'
    return _document(a.title, a.source, main, head)


def _listing(base_url: str, arts: Sequence[Article]) -> Response:
    rows = "\n".join(
        f'  <li><a href="{escape(a.link(base_url) if a.foreign else f"{a.published:%Y/%m}/{a.slug}.html")}">'
        f'{escape(a.title)}</a> <span class="date">{a.published:%-d %B %Y}</span></li>'
        for a in arts
    )
    main = f'<h1>Features</h1>\n<ul class="stories">\n{rows}\n</ul>\n<p class="more"><a href="features.html?page=2">Older</a></p>'
    return _document("Features", "weekly", main)
