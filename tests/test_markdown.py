"""What readers see of hostile article text: pages rendered by GitHub's own renderer (cmarkgfm), in every
body mode and link and picture policy. Text that looks like Markdown or HTML stays text; only what the HTML
held and the policies allow becomes a link, a picture or a heading; the Original line is always shown."""

from __future__ import annotations

import html
import re

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from hypothesis import given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from mirrord.extract import extract_article, sanitize
from mirrord.markdown import html_to_markdown
from mirrord.render import render_page

from values import FETCHED, channel, entry, mirror

ARTICLE_URL = "http://site.test/2026/11/a1.html"
LOCAL_URL = "http://site.test/2026/11/a2.html"
HOSTILE_PARAGRAPHS = [
    "&lt;script&gt;alert(1)&lt;/script&gt; ![t](http://tracker.test/t.gif) [x](http://evil.test/)",
    "&lt;!-- this comment would hide the rest of the page",
    "# forged heading",
    "Setext heading<br>===",
    "Another one<br>---",
    "&gt; a quote<br>- an item<br>+ an item<br>* an item<br>1. an item<br>2) an item",
    "| a | b |<br>| --- | --- |<br>| c | d |",
    "```<br>a fence<br>~~~ another",
    "*em* _em_ **strong** __strong__ ~~del~~ ~del~ `code` $math$ [^1] - [ ] task",
    "[ref]: http://evil.test/ \"title\"",
    "&lt;img src=x onerror=alert(1)&gt; &lt;a href=\"javascript:alert(1)\"&gt;js&lt;/a&gt; &amp;lt;script&amp;gt;",
    "&lt;iframe src=http://evil.test/&gt;&lt;/iframe&gt; &lt;style&gt;body{display:none}&lt;/style&gt;",
    "http://evil.test/auto www.evil.test WWW.EVIL.TEST mail@evil.test mailto:x@evil.test &lt;http://evil.test/&gt;",
    "[x](javascript:alert(1)) [y](javascript&amp;colon;alert(1)) ![z](http://tracker.test/z.gif)",
    "a line&#13;&#13;# after two carriage returns&#13;&#13;![cr](http://tracker.test/cr.gif)",
    "ends with a backslash \\<br>and ## hashes ##",
    "&lt;details open ontoggle=alert(1)&gt; &amp;#x3C;script&amp;#x3E; \\&lt;b&gt;",
]
HOSTILE_HTML = """
<h2>A real heading</h2>
<p>A real <a href="http://evil.test/real">link</a>, a <a href="LOCAL">local link</a>, a real
<img src="http://tracker.test/real.gif" alt="real picture [x](http://evil.test/)"> and
<a href="javascript:alert(1)">a script link</a> <a href="jav&#x09;ascript:alert(2)">another</a>.</p>
<pre>&lt;/pre&gt; ``` &lt;script&gt;alert(3)&lt;/script&gt;
# not a heading</pre>
<p>Code <code>`a` | &lt;b&gt; [x](http://evil.test/)</code> and <b> spaced bold </b>.</p>
<a href="http://evil.test/card"><h3>A card heading</h3><p>its teaser</p></a>
<table><tr><th>one | two</th></tr><tr><td># cell</td></tr></table>
<blockquote><p># quoted</p><ul><li>- item</li></ul></blockquote>
<script>alert(4)</script><iframe src="http://evil.test/"></iframe><p onclick="alert(5)">handler</p>
"""
REAL_HEADINGS = {"A real heading", "A card heading"}


def hostile_body() -> str:
    paragraphs = "".join(f"<p>{text}</p>" for text in HOSTILE_PARAGRAPHS)
    return HOSTILE_HTML.replace("LOCAL", LOCAL_URL) + paragraphs + "<p>The last paragraph of the body.</p>"


