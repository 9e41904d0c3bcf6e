"""mirrord against real published material: the shared corpus served over local HTTP.

Every file goes through the production path: the session's Site serves it as stored (gzip stays
gzip), mirrord's Fetcher fetches it, and discover / extract read the bytes they are given. The
tables below name each corpus file a test relies on; `test_every_feed_is_in_a_table` fails when
the corpus gains a feed no table covers.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selectolax.lexbor import LexborHTMLParser

from mirrord.config import load_config
from mirrord.discover import discover_feed
from mirrord.encoding import decode_html
from mirrord.errors import DiscoverError
from mirrord.extract import extract_article
from mirrord.model import Article, Discovery, Response

import values
from corpus_rules import PAGES, RULES, recipes
from httpsite import Site
from scoring import (
    Counts,
    extract_text,
    f1,
    load_groundtruth,
    mean_precision_recall,
    read_page,
    score_page,
    shingle_counts,
)

# Real feeds, each with one title known from the file, spelled as a reader should see it.
FEED_TITLES = {
    "feeds/aktuality.sk.rss": "Koronavírus: Cielené testovanie zachytilo v Banskej Bystrici desiatky pozitívnych",
    "feeds/bbc.com-urdu.rss.xml": "امریکہ کے ساتھ خفیہ معلومات کا تبادلہ اور فوجی تعاون معطل کر دیا: وزیر دفاع",
    "feeds/biorxiv.org-plant-biology.rdf":
        "Natural variation in the Arabidopsis AGO2 gene is associated with susceptibility to potato virus X",
    "feeds/daringfireball.net.atom": "Virgin Mobile Partners With Apple to Go iPhone-Only With $1 Service",
    "feeds/daringfireball.net.rss": "Apple Product Event: Monday March 21",
    "feeds/donthitsave.com-bom.rss.xml": "Skipping Around",
    "feeds/fcutrecht.net-phpxml-pi.rss": "Serdar Gözübüyük scheidsrechter bij FC Twente - FC Utrecht",
    "feeds/golem.de-iso-8859-1.rss.xml": "Wochenrückblick: Wilder Westen, buntes Handy, nutzloses Siegel",
    "feeds/heise.de-newsticker.rdf": "OLED-TVs: Vorsichtsmaßnahmen gegen Einbrennen",
    "feeds/ibash.org.ru-windows-1251.rss.xml": "Цитата #17703",
    "feeds/illformed/le-cercle-psy.fr-latin1-undeclared.rss.xml": "La criminalité liée surtout à... l'ennui ?",
    "feeds/kc0011.net-gb2312.rss": "建国35周年纪念，华表，和平鸽",
    "feeds/livemint.com-news.rss.xml": "US takes India off watchlist for currency practices",
    "feeds/macworld.com.rss": "iOS 11.2: Beta 5 is now available",
    "feeds/ntdtv.com-news202.rss.xml": "华人毒枭与陆大使密切往来 杜特尔特：他在他家过夜",
    "feeds/ntdtv.com-news203.rss.xml": "美副总统演讲痛批中共完整视频（中文同声传译）",
    "feeds/ntdtv.com-news206.rss.xml": "重返台湾市场 希尔顿酒店进驻新板特区",
    "feeds/secretchina.com-p1.rss.xml": "上海男子：一间急诊室挤150病患 父亲苦求2天半去世(组图)",
    "feeds/secretchina.com-p2.rss.xml": "孙春兰、李强齐甩锅？路透曝上海20日前达“社会面清零”(图)",
}
# Synthetic fixtures from feedparser's test suite: broken on purpose, they test robustness only.
ILLFORMED_FIXTURES = (
    "feeds/illformed/feedparser-aaa_illformed.xml",
    "feeds/illformed/feedparser-always_strip_doctype.xml",
    "feeds/illformed/feedparser-chardet-big5.xml",
    "feeds/illformed/feedparser-chardet-gb2312.xml",
    "feeds/illformed/feedparser-http_high_bit_date.xml",
    "feeds/illformed/feedparser-rss_incomplete_cdata.xml",
    "feeds/illformed/feedparser-rss_item_link_corrupted_ampersands.xml",
    "feeds/illformed/feedparser-undeclared_namespace.xml",
)
FEEDS_WITH_REPEATED_GUIDS = ("feeds/secretchina.com-p1.rss.xml", "feeds/secretchina.com-p2.rss.xml")
GB2312_FEED = "feeds/kc0011.net-gb2312.rss"
LISTINGS = ("listings/daringfireball.net-home.html", "listings/sixcolors.com-home.html")
# Recipes of config.example.toml whose site has feeds in the corpus (heise's also lists its sister sites,
# whose articles the recipe's hosts leave out).
RECIPE_FEEDS = {
    "feeds/ntdtv.com-news202.rss.xml": "ntdtv",
    "feeds/ntdtv.com-news206.rss.xml": "ntdtv",
    "feeds/heise.de-newsticker.rdf": "heise",
}
# Sources of the example that no corpus article page tests: ntdtv (its feeds are tested above; the kind
# of site of the seed page) and a feed carrying full text, which needs no rules.
UNTESTED_RECIPES = {"ntdtv", "pyblog"}
EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"

# Written out here rather than imported, so that the test states the contract ids must meet.
FILE_NAME_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
UNSAFE_MARKUP = re.compile(r"<script|<style|<iframe|javascript:", re.IGNORECASE)
BODY = {"content": "body"}  # a scoring rule taking a whole fragment's text
PAGE_MIN_F1 = 0.9
AUTO_MIN_F1 = 0.96  # content = "auto" (trafilatura and our clean-up): 0.968 when written, 0.959 trafilatura alone
CORPUS_MIN_F1 = 0.98
MIN_CHARS_WITHOUT_TRUTH = 200


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def read_feed(corpus_site: Site, fetch: Callable[[str], Response]) -> Callable[[str], Discovery]:
    """`read_feed(rel)`: fetch a corpus feed from the site and discover its entries (no cache).

    The rules have no host filter: feeds link to many hosts, none of them this site.
    """
    rules = values.rules(hosts=frozenset())
    return lambda rel: discover_feed(fetch(corpus_site.url(rel)), rules)


def item_titles(feed_text: str) -> list[str]:
    """Titles of the <item>s of an RSS text, unescaped and on one line, in file order."""
    titles = re.findall(r"<item\b.*?<title>(.*?)</title>", feed_text, re.DOTALL)
    return [" ".join(html.unescape(title).split()) for title in titles]


def article_text(article: Article) -> str:
    """Text of an article's lead and body, block by block, as the scorer reads a page."""
    return extract_text(article.lead_html + article.body_html, BODY)


