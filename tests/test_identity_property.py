"""Article identity as a property: any feed of links that end alike, with dots, query strings (tracking ones
too), fragments, host case, default ports and guids or none, gives one candidate per distinct article.

Pure: an RSS feed is built from generated items, read by `discover_feed` and planned by `plan_fetches` on
an empty ledger. "Distinct" is decided by an oracle written here from the documented rule, not from
mirrord's code: the host's case, a default port, `utm_*` parameters and the scheme do not matter; the
fragment matters only when the item has a guid of its own, other than its link without the fragment.
Guids are generated so that two items share one only when their links are one article (the merging of
different links by guid is tested end to end, in test_identity.py).
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirrord.discover import discover_feed
from mirrord.ledger import LedgerView, plan_commit, plan_fetches
from mirrord.model import Response

from values import article, channel, rules

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
FEED_URL = "http://news.example/feed.xml"
VALID_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
DEFAULT_PORTS = {"http": 80, "https": 443}
# Last path segments seen on real sites: many articles of one site end alike.
LAST_SEGMENTS = ("index.htm", "1.htm", "default.asp", "story01.htm", "intro.html", "free-podcast", "rss", "26.html",
                 "Linux-6.1-Thing", "Linux-6.14-FUSE", "Linux-6.14", "v1.2.3", "na%C3%AFve.html", "x" * 120, "")
PARAMETERS = ("id=1", "id=2", "p=2", "utm_source=rss", "utm_medium=feed", "UTM_Campaign=x")


@st.composite
def item(draw, paths: list[str]) -> tuple[str, str | None]:
    """Return an item's (link, guid) on one of a few paths, so that many items are one article written
    differently; the guid is none, one of its own, its link, or its link without the fragment."""
    scheme = draw(st.sampled_from(("http", "https")))
    host = draw(st.sampled_from(("news.example", "News.Example", "NEWS.EXAMPLE", "other.example")))
    port = draw(st.sampled_from(("", "default", ":8080")))
    port = f":{DEFAULT_PORTS[scheme]}" if port == "default" else port
    query = "&".join(draw(st.lists(st.sampled_from(PARAMETERS), max_size=2)))
    fragment = draw(st.sampled_from(("", "comments", "a080601", "a080602")))
    link = (f"{scheme}://{host}{port}{draw(st.sampled_from(paths))}" + (f"?{query}" if query else "")
            + (f"#{fragment}" if fragment else ""))
    guid = draw(st.sampled_from((None, "own", "link", "defragmented")))
    if guid == "own":
        guid = f"tag:news.example,2026:{draw(st.uuids())}"
    elif guid is not None:
        guid = link if guid == "link" else link.split("#", 1)[0]
    return link, guid


@st.composite
def listings(draw) -> tuple[list, list]:
    """Return the items a feed lists first, and the items it adds later, on a few shared paths."""
    folders = st.lists(st.sampled_from(("2019", "2021", "news", "a", "b", "7")), max_size=2)
    path = st.builds(lambda parents, last: "/" + "/".join([*parents, last]), folders, st.sampled_from(LAST_SEGMENTS))
    paths = draw(st.lists(path, min_size=1, max_size=4))
    return (draw(st.lists(item(paths), min_size=1, max_size=10)), draw(st.lists(item(paths), max_size=6)))


def article_of(link: str, guid: str | None) -> tuple:
    """The oracle: what makes an item's article, by the documented rule."""
    parts = urlsplit(link)
    port = "" if parts.port in (None, DEFAULT_PORTS[parts.scheme]) else f":{parts.port}"
    query = tuple(pair for pair in parts.query.split("&") if pair and not pair.lower().startswith("utm_"))
    own_guid = guid is not None and guid != link.split("#", 1)[0]
    return parts.hostname.lower(), port, parts.path or "/", query, parts.fragment if own_guid else ""


def feed(listed: list[tuple[str, str | None]]) -> Response:
    body = "".join(f"<item><title>Story {i}</title><link>{html.escape(link)}</link>"
                   + (f'<guid isPermaLink="false">{html.escape(guid)}</guid>' if guid else "")
                   + f"<description>Story {i}, long enough to be published.</description></item>"
                   for i, (link, guid) in enumerate(listed))
    xml = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'
    return Response(FEED_URL, 200, xml.encode("utf-8"), "application/xml")


def plan(view: LedgerView, listed: list[tuple[str, str | None]]):
    feed_channel = channel(url=FEED_URL, rules={"content": None})
    discovery = discover_feed(feed(listed), rules(content=None))
    return plan_fetches(view, [(feed_channel, discovery)], False, NOW)


def rows_after(view: LedgerView, fetch_plan) -> LedgerView:
    """Return the view once the plan's articles were published."""
    fetched = [article(id=c.entry.id, url=c.entry.url, title=c.entry.title, channel=c.channel.name, key=c.entry.key)
               for c in fetch_plan.candidates]
    commit = plan_commit(view, 0, ["world"], fetch_plan, fetched, NOW)
    return LedgerView(view.mirror, view.rows + tuple(commit.new_rows))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(listings())
def test_each_distinct_article_is_one_candidate_under_a_name_of_its_own_and_is_then_known(listed):
    earlier, later = listed
    first = plan(LedgerView("news"), earlier)
    articles = {article_of(link, guid) for link, guid in earlier}
    assert sorted(article_of(c.entry.url, c.entry.guid) for c in first.candidates) == sorted(articles)
    names = [c.entry.id for c in first.candidates]
    assert len(set(names)) == len(names) and all(VALID_NAME.fullmatch(name) for name in names), names

    published = rows_after(LedgerView("news"), first)
    assert plan(published, earlier).candidates == [], "planning again fetches nothing"

    second = plan(published, later + earlier)
    new_articles = {article_of(link, guid) for link, guid in later} - articles
    assert sorted(article_of(c.entry.url, c.entry.guid) for c in second.candidates) == sorted(new_articles)
    all_names = names + [c.entry.id for c in second.candidates]
    assert len(set(all_names)) == len(all_names) and all(VALID_NAME.fullmatch(name) for name in all_names)
