"""Load and validate the TOML config: one schema serves validation, `check`, the example and the docs.

Loading never stops at the first problem: every bad key is collected with its key path, what was
found and what was expected, so a user fixes the file in one go.
"""

from __future__ import annotations

import ipaddress
import os
import re
import string
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from mirrord import __version__
from mirrord.errors import ConfigError, Problem, without_secrets
from mirrord.model import Channel, Config, HttpSettings, Mirror, Rules, Source

SEARCH_PATHS = (Path("mirrord.toml"), Path("/etc/mirrord/config.toml"))
# The folders systemd makes for the service (StateDirectory=mirrord, LogsDirectory=mirrord): the defaults,
# when they exist, of commands run by hand, so that they share the service's state and log.
SYSTEM_STATE_DIR = Path("/var/lib/mirrord")
SYSTEM_LOGS_DIR = Path("/var/log/mirrord")
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
    Key("links", choice("keep", "neutralize", "rewrite"), "keep",
        "keep | neutralize (links become text) | rewrite (links to pages of this mirror point there)", '"keep"'),
    Key("images", choice("hotlink", "download", "drop"), "hotlink", "hotlink | download | drop", '"hotlink"'),
    Key("image_hosts", strings(host_name), (), IMAGE_HOSTS_DOC, '["images.intranet.example"]'),
    Key("body", choice("html", "markdown"), "html", "html (sanitized) | markdown", '"html"'),
    Key("qr", boolean, None, "QR code PNG of each page's share link [true when public_url is set]", "true"),
    Key("header", text, None, "Markdown under each page title", '"[Home](../../README.md)"'),
    Key("footer", text, None, "Markdown at the end of each page", '"[Home](../../README.md)"'),
    Key("readme_header", text, None, "Markdown at the top of README.md", '"Mirrored news."'),
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
)
SOURCE_KEYS = (
    Key("title", text, None, "heading in README [the source's name]", '"NTD"'),
    Key("mirror", text, None, "mirror published to [the only mirror]", '"news"'),
    Key("every", duration, None, "poll interval: s/m/h/d [15m]", '"15m"'),
    Key("cron", cron, None, "crontab schedule instead of every", '"*/15 * * * *"'),
    *RULE_KEYS,
    Key("min_text", integer(0), 20, "articles with less extracted text are held back, not published", "20"),
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


class Collector:
    """Gathers problems while values are read, so that all are reported at once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, found: str, expected: str) -> None:
        """Note a problem; only the first at a key path, as later ones (a bad url then "no url") follow from it."""
        if all(problem.path != path for problem in self.problems):
            self.problems.append(Problem(path, found, expected))

    def table(self, raw: Any, keys: tuple[Key, ...], path: str, nested: tuple[str, ...] = ()) -> dict[str, Any]:
        """Return the keys of one table parsed, defaults filled; unknown keys and bad values noted."""
        if not isinstance(raw, Mapping):
            self.add(path, describe(raw), "a table")
            return {k.name: k.default for k in keys}
        known = {k.name for k in keys} | set(nested)
        for name in raw:
            if name not in known:
                self.add(join(path, name), "an unknown key", "one of " + ", ".join(sorted(known)))
        return {key.name: self.value(raw, key, path) for key in keys}

    def value(self, raw: Mapping, key: Key, path: str) -> Any:
        if key.name not in raw:
            return key.default
        try:
            return key.parse(raw[key.name])
        except Invalid as error:
            self.add(join(path, key.name), describe(raw[key.name]), str(error))
            return key.default

    def named(self, raw: Any, path: str) -> dict[str, Any]:
        """Return the sub-tables of a table keyed by name, checking each name is usable as a file name."""
        if not isinstance(raw, Mapping):
            self.add(path, describe(raw), "a table of named tables")
            return {}
        for name in raw:
            if not NAME_PATTERN.fullmatch(name):
                self.add(join(path, name), "a name that cannot be a file name",
                         "letters, digits, '.', '_' and '-', not starting with '.'")
        return {n: t for n, t in raw.items() if NAME_PATTERN.fullmatch(n)}


def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def find_config_path(given: str | None, environ: Mapping[str, str]) -> Path:
    """Return the config file: -c, then $MIRRORD_CONFIG, then ./mirrord.toml, then /etc/mirrord/config.toml."""
    if given:
        return Path(given)
    if environ.get("MIRRORD_CONFIG"):
        return Path(environ["MIRRORD_CONFIG"])
    for candidate in SEARCH_PATHS:
        if candidate.is_file():
            return candidate
    raise ConfigError("mirrord.toml", [Problem(
        "(config file)", "none at ./mirrord.toml or /etc/mirrord/config.toml",
        "a config given with -c PATH or $MIRRORD_CONFIG (start from config.example.toml)")])


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config at path. Raise ConfigError listing every problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        problem = Problem("(config file)", error.strerror or str(error), "a readable file")
        raise ConfigError(str(path), [problem]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), [Problem("(config file)", f"invalid TOML ({error})", "valid TOML")]) from None
    return parse_config(data, path, os.environ if environ is None else environ)


def parse_config(data: Mapping[str, Any], path: Path, environ: Mapping[str, str]) -> Config:
    """Turn parsed TOML into a Config. Raise ConfigError listing every problem."""
    found = Collector()
    top = found.table(data, TOP_KEYS, "", nested=(*TABLES, *NAMED_TABLES))
    http = found.table(data.get("http", {}), HTTP_KEYS, "http")
    metrics = found.table(data.get("metrics", {}), METRICS_KEYS, "metrics")
    mirrors = {name: build_mirror(name, found.table(raw, MIRROR_KEYS, f"mirror.{name}"), path)
               for name, raw in found.named(data.get("mirror", {}), "mirror").items()}
    sources = {name: build_source(name, raw, mirrors, found)
               for name, raw in found.named(data.get("source", {}), "source").items()}
    check_whole(mirrors, sources, found)
    if found.problems:
        raise ConfigError(str(path), found.problems)
    state_dir, state_dir_from = resolve_state_dir(top["state_dir"], path, environ)
    log_file, log_file_from = resolve_log_file(top["log_file"], path, state_dir, environ)
    return Config(
        path=path,
        state_dir=state_dir,
        log_file=log_file,
        http=HttpSettings(**http),
        metrics_listen=metrics["listen"],
        mirrors=mirrors,
        sources={name: source for name, source in sources.items() if source is not None},
        state_dir_from=state_dir_from,
        log_file_from=log_file_from,
    )


def resolve_state_dir(value: str | None, config_path: Path, environ: Mapping[str, str]) -> tuple[Path, str]:
    """Return the state folder and where it comes from: the config, else systemd's $STATE_DIRECTORY (the
    service), else the folder the units give the service when it exists (so that commands run by hand
    use the service's state), else the user's own."""
    if value:
        return relative_to_config(value, config_path), "state_dir in the config"
    if environ.get("STATE_DIRECTORY"):
        return Path(environ["STATE_DIRECTORY"].split(":")[0]), "$STATE_DIRECTORY"
    if SYSTEM_STATE_DIR.is_dir():
        return SYSTEM_STATE_DIR, f"state_dir and $STATE_DIRECTORY unset, and {SYSTEM_STATE_DIR} exists"
    return Path("~/.local/state/mirrord").expanduser(), \
        f"the default: state_dir and $STATE_DIRECTORY unset, and no {SYSTEM_STATE_DIR}"


def resolve_log_file(value: str | None, config_path: Path, state_dir: Path,
                     environ: Mapping[str, str]) -> tuple[Path, str]:
    """Return the status log and where it comes from: the config, else systemd's $LOGS_DIRECTORY (the
    service), else the service's log folder when state_dir is the service's (the log goes with the state),
    else beside the state."""
    if value:
        return relative_to_config(value, config_path), "log_file in the config"
    if environ.get("LOGS_DIRECTORY"):
        return Path(environ["LOGS_DIRECTORY"].split(":")[0]) / "status.log", "$LOGS_DIRECTORY"
    if state_dir == SYSTEM_STATE_DIR and SYSTEM_LOGS_DIR.is_dir():
        return SYSTEM_LOGS_DIR / "status.log", \
            f"log_file and $LOGS_DIRECTORY unset, state_dir is {SYSTEM_STATE_DIR} and {SYSTEM_LOGS_DIR} exists"
    return state_dir / "status.log", "the default, beside the state: log_file and $LOGS_DIRECTORY unset"


def relative_to_config(value: str, config_path: Path) -> Path:
    """Read relative paths in the config as relative to the config file's folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (config_path.parent / path).resolve()


