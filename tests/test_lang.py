"""Readers' language and script: one catalogue per `lang`, OpenCC on real corpus text (`variant`), and the
templates' variables as docs/templates.md documents them."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import feedparser
import pytest
from jinja2 import meta

from mirrord.catalogue import CATALOGUES, LANGUAGES
from mirrord.index import render_index, render_readme
from mirrord.model import LedgerRow, Source
from mirrord.pageblocks import page_blocks
from mirrord.render import page_files, page_url, parse_metadata, render_page
from mirrord.templating import environment
from mirrord.variant import convert_html, convert_text

from values import FETCHED, article, channel, mirror, templates_dir

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES_DOC = ROOT / "docs" / "templates.md"
TEMPLATES = ("page.md.j2", "index.md.j2", "readme.md.j2")
DOC_ROW = re.compile(r"^\| `([a-z_]+)(?:\.[a-z_]+)?` \|", re.MULTILINE)
STRFTIME = re.compile(r"%[A-Za-z]")


def corpus_entries(corpus_dir: Path, feed: str) -> list:
    return feedparser.parse((corpus_dir / "feeds" / feed).read_bytes()).entries


def entry_with(corpus_dir: Path, feed: str, text: str):
    return next(e for e in corpus_entries(corpus_dir, feed) if text in e.title + e.get("summary", ""))


def page_of(entry, **mirror_changes) -> str:
    published = article(title=entry.title, body_html=f"<p>{entry.summary}</p>")
    return render_page(published, mirror(**mirror_changes))[0].data.decode("utf-8")


# --- variant: OpenCC on the corpus ------------------------------------------------------------------------------


def test_zh_hans_makes_secretchinas_traditional_descriptions_simplified(corpus_dir):
    """The feed's titles are simplified and its descriptions traditional: one script after conversion."""
    entry = entry_with(corpus_dir, "secretchina.com-p1.rss.xml", "本人父親吳中南")
    assert entry.title == "上海男子：一间急诊室挤150病患 父亲苦求2天半去世(组图)"
    page = page_of(entry, variant="zh-Hans")
    assert "本人父亲吴中南，于2022年4月6日晚间因呼吸不畅呼叫120急救无果" in page
    assert "经多方求助，终由浦东新区120急救送入仁济医院东院急诊室救治" in page
    assert "### 上海男子：一间急诊室挤150病患 父亲苦求2天半去世\\(组图\\)" in page, "simplified stays as it was"
    assert "父親" not in page.rpartition("<!-- mirrord")[0]
    assert parse_metadata(page)["title"] == entry.title


def test_zh_hant_converts_phrase_by_phrase(corpus_dir):
    """OpenCC's phrase dictionaries choose the traditional character by the word: 制 alone stays 制 but is 製 in
    制造, 系 is 繫 in 联系; 干 is 幹 in 干部 but 乾 in 干燥. A character table could not tell."""
    entry = entry_with(corpus_dir, "ntdtv.com-news202.rss.xml", "外国制造商生产线")
    assert "外國製造商生產線" in page_of(entry, variant="zh-Hant")
    cadre = entry_with(corpus_dir, "secretchina.com-p1.rss.xml", "上海社区干部")
    assert convert_text(cadre.title, "zh-Hant") == "上海社區幹部：封控降級背後真正原因是人力嚴重不足(圖)"
    coins = entry_with(corpus_dir, "kc0011.net-gb2312.rss", "喜欢联系")
    assert "喜歡聯繫" in convert_html(coins.summary, "zh-Hant")
    assert [convert_text(c, "zh-Hant") for c in "制系干"] == ["制", "系", "幹"]
    assert convert_text("干燥", "zh-Hant") == "乾燥"


def test_only_text_is_converted_addresses_stay_as_the_site_wrote_them():
    body = ('<p><a href="https://www.ntdtv.com/gb/习近平.htm" title="习近平">习近平</a>会见'
            '<img alt="头发" src="https://i.ntdtv.com/头发.jpg"/></p>')
    page = render_page(article(body_html=body, url="https://www.ntdtv.com/gb/头发.htm"),
                       mirror(variant="zh-Hant"))[0].data.decode("utf-8")
    assert '<a href="https://www.ntdtv.com/gb/习近平.htm" title="習近平">習近平</a>會見' in page
    assert '<img alt="頭髮" src="https://i.ntdtv.com/头发.jpg"/>' in page
    assert "Original: <https://www.ntdtv.com/gb/%E5%A4%B4%E5%8F%91.htm>" in page


def test_a_sources_variant_overrides_the_mirrors():
    both = mirror(variant="zh-Hant", source_variants=(("daily", "zh-Hans"),))
    assert "### 头发干燥" in render_page(article(title="頭髮乾燥"), both)[0].data.decode("utf-8")
    assert "### 頭髮乾燥" in render_page(article(title="头发干燥", source="other"), both)[0].data.decode("utf-8")
    rows = [LedgerRow("news", "world", "a1", "pages/world/a1.md", "頭髮乾燥", "u", "daily", FETCHED, seq=1),
            LedgerRow("news", "world", "a2", "pages/world/a2.md", "头发干燥", "u", "other", FETCHED, seq=2)]
    index = render_index(both, "世界新闻", rows)
    assert "# 世界新聞" in index and "[头发干燥](../pages/world/a1.md)" in index
    assert "[頭髮乾燥](../pages/world/a2.md)" in index


