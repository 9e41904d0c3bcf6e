"""The config schema: every key with its parser, default and documentation, and the value parsers.

The one source of validation, `mirrord check`, config.example.toml and docs/configuration.md (the tests
keep the four in agreement). Parsers are pure: a raw TOML value in, a typed value out, or Invalid saying
what was expected.
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import SplitResult, urlsplit

from mirrord import __version__
from mirrord.catalogue import LANGUAGES
from mirrord.errors import without_secrets
from mirrord.variant import VARIANTS

NAME_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
DURATION_PATTERN = re.compile(r"(?:(\d+)([smhd]))+")
DURATION_PART = re.compile(r"(\d+)([smhd])")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
AUTHOR_PATTERN = re.compile(r"[^<>]+ <[^<>@\s]+@[^<>\s]+>")
HOST_PATTERN = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*")
COMMIT_FIELDS = {"time", "new", "pruned"}


class Invalid(ValueError):
    """Raised by a key's parser with what was expected."""


@dataclass(frozen=True)
class Key:
    """One config key: how to parse it, its default (None: absent) and its documentation."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    doc: str
    example: str


def describe(value: Any) -> str:
    """Return a short, readable rendering of a found value for error messages, credentials in URLs hidden."""
    text = without_secrets(repr(value))
    return text if len(text) <= 80 else text[:77] + "..."


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("a non-empty string")
    return value


def integer(minimum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise Invalid(f"a whole number of at least {minimum}")
        return value

    return parse


def number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise Invalid("a number of seconds above 0")
    return float(value)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("true or false")
    return value


def choice(*options: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in options:
            raise Invalid("one of " + ", ".join(repr(o) for o in options))
        return value

    return parse


def strings(item: Callable[[Any], Any]) -> Callable[[Any], tuple]:
    def parse(value: Any) -> tuple:
        if not isinstance(value, list):
            raise Invalid("a list of strings")
        return tuple(item(v) for v in value)

    return parse


def duration(value: Any) -> int:
    """Parse `every`: `90s`, `15m`, `1h30m`, `1d`."""
    if not isinstance(value, str) or not DURATION_PATTERN.fullmatch(value):
        raise Invalid("a duration such as '90s', '15m', '1h30m' or '1d'")
    seconds = sum(int(n) * UNIT_SECONDS[u] for n, u in DURATION_PART.findall(value))
    if seconds < 1:
        raise Invalid("a duration above zero")
    return seconds


def cron(value: Any) -> str:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(text(value))
    except ValueError as error:
        raise Invalid(f"a crontab expression of 5 fields ({error})") from None
    return value


def split_url(value: Any) -> SplitResult:
    """Return the parts of a URL; a malformed one (such as a broken IPv6 host) is Invalid, not a crash."""
    try:
        return urlsplit(text(value))
    except ValueError:
        raise Invalid("a well-formed URL") from None


def http_url(value: Any) -> str:
    parts = split_url(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("an http:// or https:// URL")
    if parts.username or parts.password:
        raise Invalid("a URL without credentials")
    return value


def proxy_url(value: Any) -> str:
    parts = split_url(value)
    if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
        raise Invalid("a proxy URL such as 'http://127.0.0.1:3128' or 'socks5://127.0.0.1:1080'")
    return value


def remote_url(value: Any) -> str:
    parts = split_url(value)
    if parts.username and parts.scheme in ("http", "https") or parts.password:
        raise Invalid("a remote URL without credentials (put an HTTPS token in the variable named by token_env)")
    return value


def host_name(value: Any) -> str:
    """Parse a host name or address as URLs carry it (lowercase, international names in their xn-- form)."""
    host = text(value).strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if not HOST_PATTERN.fullmatch(host):
        raise Invalid("a host name such as 'img.example.com' or an address such as '127.0.0.1', without scheme, "
                      "port or path (international names in their xn-- form)")
    return host


def selector(value: Any) -> str:
    from selectolax.lexbor import LexborHTMLParser, SelectolaxError

    try:
        LexborHTMLParser("<p></p>").css(text(value))
    except SelectolaxError:
        raise Invalid("a valid CSS selector") from None
    return value


def body_selector(value: Any) -> str:
    return value if value == "auto" else selector(value)


def id_rule(value: Any) -> str:
    if value in ("stem", "guid", "hash"):
        return value
    try:
        pattern = re.compile(text(value))
    except re.error as error:
        raise Invalid(f"'stem', 'guid', 'hash' or a regular expression ({error})") from None
    if pattern.groups < 1:
        raise Invalid("'stem', 'guid', 'hash' or a regular expression with a group for the id")
    return value


def listen_address(value: Any) -> str:
    host, _, port = text(value).rpartition(":")
    if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise Invalid("HOST:PORT such as '127.0.0.1:9105'")
    return value


def author(value: Any) -> str:
    if not AUTHOR_PATTERN.fullmatch(text(value)):
        raise Invalid("'Name <email>'")
    return value


def commit_message(value: Any) -> str:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(text(value)) if f is not None}
    except ValueError:
        fields = {"?"}
    if not fields <= COMMIT_FIELDS:
        raise Invalid("text whose only {fields} are {time}, {new} and {pruned}")
    return value


def env_name(value: Any) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text(value)):
        raise Invalid("the name of an environment variable")
    return value


VARIANT_DOC = "Chinese script titles and bodies are converted to (OpenCC): zh-Hans | zh-Hant [none: as published]"
IMAGE_HOSTS_DOC = ("hosts pictures may be downloaded from although they are at a loopback, private, link-local "
                   "or multicast address [none: public addresses only]")
HTTP_KEYS = (
    Key("user_agent", text, f"mirrord/{__version__}", "User-Agent header of every request", '"mirrord/0.1"'),
    Key("timeout", number, 30.0, "seconds a whole request may take", "30"),
    Key("concurrency", integer(1), 16, "requests in flight in all", "16"),
    Key("per_host", integer(1), 4, "requests in flight per host", "4"),
    Key("retries", integer(0), 3, "retries of a transient failure, backed off", "3"),
    Key("max_bytes", integer(1024), 10_000_000, "largest response read, in bytes", "10_000_000"),
    Key("proxy", proxy_url, None, "proxy for every request (http:// or socks5://)", '"socks5://127.0.0.1:1080"'),
)
METRICS_KEYS = (
    Key("listen", listen_address, None, "address serving Prometheus metrics while `run` runs", '"127.0.0.1:9105"'),
)
MIRROR_KEYS = (
    Key("title", text, None, "README heading [the mirror's name]", '"News mirror"'),
    Key("remotes", strings(remote_url), (), "git remotes pushed to [none: local only]",
        '["git@github.com:me/news.git"]'),
    Key("branch", text, "main", "branch published", '"main"'),
    Key("public_url", http_url, None, "where readers see the files; share links and QR codes [none]",
        '"https://github.com/me/news/blob/main"'),
    Key("keep", integer(0), 300, "pages kept per channel, oldest pruned; 0 keeps all", "300"),
    Key("links", choice("keep", "neutralize", "rewrite"), "rewrite",
        "keep | neutralize (links become text) | rewrite (links to pages of this mirror point there)", '"rewrite"'),
    Key("images", choice("hotlink", "download", "drop"), "download", "hotlink | download | drop", '"download"'),
    Key("image_hosts", strings(host_name), (), IMAGE_HOSTS_DOC, '["images.intranet.example"]'),
    Key("body", choice("html", "markdown"), "html", "html (sanitized) | markdown", '"html"'),
    Key("qr", boolean, None, "QR code PNG of each page's share link [true when public_url is set]", "true"),
    Key("header", text, None, "Markdown under each page title", '"[Home](../../README.md)"'),
    Key("footer", text, None, "Markdown at the end of each page", '"[Home](../../README.md)"'),
    Key("readme_header", text, None, "Markdown at the top of README.md", '"Mirrored news."'),
    Key("lang", choice(*LANGUAGES), "en", "language of every word mirrord writes for readers: en | zh-Hans | zh-Hant",
        '"zh-Hans"'),
    Key("variant", choice(*VARIANTS), None, VARIANT_DOC, '"zh-Hans"'),
    Key("front_page", integer(0), 5, "newest headlines of each channel on README.md; 0 lists the channels only",
        "5"),
    Key("templates", text, None, "folder with page.md.j2 / index.md.j2 / readme.md.j2 overriding the built-in ones",
        '"templates/"'),
    Key("commit_message", commit_message, "sync {time}: {new} new, {pruned} pruned",
        "commit message; {time}, {new} and {pruned} are filled in", '"sync {time}: {new} new, {pruned} pruned"'),
    Key("author", author, "mirrord <mirrord@localhost>", "commit author and committer",
        '"mirrord <mirrord@localhost>"'),
    Key("ssh_key", text, None, "private key for ssh remotes [ssh's defaults]", '"/etc/mirrord/deploy_key"'),
    Key("token_env", env_name, None, "environment variable holding an HTTPS token for https remotes",
        '"MIRRORD_TOKEN"'),
    Key("squash_after", integer(0), 0, "squash history to one commit when it passes this many; 0 never", "0"),
    Key("forget_pruned_after", duration, 180 * 86400, "how long the mirror's ledger (.mirrord/) remembers a pruned "
        "article, so that it is not published again while a site still lists it", '"180d"'),
)
RULE_KEYS = (
    Key("content", body_selector, None,
        'CSS selector of the article body; "auto" finds it without rules; absent: the feed entry\'s content',
        '"div.post_content"'),
    Key("lead", selector, None, "CSS selector of a block put before the body (picture, caption)",
        '"div.featured_image"'),
    Key("remove", strings(selector), (), "CSS selectors removed from lead and body", '["div.post_related", "iframe"]'),
    Key("id", id_rule, "stem", "stem | guid | hash | a regex whose first group is the id", '"stem"'),
    Key("exclude", strings(text), (), "articles whose title contains one of these are skipped", '["Sponsored"]'),
    Key("max_new", integer(1), None, "new articles fetched per channel per cycle, the newest first; the rest wait "
        "for later cycles [no cap: all new ones, but with keep set never more than twice keep]", "50"),
)
SOURCE_KEYS = (
    Key("title", text, None, "heading in README [the source's name]", '"NTD"'),
    Key("mirror", text, None, "mirror published to [the only mirror]", '"news"'),
    Key("every", duration, None, "poll interval: s/m/h/d [15m]", '"15m"'),
    Key("cron", cron, None, "crontab schedule instead of every", '"*/15 * * * *"'),
    *RULE_KEYS,
    Key("min_text", integer(0), 20, "articles with less extracted text are held back, not published", "20"),
    Key("give_up_after", duration, 7 * 86400, "a held-back article is tried again, less and less often, for this "
        "long, then given up until `mirrord retry` [7d]", '"7d"'),
    Key("variant", choice(*VARIANTS), None, VARIANT_DOC + ", overriding the mirror's", '"zh-Hant"'),
    Key("hosts", strings(text), None, "hosts article URLs may point to [the channel URLs' hosts]",
        '["www.ntdtv.com"]'),
    Key("image_hosts", strings(host_name), (), IMAGE_HOSTS_DOC + ", besides the mirror's",
        '["images.intranet.example"]'),
)
CHANNEL_KEYS = (
    Key("title", text, None, "index heading [the channel's name]", '"China"'),
    Key("url", http_url, None, "feed or listing page URL (required)", '"https://www.ntdtv.com/gb/prog204"'),
    Key("items", selector, None, "listing pages: selector of the article links; absent: the URL is a feed",
        '"div.list_wrapper div.one_post a[href]"'),
    # No defaults of their own: a rule a channel leaves out is its source's (see build_channel).
    *(replace(key, default=None) for key in RULE_KEYS),
)
TOP_KEYS = (
    Key("state_dir", text, None, "ledger, working clones [$STATE_DIRECTORY, else /var/lib/mirrord when it exists, "
        "else ~/.local/state/mirrord]", '"/var/lib/mirrord"'),
    Key("log_file", text, None, "status log [$LOGS_DIRECTORY/status.log, else /var/log/mirrord/status.log when "
        "state_dir is /var/lib/mirrord and /var/log/mirrord exists, else <state_dir>/status.log]",
        '"/var/log/mirrord/status.log"'),
)
TABLES = {"http": HTTP_KEYS, "metrics": METRICS_KEYS}
NAMED_TABLES = {"mirror": MIRROR_KEYS, "source": SOURCE_KEYS}


def all_key_paths() -> list[str]:
    """Return every key path the schema knows, with NAME for table names (used by docs and tests)."""
    paths = [k.name for k in TOP_KEYS]
    paths += [f"{table}.{k.name}" for table, keys in TABLES.items() for k in keys]
    paths += [f"{table}.NAME.{k.name}" for table, keys in NAMED_TABLES.items() for k in keys]
    paths += [f"source.NAME.channel.NAME.{k.name}" for k in CHANNEL_KEYS]
    return paths