def build_mirror(name: str, values: dict[str, Any], config_path: Path) -> Mirror:
    public_url = values["public_url"].rstrip("/") if values["public_url"] else None
    templates = relative_to_config(values["templates"], config_path) if values["templates"] else None
    qr = values["qr"] if values["qr"] is not None else public_url is not None
    return Mirror(**{**values, "name": name, "title": values["title"] or name, "public_url": public_url,
                     "templates": templates, "qr": qr, "remotes": tuple(values["remotes"]),
                     "image_hosts": frozenset(values["image_hosts"])})


def build_source(name: str, raw: Any, mirrors: dict[str, Mirror], found: Collector) -> Source | None:
    path = f"source.{name}"
    values = found.table(raw, SOURCE_KEYS, path, nested=("channel",))
    if values["every"] is not None and values["cron"] is not None:
        found.add(f"{path}.cron", "both every and cron", "one of every or cron")
    mirror = pick_mirror(values["mirror"], mirrors, path, found)
    channel_tables = found.named(raw.get("channel", {}) if isinstance(raw, Mapping) else {}, f"{path}.channel")
    if not channel_tables:
        found.add(f"{path}.channel", "no channel", "at least one [source.NAME.channel.NAME] table")
    parsed = {n: found.table(t, CHANNEL_KEYS, f"{path}.channel.{n}") for n, t in channel_tables.items()}
    default_hosts = frozenset(urlsplit(c["url"]).hostname for c in parsed.values() if c["url"])
    # Pictures may come from the hosts the source names and those its mirror names.
    image_hosts = frozenset(values["image_hosts"]) | (mirrors[mirror].image_hosts if mirror in mirrors else frozenset())
    values = {**values, "image_hosts": image_hosts}
    channels = tuple(build_channel(name, n, c, values, default_hosts, found) for n, c in parsed.items())
    every = values["every"] if values["every"] or values["cron"] else 15 * 60
    return Source(name=name, title=values["title"] or name, mirror=mirror or "", every=every,
                  cron=values["cron"], channels=channels)


