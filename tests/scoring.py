"""Article-body extraction scoring for the test corpus.

Implements the metric of the scrapinghub article-extraction-benchmark:

* text is split into word tokens (``\\w+`` runs, case kept);
* each text becomes a *multiset* (Counter) of shingles, i.e. tuples of 4
  consecutive tokens (a text with fewer than 4 tokens gives one shorter
  shingle, an empty text none);
* per page, true positives are the shingles shared by truth and prediction
  (counted with multiplicity), false positives the surplus predicted ones,
  false negatives the missing true ones;
* precision and recall are averaged over pages (precision only over pages
  with a non-empty prediction, recall only over pages with a non-empty
  ground truth, as the benchmark does), and the overall score is the F1 of
  the two means.

One deliberate extension: scripts written without spaces between words
(Chinese/Japanese ideographs, kana, Thai) would otherwise form one giant
"word" per sentence, so every such character is a token of its own. Korean
(spaces between words) and all other scripts use plain ``\\w+`` runs, so the
scores of the benchmark's own pages are unchanged.

The module also holds the helpers the corpus tests need: reading a corpus
page (gunzipping ``.gz``), loading its ground truth, and ``extract_text``,
the reference implementation of the rule semantics used by
``tests/corpus_rules.py``.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from selectolax.lexbor import LexborHTMLParser, LexborNode

SHINGLE_SIZE = 4

# Characters that are tokens on their own: CJK ideographs (incl. extension
# A, compatibility ideographs and the supplementary planes), hiragana,
# katakana and Thai (which also may not be \w: its vowel marks are Mn).
_SPACELESS = (
    "\u0e00-\u0e7f"  # Thai
    "\u3040-\u30fa\u30fc-\u30ff"  # hiragana, katakana (not the ・ dot)
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0003134f"  # CJK extensions B-G
)
_TOKEN_RE = re.compile(rf"[{_SPACELESS}]|[^\W{_SPACELESS}]+")


# --------------------------------------------------------------------------
# Tokens, shingles, per-page counts
# --------------------------------------------------------------------------


def tokenize(text: str) -> list[str]:
    """Split ``text`` into word tokens.

    A token is a run of word characters (``\\w``), except that every
    CJK ideograph, kana or Thai character is a token by itself.
    """
    return _TOKEN_RE.findall(text or "")


def shingles(text: str, n: int = SHINGLE_SIZE) -> Counter[tuple[str, ...]]:
    """Multiset of the ``n``-token shingles of ``text``.

    Texts with fewer than ``n`` tokens give a single shorter shingle;
    texts without tokens give an empty Counter.
    """
    tokens = tokenize(text)
    if len(tokens) < n:
        return Counter([tuple(tokens)] if tokens else [])
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


class Counts(NamedTuple):
    """Shingle counts of one page: true positives, false pos., false neg."""

    tp: int
    fp: int
    fn: int


def shingle_counts(true: str, pred: str, n: int = SHINGLE_SIZE) -> Counts:
    """Compare the shingle multisets of ``true`` and ``pred``."""
    t, p = shingles(true, n), shingles(pred, n)
    tp = sum((t & p).values())
    return Counts(tp=tp, fp=sum(p.values()) - tp, fn=sum(t.values()) - tp)


def precision(c: Counts) -> float:
    """Precision of one page (1.0 when both texts are empty)."""
    if c.fp == c.fn == 0:
        return 1.0
    return c.tp / (c.tp + c.fp) if c.tp + c.fp else 0.0


def recall(c: Counts) -> float:
    """Recall of one page (1.0 when both texts are empty)."""
    if c.fp == c.fn == 0:
        return 1.0
    return c.tp / (c.tp + c.fn) if c.tp + c.fn else 0.0


def f1(p: float, r: float) -> float:
    """Harmonic mean of a precision and a recall (0.0 if both are 0)."""
    return 2 * p * r / (p + r) if p + r else 0.0


class PageScore(NamedTuple):
    precision: float
    recall: float
    f1: float


def score_page(true: str, pred: str) -> PageScore:
    """Precision, recall and F1 of one extracted text against its truth."""
    c = shingle_counts(true, pred)
    p, r = precision(c), recall(c)
    return PageScore(p, r, f1(p, r))


def mean_precision_recall(counts: Iterable[Counts]) -> tuple[float, float]:
    """Benchmark averaging: mean precision over pages that predicted
    something, mean recall over pages whose truth is non-empty."""
    counts = list(counts)
    ps = [precision(c) for c in counts if c.tp + c.fp > 0]
    rs = [recall(c) for c in counts if c.tp + c.fn > 0]
    return (sum(ps) / len(ps) if ps else 0.0, sum(rs) / len(rs) if rs else 0.0)


# --------------------------------------------------------------------------
# Corpus access
# --------------------------------------------------------------------------


def read_page(corpus_dir: Path, rel_path: str) -> str:
    """Text of a corpus page; ``.gz`` files are decompressed. UTF-8."""
    data = (Path(corpus_dir) / rel_path).read_bytes()
    if rel_path.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8")


def load_groundtruth(corpus_dir: Path, rel_path: str) -> str | None:
    """Expected body text of a corpus page, or None if it has none.

    * ``articles/aeb/<sha>.html.gz`` -> ``groundtruth/aeb/<sha>.json``
      (``{"<sha>": {"articleBody": ..., "url": ...}}``);
    * ``articles/newspaper4k/<site>.<name>.html`` ->
      ``groundtruth/newspaper4k/<name>.txt``.
    """
    corpus_dir = Path(corpus_dir)
    parts = rel_path.split("/")
    if parts[:2] == ["articles", "aeb"]:
        sha = parts[2].split(".")[0]
        path = corpus_dir / "groundtruth" / "aeb" / f"{sha}.json"
        if path.is_file():
            entry = json.loads(path.read_text(encoding="utf-8"))
            return entry[sha].get("articleBody", "")
    elif parts[:2] == ["articles", "newspaper4k"]:
        name = parts[2].removesuffix(".html").rsplit(".", 1)[-1]
        path = corpus_dir / "groundtruth" / "newspaper4k" / f"{name}.txt"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


# --------------------------------------------------------------------------
# Reference extraction (rule semantics)
# --------------------------------------------------------------------------

ALWAYS_REMOVED = "script, style, noscript, template"

# Elements whose start and end break the text into separate lines.
BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "center",
        "dd",
        "details",
        "dialog",
        "dir",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "hr",
        "html",
        "li",
        "main",
        "menu",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)

_SPACES_RE = re.compile(r"[^\S\n]+")


def _block_text(node: LexborNode) -> str:
    """Text of ``node`` with a newline around every block element and at
    every ``<br>``; whitespace runs inside a line collapse to one space,
    blank lines are dropped."""
    out: list[str] = []

    def walk(n: LexborNode) -> None:
        for child in n.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                out.append(child.text_content or "")
            elif tag == "br":
                out.append("\n")
            elif tag and not tag.startswith("-"):
                block = tag in BLOCK_TAGS
                if block:
                    out.append("\n")
                walk(child)
                if block:
                    out.append("\n")

    walk(node)
    lines = (_SPACES_RE.sub(" ", line).strip() for line in "".join(out).split("\n"))
    return "\n".join(line for line in lines if line)


def _outermost(nodes: list[LexborNode]) -> list[LexborNode]:
    """Drop every node that is a descendant of another node in the list."""
    ids = {n.mem_id for n in nodes}
    kept, seen = [], set()
    for n in nodes:
        if n.mem_id in seen:
            continue
        seen.add(n.mem_id)
        parent, nested = n.parent, False
        while parent is not None:
            if parent.mem_id in ids:
                nested = True
                break
            parent = parent.parent
        if not nested:
            kept.append(n)
    return kept


def select_body(html: str, rule: Mapping) -> list[LexborNode]:
    """Nodes making up the body under ``rule``: the ``lead`` matches, then
    the ``content`` matches in document order, after decomposing scripts,
    styles and every ``remove`` match from the whole document. Matches
    nested inside another match are dropped."""
    tree = LexborHTMLParser(html)
    doomed: list[LexborNode] = []
    for selector in [ALWAYS_REMOVED, *rule.get("remove", ())]:
        doomed.extend(tree.css(selector))
    # Outermost only: a node inside an already decomposed one is freed.
    for node in _outermost(doomed):
        node.decompose()
    lead = tree.css(rule["lead"]) if rule.get("lead") else []
    return _outermost(list(lead) + list(tree.css(rule["content"])))


def extract_text(html: str, rule: Mapping) -> str:
    """Body text of ``html`` under ``rule`` (see ``select_body``); blocks
    and matches are separated by newlines."""
    texts = (_block_text(n) for n in select_body(html, rule))
    return "\n".join(t for t in texts if t)


if __name__ == "__main__":  # per-page table over the corpus rules
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from corpus_rules import RULES

    corpus = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/corpus")
    all_counts = []
    for rel, rule in sorted(RULES.items()):
        text = extract_text(read_page(corpus, rel), rule)
        truth = load_groundtruth(corpus, rel)
        name = rel.split("/")[-1][:40]
        if truth is None:
            print(f"{name:<42} {'-':>5} {'-':>5} {'-':>5}  ({len(text)} chars)")
            continue
        c = shingle_counts(truth, text)
        all_counts.append(c)
        s = score_page(truth, text)
        print(f"{name:<42} {s.precision:5.3f} {s.recall:5.3f} {s.f1:5.3f}")
    mp, mr = mean_precision_recall(all_counts)
    print(f"{len(all_counts)} pages: P={mp:.4f} R={mr:.4f} F1={f1(mp, mr):.4f}")
