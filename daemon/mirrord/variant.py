"""One Chinese script per mirror: titles and bodies converted with OpenCC's phrase dictionaries.

OpenCC is imported only when a mirror or source sets `variant`, so that mirrors without one never load
it. `zh-Hans` converts with OpenCC's `t2s` (traditional to simplified), `zh-Hant` with `s2t`: both look up
phrases before characters (頭髮 and 發展 are two different 发).
"""

from __future__ import annotations

import re
from functools import lru_cache

VARIANTS = {"zh-Hans": "t2s", "zh-Hant": "s2t"}
# A tag of sanitized HTML, its attributes quoted: what is between tags is text, the rest is left alone (URLs
# may hold Chinese characters that must stay as the site wrote them).
TAG = re.compile(r"""(<(?:[^>"']|"[^"]*"|'[^']*')*>)""")
# The attributes of a tag that readers read (a picture's text, a link's tooltip), quoted as the sanitizer writes.
READ_ATTRIBUTE = re.compile(r'(\s(?:alt|title)=")([^"]*)(")')


@lru_cache(maxsize=len(VARIANTS))
def converter(variant: str):
    import opencc

    return opencc.OpenCC(VARIANTS[variant])


def convert_text(text: str, variant: str | None) -> str:
    """Return text in the variant's script (unchanged when there is no variant)."""
    return converter(variant).convert(text) if variant and text else text


def convert_html(fragment: str, variant: str | None) -> str:
    """Return an HTML fragment with its text (and its pictures' and links' alt and title) in the variant's script;
    tags and the other attributes (addresses above all) as they were."""
    if not variant or not fragment:
        return fragment
    parts = TAG.split(fragment)
    parts[::2] = [convert_text(part, variant) for part in parts[::2]]
    parts[1::2] = [READ_ATTRIBUTE.sub(lambda m: m[1] + convert_text(m[2], variant) + m[3], tag) for tag in parts[1::2]]
    return "".join(parts)

