"""An article's identity: what makes two links one article. Pure functions over strings.

The ledger is keyed by it, so it must never merge two articles (a lossy key loses articles silently)
and should merge the copies of one (a republished article is noise). Page names are not identities.
"""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urlsplit, urlunsplit

# Query parameters that say where a reader came from, not which article: dropped from identities.
TRACKING_PARAMETER = re.compile(r"utm_\w+|fbclid|gclid|dclid|msclkid|yclid|igshid|mc_cid|mc_eid|_ga|_gl|spm|"
                                r"ref_src|cmpid", re.IGNORECASE)
DEFAULT_PORTS = {"http": 80, "https": 443}


def article_url(link: str, guid: str | None = None) -> str:
    """Return the URL an item is known by: its link without the fragment, which names a place in a page
    (`#comments` is the same article), unless the feed gives the item a guid of its own, as feeds whose
    items are anchors of one page do."""
    url, fragment = urldefrag(link)
    return link if fragment and guid and guid.strip() != url else url


def identity(url: str) -> str:
    """Return an article's identity: its URL as `//host[:port]/path?query#fragment`, where http and https
    are one article, the host's case and a default port do not matter, and tracking parameters are
    dropped (the others keep their order)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    host = (parts.hostname or "").lower()
    netloc = host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    query = "&".join(pair for pair in parts.query.split("&")
                     if pair and not TRACKING_PARAMETER.fullmatch(pair.split("=", 1)[0]))
    return urlunsplit(("", netloc, parts.path or "/", query, parts.fragment))