def pick_mirror(named: str | None, mirrors: dict[str, Mirror], path: str, found: Collector) -> str | None:
    if named is not None:
        if named not in mirrors:
            found.add(f"{path}.mirror", describe(named), "the name of a [mirror.NAME] table")
        return named
    if len(mirrors) == 1:
        return next(iter(mirrors))
    found.add(f"{path}.mirror", "no mirror", "one of " + ", ".join(sorted(mirrors)) if mirrors
              else "a [mirror.NAME] table to publish to")
    return None


def build_channel(source: str, name: str, values: dict[str, Any], source_values: dict[str, Any],
                  default_hosts: frozenset[str], found: Collector) -> Channel:
    path = f"source.{source}.channel.{name}"
    if values["url"] is None:
        found.add(f"{path}.url", "nothing", "the URL of the feed or listing page")
    rules = {k.name: values[k.name] if values[k.name] is not None else source_values[k.name]
             for k in RULE_KEYS}
    if values["items"] is not None and rules["content"] is None:
        found.add(f"{path}.content", "nothing",
                  "a content selector (or \"auto\") on the channel or its source: a listing channel has no feed text")
    hosts = frozenset(source_values["hosts"]) if source_values["hosts"] is not None else default_hosts
    return Channel(name=name, title=values["title"] or name, source=source, url=values["url"] or "",
                   items=values["items"], rules=Rules(**rules, min_text=source_values["min_text"], hosts=hosts,
                                                      image_hosts=source_values["image_hosts"]))


def check_whole(mirrors: dict[str, Mirror], sources: dict[str, Source | None], found: Collector) -> None:
    """Check what no single table can: at least one mirror; channel names unique per mirror."""
    if not mirrors:
        found.add("mirror", "no mirror", "at least one [mirror.NAME] table")
    owners: dict[tuple[str, str], str] = {}
    for source in sources.values():
        for channel in source.channels if source else ():
            key = (source.mirror, channel.name)
            if key in owners and owners[key] != source.name:
                found.add(f"source.{source.name}.channel.{channel.name}", f"a name source {owners[key]} uses too",
                          f"channel names unique within mirror {source.mirror}")
            owners.setdefault(key, source.name)