def github(markdown: str, unsafe: bool) -> LexborHTMLParser:
    """Return what GitHub's renderer makes of markdown: safe (its defaults), or passing raw HTML through
    (unsafe, with the tag filter) to show all a page carries."""
    options = Options.CMARK_OPT_UNSAFE if unsafe else Options.CMARK_OPT_DEFAULT
    return LexborHTMLParser(cmarkgfm.github_flavored_markdown_to_html(markdown, options=options))


def published(body: str, links: str, images: str) -> str:
    target = mirror(body=body, links=links, images=images)
    source = channel(rules={"content": None})
    found = extract_article(entry(ARTICLE_URL, content_html=hostile_body()), source, target, None, FETCHED,
                            {LOCAL_URL: "../world/a2.md"})
    return render_page(found, target)[0].data.decode("utf-8")


def active_parts(tree: LexborHTMLParser) -> list[str]:
    found = []
    for node in tree.root.traverse(include_text=False):
        if node.tag in {"script", "style", "iframe", "object", "embed", "form", "svg", "math", "base", "meta"}:
            found.append(node.tag)
        for name, value in node.attributes.items():
            if name.startswith("on") or (value or "").strip().lower().replace("\t", "").startswith("javascript:"):
                found.append(f"{node.tag}[{name}={value}]")
    return found


@pytest.mark.parametrize("images", ["hotlink", "download", "drop"])
@pytest.mark.parametrize("links", ["keep", "neutralize", "rewrite"])
@pytest.mark.parametrize("body", ["html", "markdown"])
def test_hostile_text_and_html_render_inert_on_github(body, links, images):
    page = published(body, links, images)
    for unsafe in (True,) if body == "html" else (False, True):  # safe, cmark drops an HTML body altogether
        tree = github(page, unsafe)
        assert active_parts(tree) == []
        hrefs = [a.attributes["href"] for a in tree.css("a[href]") if a.attributes["href"] != ARTICLE_URL]
        if links == "neutralize":
            assert hrefs == [], "no live link with links = neutralize"
        elif links == "rewrite":
            assert hrefs == ["../world/a2.md"], "only links to the mirror's own pages with links = rewrite"
        else:
            assert "http://evil.test/real" in hrefs and set(hrefs) <= {LOCAL_URL, "http://evil.test/real",
                                                                       "http://evil.test/card"}
        sources = [img.attributes.get("src") for img in tree.css("img")]
        assert sources == ([] if images == "drop" else ["http://tracker.test/real.gif"])
        headings = [" ".join(h.text().split()) for h in tree.css("h1, h2, h3, h4, h5, h6")]
        assert set(headings) == {"A title"} | REAL_HEADINGS, "no heading made of text"
        original = [p for p in tree.css("p") if p.text().startswith("Original:")]
        assert original and original[0].css_first("a").attributes["href"] == ARTICLE_URL, "the Original line shows"
        assert "The last paragraph of the body." in tree.body.text()


@pytest.mark.parametrize("text", HOSTILE_PARAGRAPHS)
def test_hostile_text_in_markdown_bodies_reads_as_written(text):
    rendered = assert_reads_as_written(sanitize(f"<p>{text}</p>"))
    assert rendered.css("a, img, h1, h2, h3, h4, h5, h6, table, ul, ol, blockquote, pre, code, em, strong, del") == []


def assert_reads_as_written(fragment: str) -> LexborHTMLParser:
    """Check that GitHub shows the Markdown of a sanitized paragraph as the same text; return what it shows."""
    expected = visible_text(LexborHTMLParser(f"<body>{fragment}</body>"))
    rendered = github(html_to_markdown(fragment, links="neutralize", images="drop"), unsafe=True)
    assert visible_text(rendered) == expected
    return rendered


def visible_text(tree: LexborHTMLParser) -> str:
    """Return the text a reader sees, whitespace runs as one space (line breaks included)."""
    for br in tree.css("br"):
        br.replace_with(" ")
    return " ".join(re.split(r"[ \t\n\r\f]+", (tree.body.text(separator="") if tree.body else ""))).strip()