def test_a_page_rendered_again_takes_the_variant_it_has_now():
    """rebuild renders a page again around the blocks it holds: a mirror that sets a variant later converts them
    (and the title), and the metadata keeps the title as the site gave it."""
    first = render_page(article(title="頭髮乾燥", body_html="<p>頭髮乾燥</p>"), mirror())[0].data.decode("utf-8")
    blocks = page_blocks(first, None, page_url(article().url))
    again = page_files(article(title="頭髮乾燥"), mirror(variant="zh-Hans"), blocks)[0].data.decode("utf-8")
    assert "### 头发干燥" in again and "<p>头发干燥</p>" in again
    assert parse_metadata(again)["title"] == "頭髮乾燥"


def test_opencc_is_loaded_only_when_a_variant_is_set():
    script = ("import sys; from mirrord import cli, pipeline, render, index, config; "
              "sys.path.insert(0, 'tests'); from values import article, mirror; "
              "render.render_page(article(title='頭髮'), mirror()); assert 'opencc' not in sys.modules; "
              "page = render.render_page(article(title='頭髮'), mirror(variant='zh-Hans'))[0].data.decode(); "
              "assert 'opencc' in sys.modules and '### 头发' in page")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# --- lang: the catalogues ---------------------------------------------------------------------------------------


def test_every_language_has_every_word():
    assert set(CATALOGUES) == set(LANGUAGES)
    for lang, words in CATALOGUES.items():
        assert all(getattr(words, f.name).strip() for f in fields(words)), lang
        assert "{count}" in words.all_pages


@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant"])
def test_chinese_catalogues_hold_no_latin_letter(lang):
    for field in fields(CATALOGUES[lang]):
        text = STRFTIME.sub("", getattr(CATALOGUES[lang], field.name)).replace("{count}", "")
        assert not re.search(r"[A-Za-z]", text), (lang, field.name, text)


def test_zh_hant_words_are_in_traditional_script():
    for field in fields(CATALOGUES["zh-Hant"]):
        text = getattr(CATALOGUES["zh-Hant"], field.name)
        assert convert_text(text, "zh-Hant") == text, field.name
        assert convert_text(getattr(CATALOGUES["zh-Hans"], field.name), "zh-Hant") == text, field.name


def test_page_words_follow_lang():
    page = render_page(article(), mirror(lang="zh-Hant", public_url="https://git.test/n/blob/main", qr=True))
    text = page[0].data.decode("utf-8")
    assert "分享本頁：https://git.test/n/blob/main/pages/world/a1.md\n" in text
    assert 'alt="本頁二維碼"' in text and "原文：<http://site.test/2026/11/a1.html>" in text


def test_readme_words_follow_lang():
    source = Source(name="daily", title="日报", mirror="news", every=900, cron=None, channels=(channel(),))
    rows = [LedgerRow("news", "world", "a1", "pages/world/a1.md", "标题", "u", "daily", FETCHED, seq=1)]
    text = render_readme(mirror(lang="zh-Hans"), [source], {"world": rows}, FETCHED)
    assert "[全部 1 篇](indexes/world.md)" in text and text.endswith("最后更新：2026-11-26 09:00（协调世界时）\n")


# --- templates: every variable documented ----------------------------------------------------------------------


def documented(template: str) -> set[str]:
    """Return the variables docs/templates.md lists for a template (`words` is listed once, for all)."""
    text = TEMPLATES_DOC.read_text(encoding="utf-8")
    section = text.split(f"## `{template}`", 1)[1].split("\n## ", 1)[0]
    return set(DOC_ROW.findall(section))


@pytest.mark.parametrize("template", TEMPLATES)
def test_shipped_templates_use_only_documented_variables(template):
    env = environment(None)
    source, _, _ = env.loader.get_source(env, template)
    used = meta.find_undeclared_variables(env.parse(source))
    assert used, "the parse finds the variables"
    assert sorted(used - documented(template)) == [], f"undocumented in docs/templates.md ({template})"


def test_every_documented_variable_is_given(tmp_path):
    """A template asking for every documented variable finds each: the docs promise nothing the renderers do
    not pass."""
    folder = templates_dir(tmp_path, **{name.removesuffix(".md.j2"): " ".join(
        f"{{{{ {variable} is defined }}}}" for variable in sorted(documented(name))) for name in TEMPLATES})
    custom = mirror(templates=folder)
    rendered = {"page.md.j2": render_page(article(), custom)[0].data.decode("utf-8"),
                "index.md.j2": render_index(custom, "World", []),
                "readme.md.j2": render_readme(custom, [], {}, FETCHED)}
    for name, text in rendered.items():
        assert text.split() == ["True"] * len(documented(name)), name
