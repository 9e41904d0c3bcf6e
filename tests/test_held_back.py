"""Held-back articles and broken sources, through real `mirrord once`, `status` and `retry` processes: an
article held back is retried less and less often and given up, `retry` brings it back, and a source whose
every new article is held back two cycles in a row is broken (exit 1) until it publishes again."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

from mirrord.heldback import is_due, waiting
from mirrord.model import HeldBackRecord
from mirrord.retry import HELD_BACK_FREE_ATTEMPTS, held_back_gives_up, held_back_retry_at

from fixture_site import MISSING_BODY_SLUG, SHORT_BODY_SLUG, add_article, article_url, news_of, set_body
from mirror_run import mirrord

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def events(config, name: str) -> list[dict]:
    lines = (config.parent / "state" / "status.log").read_text(encoding="utf-8").splitlines()
    return [event for event in map(json.loads, lines) if event["event"] == name]


def redesigned(site, slug: str) -> None:
    """Publish a weekly article in a new layout: its page has no `div.story-text` any more."""
    add_article(site, "features", slug, f"Redesigned {slug}")
    set_body(site, slug, None)


def weekly_status(config, code: int) -> dict:
    run = mirrord(config, "status", "--json")
    assert run.code == code, run.stdout + run.stderr
    return {s["name"]: s for s in json.loads(run.stdout)["sources"]}


def test_held_back_articles_are_tried_every_cycle_then_hourly_to_daily_and_given_up():
    assert [held_back_retry_at(n, NOW) for n in range(1, HELD_BACK_FREE_ATTEMPTS)] == [None, None]
    waits = [held_back_retry_at(n, NOW) - NOW for n in range(HELD_BACK_FREE_ATTEMPTS, HELD_BACK_FREE_ATTEMPTS + 8)]
    assert waits[:3] == [timedelta(hours=1), timedelta(hours=2), timedelta(hours=4)]
    assert waits[-1] == timedelta(days=1), "capped at a day"
    assert not held_back_gives_up(NOW - timedelta(days=6), NOW, 7 * 86400)
    assert held_back_gives_up(NOW - timedelta(days=7), NOW, 7 * 86400)


def test_waiting_articles_are_not_fetched_and_a_due_one_reads_its_channel_without_validators():
    def record(key: str, attempts: int, ago: timedelta, gave_up: bool = False) -> HeldBackRecord:
        return HeldBackRecord("news", key[0], key, "daily", f"https://x.test/{key}", "stub", attempts,
                              NOW - timedelta(days=1), NOW - ago, gave_up)

    records = [record("a-fresh", 1, timedelta(minutes=1)), record("b-waits", 3, timedelta(minutes=30)),
               record("c-due", 3, timedelta(hours=2)), record("d-gone", 9, timedelta(days=3), gave_up=True)]
    assert [is_due(r, NOW) for r in records] == [True, False, True, False]
    assert waiting(records, NOW).keys == {"b-waits", "d-gone"}
    assert waiting(records, NOW).unconditional == {"a", "c"}, "a 304 must not hide a due article"


def test_once_retries_a_held_back_article_three_cycles_then_waits_gives_up_and_retry_brings_it_back(setup, site):
    _, _, config = setup
    stub = news_of(site).article(MISSING_BODY_SLUG).path
    for _ in range(HELD_BACK_FREE_ATTEMPTS + 1):
        assert mirrord(config, "once").code == 0
    assert site.requested(stub) == HELD_BACK_FREE_ATTEMPTS, "then it waits an hour"
    assert weekly_status(config, 0)["daily"]["attention"] is None, "a stub tried again does not break a source"

    config.write_text(config.read_text(encoding="utf-8").replace(
        "[source.daily]\n", '[source.daily]\ngive_up_after = "1s"\n'), encoding="utf-8")
    retried = mirrord(config, "retry", "--source", "daily")
    assert retried.code == 0 and "2 held-back article(s) of daily" in retried.stdout, retried.stdout
    assert mirrord(config, "once").code == 0
    time.sleep(1.1)
    assert mirrord(config, "once").code == 0
    assert mirrord(config, "once").code == 0
    assert site.requested(stub) == HELD_BACK_FREE_ATTEMPTS + 2, "given up at its second try, not fetched after"
    gave_up = [e for e in events(config, "article.gave_up") if e["url"] == article_url(site, MISSING_BODY_SLUG)]
    assert len(gave_up) == 1 and "matched nothing" in gave_up[0]["error"], "said once, with its reason"

    listed = mirrord(config, "status", "--source", "daily")
    assert article_url(site, MISSING_BODY_SLUG) in listed.stdout and "given up" in listed.stdout
    assert article_url(site, SHORT_BODY_SLUG) in listed.stdout and "body has 1 characters" in listed.stdout
    records = weekly_status(config, 0)["daily"]["articles_held_back"]
    assert {(r["url"], r["gave_up"]) for r in records} == {(article_url(site, MISSING_BODY_SLUG), True),
                                                           (article_url(site, SHORT_BODY_SLUG), True)}

    assert mirrord(config, "retry", "--source", "daily").code == 0
    assert mirrord(config, "once").code == 0
    assert site.requested(stub) == HELD_BACK_FREE_ATTEMPTS + 3, "fetched again although its channel kept validators"


def test_once_exits_1_for_a_source_whose_every_new_article_is_held_back_two_cycles_in_a_row(setup, site):
    _, _, config = setup
    assert mirrord(config, "once").code == 0
    redesigned(site, "new-look-one")
    assert mirrord(config, "once").code == 0, "one cycle may be a bad article"
    redesigned(site, "new-look-two")
    broken = mirrord(config, "once")
    assert broken.code == 1 and "source weekly is broken" in broken.stderr, broken.stderr
    [event] = events(config, "source.broken")
    assert event["source"] == "weekly" and "div.story-text" in event["error"]

    weekly = weekly_status(config, 1)["weekly"]
    assert weekly["attention"] == "broken" and weekly["held_back"] == 2 and weekly["broken_cycles"] == 2
    assert "div.story-text" in weekly["held_back_reason"]
    table = mirrord(config, "status")
    assert table.code == 1 and "broken" in table.stdout and "div.story-text" in table.stdout

    add_article(site, "features", "back-to-normal", "Fixed layout, published again")
    assert mirrord(config, "once").code == 0
    assert [e["source"] for e in events(config, "source.recovered")] == ["weekly"]
    assert weekly_status(config, 0)["weekly"]["attention"] is None