MARKDOWN_SIGNS = ["#", "-", "+", "=", "*", "_", "`", "~", "[", "]", "(", ")", "!", "<", ">", "&", "|", "\\", "1.",
                  "2)", "www.", "http://", "a@b.co", "&amp;", "&lt;", "&#35;", ":", "$", "^", "<!--", "-->", " ",
                  "\n", "x", "é", "长", "\u00a0", "\t", "<b>", "</b>"]
texts = st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=60),
                  st.lists(st.sampled_from(MARKDOWN_SIGNS), max_size=40).map("".join))


@settings(max_examples=400, deadline=None)
@given(texts)
def test_any_text_comes_back_as_the_same_text(text):
    rendered = assert_reads_as_written(sanitize(f"<p>{html.escape(text)}</p>"))
    assert rendered.css("a, img, h1, h2, h3, h4, h5, h6, table, ul, ol, li, blockquote, pre, code, hr") == []


WORDS = st.lists(st.sampled_from(MARKDOWN_SIGNS[:-2] + ["word", " ", "a", "1"]), min_size=0, max_size=6).map("".join)
INLINE = st.recursive(WORDS.map(html.escape), lambda inner: st.tuples(
    st.sampled_from(["b", "i", "em", "strong", "s", "code", "span", "a", "br"]), st.lists(inner, max_size=3)).map(
    lambda t: f"<{t[0]}{' href=http://x.test/' if t[0] == 'a' else ''}>{''.join(t[1])}</{t[0]}>"
    if t[0] != "br" else "<br>"), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(st.lists(INLINE, min_size=1, max_size=4).map("".join))
def test_emphasis_links_and_code_keep_the_text(inner):
    fragment = sanitize(f"<p>{inner}</p>")
    expected = visible_text(LexborHTMLParser(f"<body>{fragment}</body>"))
    rendered = github(html_to_markdown(fragment, links="keep"), unsafe=True)
    assert visible_text(rendered) == expected
    assert rendered.css("h1, h2, h3, h4, h5, h6, table, ul, ol, li, blockquote, pre, hr, img") == []
    assert {a.attributes.get("href") for a in rendered.css("a")} <= {"http://x.test/"}


def block(tag: str, parts: list[str]) -> str:
    inner = "".join(parts)
    if tag in ("ul", "ol"):
        return f"<{tag}>" + "".join(f"<li>{part}</li>" for part in parts) + f"</{tag}>"
    if tag == "table":
        return "<table>" + "".join(f"<tr><td>{part}</td><th>{part}</th></tr>" for part in parts) + "</table>"
    return "<hr>" if tag == "hr" else f"<{tag}>{inner}</{tag}>"


BLOCKS = st.recursive(INLINE, lambda inner: st.tuples(
    st.sampled_from(["p", "div", "ul", "ol", "blockquote", "h2", "pre", "table", "hr", "b", "a"]),
    st.lists(inner, max_size=3)).map(lambda t: block(*t) if t[0] != "a" else
                                     f"<a href=http://x.test/>{''.join(t[1])}</a>"), max_leaves=16)
STRUCTURE = ["h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "li", "pre", "hr", "img"]


@settings(max_examples=300, deadline=None)
@given(st.lists(BLOCKS, min_size=1, max_size=4).map("".join))
def test_blocks_keep_their_text_and_forge_no_structure(markup):
    fragment = sanitize(markup)
    source = LexborHTMLParser(f"<body>{fragment}</body>")
    expected = "".join(visible_text(source).split())
    rendered = github(html_to_markdown(fragment, links="keep"), unsafe=True)
    assert "".join(visible_text(rendered).split()) == expected
    for tag in STRUCTURE:
        assert len(rendered.css(tag)) <= len(source.css(tag)), f"a {tag} the HTML did not have"
    assert {a.attributes.get("href") for a in rendered.css("a")} <= {"http://x.test/"}
