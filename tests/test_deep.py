"""Deep and huge markup degrades instead of failing: a page of thousands of nested elements is published
flattened below the depth bound (its text kept), no recursion is left for a page to exhaust, and the CPU
stage runs in a worker process whose overrun or crash holds one article back, never the cycle."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from mirrord.errors import HeldBack
from mirrord.extract import extract_article
from mirrord.markup import MAX_DEPTH, bound_depth, bounded, has_few_tags
from mirrord.render import render_page
from mirrord.workers import Workers, extract_within_budget

from mirror_run import bare_repository, clone, mirrord
from values import FETCHED, channel, entry, mirror

TEXT = "Readable text of a deeply nested article, long enough to publish."


def nested(depth: int, tag: str = "div") -> str:
    """A page whose article body sits under depth nested elements: 11 bytes a level for divs."""
    return (f"<html><body><div class='body'>{f'<{tag}>' * depth}<p>{TEXT}</p>{f'</{tag}>' * depth}"
            f"<p>After the nest.</p></div></body></html>")


def tree_depth(markup: str) -> int:
    """Return how deep a parser nests markup's elements (counted with a stack of our own)."""
    deepest, stack = 0, [(LexborHTMLParser(markup).root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        child = node.child
        while child is not None:
            if child.is_element_node:
                stack.append((child, depth + 1))
            child = child.next
    return deepest


@pytest.mark.parametrize("depth", [2_000, 3_000, 100_000])
@pytest.mark.parametrize("body", ["html", "markdown"])
def test_deeply_nested_pages_are_published_flattened_with_their_text(depth, body):
    """Before the bound, 3,000 divs raised RecursionError in the Markdown conversion, and 100,000 (1 MB)
    took minutes in each of parsing, selecting, sanitizing and measuring the text. 2,000 is a page of few
    enough tags to be parsed before the bound (markup.FEW_TAGS): its article is bounded all the same."""
    assert has_few_tags(nested(2_000)) and not has_few_tags(nested(3_000))
    target = mirror(body=body)
    article = extract_article(entry(), channel(), target, nested(depth), FETCHED, {})
    assert tree_depth(article.body_html) <= MAX_DEPTH + 8
    page = render_page(article, target)[0].data.decode("utf-8")
    assert TEXT in page and "After the nest." in page


@pytest.mark.parametrize("tag", ["div", "b", "blockquote", "li", "table", "a"])
def test_nesting_of_every_kind_renders_as_markdown_without_recursion(tag):
    element = {"li": "ul><li", "table": "table><tr><td"}.get(tag, tag)
    closing = {"li": "li></ul", "table": "td></tr></table"}.get(tag, tag)
    markup = f"<div class='body'>{f'<{element}>' * 5_000}<p>{TEXT}</p>{f'</{closing}>' * 5_000}</div>"
    target = mirror(body="markdown")
    article = extract_article(entry(), channel(), target, markup, FETCHED, {})
    assert TEXT in render_page(article, target)[0].data.decode("utf-8")


VOCABULARY = ["div", "p", "li", "ul", "table", "tr", "td", "tbody", "b", "i", "a", "span", "svg", "math", "desc",
              "foreignObject", "select", "option", "dd", "dt", "h1", "h2", "button", "form", "template", "caption",
              "font", "nobr", "frameset", "head", "body", "html", "title", "textarea", "script", "style", "xmp",
              "plaintext", "noscript", "iframe", "pre", "listing", "br", "img", "object", "mi", "center"]
TOKENS = st.one_of(
    st.tuples(st.sampled_from(VOCABULARY), st.sampled_from(["", " id=x", " class='a'", "/", ' a="', " b='>'"]))
    .map(lambda t: f"<{t[0]}{t[1]}>"),
    st.sampled_from(VOCABULARY).map(lambda name: f"</{name}>"),
    st.sampled_from(["<!--", "-->", "<![CDATA[", "]]>", "<!x>", "<?p", "</ ", "<", "text", "&lt;", "</>"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, max_size=400).map("".join))
def test_no_tag_soup_makes_a_parser_nest_deeper_than_a_small_multiple_of_the_bound(soup):
    """Tables gain a tbody and a tr a level, formatting elements may be opened again after a block: the
    output of the bound is parsed at most about three times as deep, never as deep as the soup asks."""
    assert tree_depth(bound_depth(soup, limit=8)) <= 3 * 8 + 4


def test_the_bound_keeps_what_readers_see_of_ordinary_markup():
    page = ('<!DOCTYPE html>\n<html><head><title>a<b</title><script>if (a<b) x("</div>")</script></head>'
            '<body class=x><p>one<p>two<ul><li>a<li>b</ul><table><tr><td>1<td>2<tr><td>3</table>'
            '<div title="a>b" data-x=\'q"\'>t</div><!-- <div> -->x < y &amp; z</body></html>')
    bounded = bound_depth(page)
    assert bounded.startswith("<!DOCTYPE html>")
    for parsed in (LexborHTMLParser(page), LexborHTMLParser(bounded)):
        assert [p.text() for p in parsed.css("body > p")] == ["one", "two"]
        assert [li.text() for li in parsed.css("ul > li")] == ["a", "b"]
        assert [[td.text() for td in tr.css("td")] for tr in parsed.css("tr")] == [["1", "2"], ["3"]]
        assert parsed.css_first("div").attributes == {"title": "a>b", "data-x": 'q"'}
        assert "x < y & z" in parsed.body.text()
    assert "script" not in bounded and "<!--" not in bounded


def test_blocks_with_fewer_tags_than_the_bound_are_kept_as_they_are_and_others_are_bounded():
    shallow = "<div>" * (MAX_DEPTH // 2) + "text" + "</div>" * (MAX_DEPTH // 2)
    assert bounded(shallow) is shallow
    deep = "<div>" * (MAX_DEPTH + 1) + "text" + "</div>" * (MAX_DEPTH + 1)
    assert bounded(deep) == bound_depth(deep) != deep


def channel_of(articles: dict[str, str], site, tmp_path: Path, mirror_keys: str = "") -> tuple[Path, Path]:
    """Serve the pages (slug -> HTML) and a listing of them; return a config mirroring them and its remote."""
    for slug, page in articles.items():
        site.add(f"/news/{slug}.html", page)
    links = "".join(f'<li><a href="/news/{slug}.html">{slug}</a></li>' for slug in articles)
    site.add("/news/", f'<html><body><ul class="news">{links}</ul></body></html>')
    remote = bare_repository(tmp_path / "remote.git")
    config = tmp_path / "mirrord.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n[http]\nretries = 0\n[mirror.news]\n'
                      f'remotes = ["{remote}"]\n{mirror_keys}[source.site]\ncontent = "div.body"\n'
                      f'[source.site.channel.latest]\nurl = "{site.url("/news/")}"\nitems = "ul.news a"\n',
                      encoding="utf-8")
    return config, remote


def test_a_real_cycle_publishes_deep_and_huge_pages_and_the_rest(tmp_path, site):
    """`mirrord once`, as a process, against pages 3,000 and 100,000 elements deep (33 kB and 1.1 MB)."""
    articles = {"deep": nested(3_000), "huge": nested(100_000), "plain": nested(1)}
    config, remote = channel_of(articles, site, tmp_path, 'body = "markdown"\n')
    run = mirrord(config, "once", timeout=120)
    assert run.code == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    pages = clone(remote, tmp_path / "reader") / "pages" / "latest"
    for slug in articles:
        assert TEXT in (pages / f"{slug}.md").read_text(encoding="utf-8")


# A fresh parent made the subreaper of what it runs (Linux's PR_SET_CHILD_SUBREAPER): every process the command
# leaves behind becomes its child when the command exits; it prints the command's exit code and their names.
LEFT_BEHIND = ("import ctypes, os, subprocess, sys\nctypes.CDLL(None).prctl(36, 1, 0, 0, 0)\n"
               "done = subprocess.run(sys.argv[1:], capture_output=True)\n"
               "left = open(f'/proc/self/task/{os.getpid()}/children').read().split()\n"
               "names = [open(f'/proc/{pid}/stat').read().split(' (')[1].split(')')[0] for pid in left]\n"
               "for pid in left:\n    os.waitpid(int(pid), 0)\n"
               "print(done.returncode, *names)\n")


def test_once_leaves_no_worker_behind(tmp_path, site):
    """The extraction workers end with `once`, waited for: left behind, they would run on unwatched, and their
    CPU and memory would count for no one (bench/cold.py's figures missed them). (git's local transport
    leaves its `sh` to finish alone after ls-remote: git's, not mirrord's.)"""
    config, remote = channel_of({"plain": nested(1)}, site, tmp_path)
    done = subprocess.run([sys.executable, "-c", LEFT_BEHIND, sys.executable, "-m", "mirrord", "-c", str(config),
                           "once"], capture_output=True, text=True, timeout=120)
    code, *left = done.stdout.split()
    assert code == "0", done.stdout + done.stderr
    assert not [name for name in left if name.startswith("python")], left
    assert TEXT in (clone(remote, tmp_path / "reader") / "pages" / "latest" / "plain.md").read_text(encoding="utf-8")


def test_the_cpu_stage_in_a_worker_gives_the_same_article_and_page():
    page = nested(100_000)
    for target in (mirror(), mirror(body="markdown", qr=True, public_url="https://git.example/m")):
        here = extract_article(entry(), channel(), target, page, FETCHED, {})
        there = asyncio.run(extract_within_budget(entry(), channel(), target, page, FETCHED, {}))
        assert there.rendered is not None
        assert replace(there, rendered=None) == here
        assert render_page(there, target) == render_page(here, target)


def test_a_call_overrunning_its_budget_is_stopped_and_held_back_and_the_workers_go_on():
    workers = Workers(1)
    try:
        with pytest.raises(HeldBack, match="took longer than 0.5 s, so it was stopped"):
            asyncio.run(workers.run(time.sleep, (60,), 0.5))
        with pytest.raises(HeldBack, match=r"failed \(RecursionError: maximum recursion depth exceeded"):
            asyncio.run(workers.run(json.loads, ("[" * 100_000,), 30))
        with pytest.raises(HeldBack, match="the worker extracting it died"):
            asyncio.run(workers.run(os._exit, (9,), 30))
        assert asyncio.run(workers.run(len, ("still working",), 30)) == 13
    finally:
        workers.close()


def test_one_worker_serves_the_calls_of_several_threads_loops_and_a_cancelled_wait_gives_its_turn_on():
    """The daemon calls from a loop per mirror thread: a call waiting for the busy worker is woken in its own
    loop, a waiting call cancelled (a cycle stopped) leaves the slot to the others, and big arguments and
    answers cross the pipes whole."""
    workers, big = Workers(1), "x" * 3_000_000
    results: list[list[int]] = []

    async def calls() -> list[int]:
        return await asyncio.gather(*(workers.run(len, (big[:n],), 30) for n in (1, 2_000_000, 3_000_000)))

    async def cancelled_waits() -> int:
        for cancel_after_slow in (False, True):  # still queued; or handed the slot just before the cancel
            slow = asyncio.ensure_future(workers.run(time.sleep, (0.3,), 30))
            waiting = asyncio.ensure_future(workers.run(len, ("abc",), 30))
            await asyncio.sleep(0.1)
            if cancel_after_slow:
                await slow
            waiting.cancel()
            await slow
        return await asyncio.wait_for(workers.run(len, ("after",), 30), 10)

    try:
        threads = [threading.Thread(target=lambda: results.append(asyncio.run(calls()))) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert results == [[1, 2_000_000, 3_000_000]] * 3
        assert asyncio.run(cancelled_waits()) == 5
        assert workers.slots.free == 1 and not workers.slots.waiting
    finally:
        workers.close()


def test_held_back_articles_come_back_with_their_reason():
    with pytest.raises(HeldBack, match="fewer than min_text"):
        asyncio.run(extract_within_budget(entry(), channel(), mirror(), "<div class=body>short</div>", FETCHED, {}))
