"""Failures as values: what to do about each (the hint), and whose each is, told by its facts, not its words."""

from __future__ import annotations

import json

import pytest

from mirrord.hints import PUSH, REFUSED, SLOW, TLS, hint
from mirrord.model import Failure

from fixture_site import channel_url
from mirror_run import mirrord

MOVED = "the channel moved: fix source.daily.channel.world.url (mirrord check --network)"


@pytest.mark.parametrize(("scope", "facts", "expected"), [
    ("channel", {"status": 403, "kind": "status"}, REFUSED),
    ("article", {"status": 401, "kind": "status"}, REFUSED),
    ("channel", {"status": 404, "kind": "status"}, MOVED),
    ("channel", {"status": 410, "kind": "status"}, MOVED),
    ("article", {"status": 404, "kind": "status"}, ""),
    ("channel", {"status": 503, "kind": "status"}, "the site is busy or failing: transient, retried"),
    ("channel", {"kind": "tls"}, TLS),
    ("article", {"kind": "timeout"}, SLOW),
    ("channel", {"selector": "div.story"}, "the site changed: mirrord preview http://x.test/l --source daily"),
    ("channel", {}, ""),
    ("remote", {}, PUSH),
])
def test_hint_follows_from_what_failed(scope, facts, expected):
    assert hint(scope, source="daily", channel="world", url="http://x.test/l", **facts) == expected


@pytest.mark.parametrize(("failure", "line"), [
    (Failure("channel", "news", "http://x.test/f: HTTP 404", source="daily", channel="world"),
     "channel daily/world: http://x.test/f: HTTP 404"),
    (Failure("article", "news", "http://x.test/a: timed out", source="daily", url="http://x.test/a"),
     "article http://x.test/a: http://x.test/a: timed out"),
    (Failure("remote", "news", "refused", url="ssh://git@host/m.git"), "push to ssh://git@host/m.git: refused"),
    (Failure("mirror", "news", "git could not commit"), "git could not commit"),
])
def test_a_failure_reads_as_the_line_mirrord_always_printed(failure, line):
    assert failure.line() == line == str(failure)


def sources_of(config) -> dict[str, dict]:
    status = mirrord(config, "status", "--json")
    return {source["name"]: source for source in json.loads(status.stdout)["sources"]}


def test_a_refused_channel_says_what_to_do_in_once_status_and_the_log(tmp_path, site, setup):
    _, _, config = setup
    site.add("/daily/world.xml", "go away", status=403)
    run = mirrord(config, "once")
    assert run.code == 1
    assert f"  failed: channel daily/world: {channel_url(site, 'world')}: HTTP 403 Forbidden\n" \
           f"    what to do: {REFUSED}\n" in run.stdout
    failure = sources_of(config)["daily"]["failure"]
    assert failure["scope"] == "channel" and failure["url"] == channel_url(site, "world")
    assert failure["hint"] == REFUSED and failure["transient"] is False
    assert sources_of(config)["weekly"]["failure"] is None
    assert REFUSED in mirrord(config, "status", "--source", "daily").stdout
    events = [json.loads(line) for line in (tmp_path / "state" / "status.log").read_text(encoding="utf-8").splitlines()]
    assert [e["hint"] for e in events if e["event"] == "fetch.failed"] == [REFUSED]


def test_an_article_failure_counts_for_its_own_source_only(tmp_path, site, setup):
    """Before failures were values, a failed article counted for every source of its mirror: `daily` was
    shown failing for an article of `weekly`."""
    news, _, config = setup
    gone = news.article(news.good_slugs("features")[0])
    del site.routes[gone.path]
    assert mirrord(config, "once").code == 1
    sources = sources_of(config)
    assert sources["weekly"]["error"].startswith(f"article {site.url(gone.path)}: ")
    assert sources["weekly"]["failure"]["scope"] == "article"
    assert sources["daily"]["error"] is None and sources["daily"]["result"] == "ok"