def unsafe_parts(fragment: str) -> list[str]:
    """What a sanitized fragment must not hold: scripting tags, javascript: URLs, on* handlers."""
    found = UNSAFE_MARKUP.findall(fragment)
    for node in LexborHTMLParser(f"<body>{fragment}</body>").body.traverse():
        found += [f"{node.tag} {name}=" for name in node.attributes if name.lower().startswith("on")]
    return found


@dataclass(frozen=True)
class ExtractedPage:
    article: Article
    text: str
    truth: str | None


@pytest.fixture(scope="session")
def extract_page(corpus_site: Site, corpus_dir: Path,
                 fetch: Callable[[str], Response]) -> Callable[[str], ExtractedPage]:
    """`extract_page(rel, auto=False)`: fetch a RULES page and run mirrord's extractor on it, with the
    page's rules or with content = "auto" (cached per page).

    The mirror has the config's defaults: links keep, images hotlink, body html.
    """

    @functools.cache
    def extract(rel: str, auto: bool = False) -> ExtractedPage:
        rule = {"content": "auto"} if auto else RULES[rel]
        response = fetch(corpus_site.url(rel))
        channel = values.channel(rules={"content": rule["content"], "lead": rule.get("lead"),
                                        "remove": tuple(rule.get("remove", ())), "hosts": frozenset()})
        article = extract_article(values.entry(url=RULES[rel]["url"]), channel, values.mirror(),
                                  decode_html(response.body, response.content_type), values.FETCHED, {})
        return ExtractedPage(article, article_text(article), load_groundtruth(corpus_dir, rel))

    return extract


# --------------------------------------------------------------------------
# Feeds
# --------------------------------------------------------------------------


def test_every_feed_is_in_a_table(corpus_dir: Path) -> None:
    on_disk = {p.relative_to(corpus_dir).as_posix() for p in corpus_dir.glob("feeds/**/*") if p.is_file()}
    assert on_disk == set(FEED_TITLES) | set(ILLFORMED_FIXTURES)


@pytest.mark.parametrize("rel", sorted(FEED_TITLES))
def test_feed_gives_well_formed_entries(rel: str, read_feed: Callable[[str], Discovery]) -> None:
    entries = read_feed(rel).entries
    assert entries, f"{rel}: no entries"
    for entry in entries:
        assert re.match(r"https?://", entry.url), entry
        assert entry.title and entry.title == " ".join(entry.title.split()), entry
        assert FILE_NAME_ID.fullmatch(entry.id), entry
    ids = [entry.id for entry in entries]
    assert len(ids) == len(set(ids)), f"{rel}: duplicate ids"
    assert [entry.id for entry in read_feed(rel).entries] == ids, f"{rel}: ids change between parses"


@pytest.mark.parametrize(("rel", "title"), sorted(FEED_TITLES.items()))
def test_feed_titles_are_decoded(rel: str, title: str, read_feed: Callable[[str], Discovery]) -> None:
    assert title in [entry.title for entry in read_feed(rel).entries]


def test_gb2312_feed_titles_match_the_file(corpus_dir: Path, read_feed: Callable[[str], Discovery]) -> None:
    # GB2312 is read as GB18030, its superset, as browsers do: forum posts carry GBK-only characters.
    expected = item_titles((corpus_dir / GB2312_FEED).read_bytes().decode("gb18030"))
    assert [entry.title for entry in read_feed(GB2312_FEED).entries] == expected


