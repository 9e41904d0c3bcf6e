"""Decode HTML bytes to text before parsing: Lexbor wants text, and sites lie about charsets.

Order: the HTTP charset, a byte order mark, a `<meta charset>` in the first bytes, then detection.
GB2312 and GBK are read as GB18030, their superset, because pages labelled GB2312 routinely
carry characters only GBK/GB18030 define.
"""

from __future__ import annotations

import codecs
import re

SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030",
             "big5": "big5hkscs", "iso-8859-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252",
             "ascii": "cp1252"}
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def charset_of(content_type: str) -> str | None:
    """Return the charset parameter of a Content-Type header, if any."""
    for part in content_type.split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def usable_codec(label: str | None) -> str | None:
    """Return the Python codec for a charset label (widened to its superset), or None if unknown."""
    if not label:
        return None
    label = SUPERSETS.get(label.lower(), label.lower())
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def sniff_codec(body: bytes) -> str | None:
    """Return the codec a BOM or an early <meta charset> names."""
    for bom, name in BOMS:
        if body.startswith(bom):
            return name
    match = META_CHARSET.search(body[:4096])
    return usable_codec(match.group(1).decode("ascii", "replace")) if match else None


def decode_html(body: bytes, content_type: str = "") -> str:
    """Return the text of an HTML document, trying the declared encodings before guessing."""
    for codec in (usable_codec(charset_of(content_type)), sniff_codec(body)):
        if codec:
            try:
                return body.decode(codec)
            except UnicodeDecodeError:
                continue
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes  # only for pages that say nothing true of their charset

        guess = from_bytes(body[:200_000]).best()
        codec = usable_codec(guess.encoding) if guess else None
        return body.decode(codec or "utf-8", errors="replace")
