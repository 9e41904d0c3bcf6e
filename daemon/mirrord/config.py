"""Load and validate the TOML config against the schema (`schema`), and build the values the stages take.

Loading never stops at the first problem: every bad key is collected with its key path, what was
found and what was expected, so a user fixes the file in one go.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mirrord.errors import ConfigError, Problem
from mirrord.model import Channel, Config, HttpSettings, Mirror, Rules, Source
from mirrord.schema import (
    CHANNEL_KEYS,
    HTTP_KEYS,
    METRICS_KEYS,
    MIRROR_KEYS,
    NAME_PATTERN,
    NAMED_TABLES,
    RULE_KEYS,
    SOURCE_KEYS,
    TABLES,
    TOP_KEYS,
    Invalid,
    Key,
    describe,
)

SEARCH_PATHS = (Path("mirrord.toml"), Path("/etc/mirrord/config.toml"))
# The folders systemd makes for the service (StateDirectory=mirrord, LogsDirectory=mirrord): the defaults,
# when they exist, of commands run by hand, so that they share the service's state and log.
SYSTEM_STATE_DIR = Path("/var/lib/mirrord")
SYSTEM_LOGS_DIR = Path("/var/log/mirrord")


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


def select_mirrors(config: Config, names: Sequence[str]) -> Config:
    """Return the config with only the named mirrors and their sources (all when none is named), so that
    hosts can split the mirrors of one config between them. Raise ConfigError for a name it has not."""
    unknown = [name for name in names if name not in config.mirrors]
    if unknown:
        raise ConfigError(str(config.path), [Problem(
            "--mirror", ", ".join(unknown), "one of its mirrors: " + (", ".join(config.mirrors) or "none"))])
    if not names:
        return config
    return replace(config, mirrors={name: m for name, m in config.mirrors.items() if name in names},
                   sources={name: s for name, s in config.sources.items() if s.mirror in names})


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
    mirrors = with_source_variants(mirrors, [source for source in sources.values() if source is not None])
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
                  cron=values["cron"], channels=channels, variant=values["variant"])


def with_source_variants(mirrors: dict[str, Mirror], sources: list[Source]) -> dict[str, Mirror]:
    """Return the mirrors, each knowing the sources whose own variant overrides its own (render takes only the
    mirror)."""
    return {name: replace(mirror, source_variants=tuple((s.name, s.variant) for s in sources
                                                       if s.mirror == name and s.variant))
            for name, mirror in mirrors.items()}


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
                                                      image_hosts=source_values["image_hosts"],
                                                      give_up_after=source_values["give_up_after"]))


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