@pytest.mark.parametrize("rel", FEEDS_WITH_REPEATED_GUIDS)
def test_repeated_items_give_one_entry(rel: str, corpus_dir: Path, read_feed: Callable[[str], Discovery]) -> None:
    guids = re.findall(r"<guid[^>]*>(.*?)</guid>", (corpus_dir / rel).read_text(encoding="utf-8"))
    assert len(set(guids)) < len(guids), "the fixture no longer repeats items"
    assert len(read_feed(rel).entries) == len(set(guids))


def test_inline_html_in_a_title_adds_no_spaces(read_feed: Callable[[str], Discovery]) -> None:
    titles = [entry.title for entry in read_feed("feeds/livemint.com-news.rss.xml").entries]
    assert "SmartCity Kochi to raise ₹4,000 crore from investors" in titles


@pytest.mark.parametrize("rel", ILLFORMED_FIXTURES)
def test_illformed_feed_is_read_or_refused(rel: str, read_feed: Callable[[str], Discovery]) -> None:
    try:
        read_feed(rel)
    except DiscoverError as error:
        assert str(error).strip(), f"{rel}: DiscoverError without a message"


@pytest.mark.parametrize("rel", LISTINGS)
def test_html_page_is_refused_as_a_feed(rel: str, read_feed: Callable[[str], Discovery]) -> None:
    with pytest.raises(DiscoverError, match="not a readable RSS or Atom feed"):
        read_feed(rel)


# --------------------------------------------------------------------------
# The recipes of config.example.toml
# --------------------------------------------------------------------------


def test_every_recipe_is_tested_on_a_real_page() -> None:
    sources = load_config(EXAMPLE, environ={}).sources.values()
    hosts = {source.name: source.channels[0].rules.hosts for source in sources}
    page_hosts = {urlsplit(url).hostname for url in PAGES.values()}
    assert sorted(name for name, served in hosts.items() if not served & page_hosts) == sorted(UNTESTED_RECIPES)


def test_each_host_has_one_recipe() -> None:
    served = [host for source in load_config(EXAMPLE, environ={}).sources.values()
              for host in source.channels[0].rules.hosts]
    assert len(served) == len(set(served)) == len(recipes())


@pytest.mark.parametrize(("rel", "source"), sorted(RECIPE_FEEDS.items()))
def test_recipe_reads_its_sites_feed(rel: str, source: str, corpus_site: Site,
                                     fetch: Callable[[str], Response]) -> None:
    channel = load_config(EXAMPLE, environ={}).sources[source].channels[0]
    discovery = discover_feed(fetch(corpus_site.url(rel)), channel.rules)
    assert discovery.entries
    assert {urlsplit(entry.url).hostname for entry in discovery.entries} <= channel.rules.hosts
    assert all(skip.reason.endswith("is not in hosts") for skip in discovery.skipped)


# --------------------------------------------------------------------------
# Article extraction
# --------------------------------------------------------------------------


@pytest.mark.parametrize("rel", sorted(RULES))
def test_extracted_page_is_sanitized(rel: str, extract_page: Callable[[str], ExtractedPage]) -> None:
    article = extract_page(rel).article
    assert unsafe_parts(article.lead_html + article.body_html) == []


@pytest.mark.parametrize("rel", sorted(RULES))
def test_extracted_page_matches_its_truth(rel: str, extract_page: Callable[[str], ExtractedPage]) -> None:
    page = extract_page(rel)
    if page.truth is None:
        assert len(page.text) >= MIN_CHARS_WITHOUT_TRUTH, page.text
        return
    score = score_page(page.truth, page.text)
    assert score.f1 >= PAGE_MIN_F1, f"P={score.precision:.3f} R={score.recall:.3f}"


@pytest.mark.parametrize("rel", sorted(RULES))
def test_extracted_text_follows_the_rule_semantics(rel: str, corpus_dir: Path,
                                                   extract_page: Callable[[str], ExtractedPage]) -> None:
    # scoring.extract_text is the reference for what a rule selects; sanitizing must not change the text.
    assert extract_page(rel).text == extract_text(read_page(corpus_dir, rel), RULES[rel])


@pytest.mark.parametrize("auto, minimum", [(False, CORPUS_MIN_F1), (True, AUTO_MIN_F1)], ids=["rules", "auto"])
def test_corpus_extraction_score(auto: bool, minimum: float, extract_page: Callable[..., ExtractedPage]) -> None:
    pages = [extract_page(rel, auto) for rel in sorted(RULES)]
    counts: list[Counts] = [shingle_counts(p.truth, p.text) for p in pages if p.truth is not None]
    mean_precision, mean_recall = mean_precision_recall(counts)
    assert f1(mean_precision, mean_recall) >= minimum, f"P={mean_precision:.4f} R={mean_recall:.4f}"


@pytest.mark.parametrize("rel", sorted(RULES))
def test_automatic_extraction_is_sanitized(rel: str, extract_page: Callable[..., ExtractedPage]) -> None:
    article = extract_page(rel, True).article
    assert unsafe_parts(article.lead_html + article.body_html) == []
