"""The config: example, docs and validator agree; every problem is reported at its key path; defaults; discovery;
and `mirrord check` / `once` as real processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mirrord import __version__
from mirrord import config as config_module
from mirrord.config import find_config_path, load_config
from mirrord.errors import ConfigError
from mirrord.schema import all_key_paths

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"
DOCS = ROOT / "docs" / "configuration.md"

TABLE_LINE = re.compile(r"^\[([^\]]+)\]")
KEY_LINE = re.compile(r"^(?:#\s*)?([a-z_]+)\s*=")
DOC_ROW = re.compile(r"^\| `([^`]+)` \|", re.MULTILINE)


def generic_table(table: str) -> str:
    """Return a table header with its names replaced by NAME: `source.a.channel.b` gives `source.NAME.channel.NAME`."""
    parts = table.split(".")
    return ".".join("NAME" if i % 2 else part for i, part in enumerate(parts))


def example_keys(text: str) -> list[tuple[str, int]]:
    """Return (key path, line index) of every key set or shown commented out in the example, in file order."""
    table, keys = "", []
    for index, line in enumerate(text.splitlines()):
        if match := TABLE_LINE.match(line):
            table = generic_table(match[1])
        elif match := KEY_LINE.match(line):
            keys.append((f"{table}.{match[1]}" if table else match[1], index))
    return keys


def first_occurrences(keys: list[tuple[str, int]]) -> dict[str, int]:
    seen: dict[str, int] = {}
    for path, index in keys:
        seen.setdefault(path, index)
    return seen


# --- example, docs and schema agree ------------------------------------------------------------------------------


def test_example_loads_without_problems():
    config = load_config(EXAMPLE, environ={})
    assert set(config.mirrors) == {"news"}
    ntdtv = config.sources["ntdtv"]
    listing = ntdtv.channels[0]
    assert listing.items == "div.list_wrapper div.one_post a[href]"
    assert (listing.rules.content, listing.rules.lead) == ("div.post_content", "div.featured_image")
    assert set(listing.rules.remove) == {"div.post_related", "iframe", "div.print_link"}
    feeds = [c for s in config.sources.values() for c in s.channels if c.is_feed]
    assert feeds, "the example shows a feed channel too"


def test_example_shows_every_schema_key_in_its_table_and_no_other():
    shown = set(first_occurrences(example_keys(EXAMPLE.read_text(encoding="utf-8"))))
    assert set(all_key_paths()) - shown == set(), "schema keys missing from config.example.toml"
    assert shown - set(all_key_paths()) == set(), "keys in config.example.toml the schema does not know"


def test_example_follows_schema_order():
    order = sorted(first_occurrences(example_keys(EXAMPLE.read_text(encoding="utf-8"))).items(), key=lambda i: i[1])
    assert [path for path, _ in order] == all_key_paths()


def test_example_comments_every_key_with_its_default():
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for path, index in first_occurrences(example_keys("\n".join(lines))).items():
        above = index - 1
        while above >= 0 and KEY_LINE.match(lines[above]):  # a run of commented keys shares one comment
            above -= 1
        comment = []
        while above >= 0 and lines[above].startswith("#") and not KEY_LINE.match(lines[above]):
            comment.append(lines[above])
            above -= 1
        assert comment, f"{path} has no comment above it"
        assert re.search(r"\[.+\]", " ".join(comment)), f"{path}: its comment gives no [default]"


def test_docs_document_exactly_the_schema_keys():
    documented = DOC_ROW.findall(DOCS.read_text(encoding="utf-8"))
    assert sorted(set(all_key_paths()) - set(documented)) == [], "schema keys missing from docs/configuration.md"
    assert sorted(set(documented) - set(all_key_paths())) == [], "docs/configuration.md documents unknown keys"
    assert len(documented) == len(set(documented)), "a key documented twice"


# --- every problem at once ---------------------------------------------------------------------------------------

BAD_CONFIG = """\
colour = "blue"

[metrics]
listen = "localhost:http"

[mirror.news]
colour = "red"
remotes = ["https://me:hunter2@github.com/me/news.git"]
author = "me"
commit_message = "sync {when}"

[source.a]
mirror = "news"
every = "often"
content = "div[[["
id = "(unclosed"
[source.a.channel.shared]
url = "https://a.example/feed.xml"

[source.b]
[source.b.channel.list]
url = "https://b.example/list"
items = "a[href]"

[source.c]
[source.c.channel.shared]
url = "https://c.example/feed.xml"

[source.d]
mirror = "missing"
[source.d.channel.d]
url = "http://[::1/feed"
"""

# key path, part of what was found, part of what was expected
BAD_CONFIG_PROBLEMS = [
    ("colour", "unknown key", "one of http, log_file, metrics, mirror, source, state_dir"),
    ("metrics.listen", "'localhost:http'", "HOST:PORT"),
    ("mirror.news.colour", "unknown key", "one of author, body, branch"),
    ("mirror.news.remotes", "https://***@github.com", "without credentials"),
    ("mirror.news.author", "'me'", "'Name <email>'"),
    ("mirror.news.commit_message", "{when}", "{time}, {new} and {pruned}"),
    ("source.a.every", "'often'", "a duration such as '90s'"),
    ("source.a.content", "'div[[['", "a valid CSS selector"),
    ("source.a.id", "'(unclosed'", "a regular expression"),
    ("source.b.channel.list.content", "nothing", "a content selector"),
    ("source.c.channel.shared", "source a uses too", "channel names unique within mirror news"),
    ("source.d.mirror", "'missing'", "the name of a [mirror.NAME] table"),
    ("source.d.channel.d.url", "'http://[::1/feed'", "a well-formed URL"),
]


def write(folder: Path, text: str, name: str = "mirrord.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_config_reports_every_problem_at_its_key_path(tmp_path):
    path = write(tmp_path, BAD_CONFIG)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    problems = {p.path: p for p in caught.value.problems}
    assert sorted(p.path for p in caught.value.problems) == sorted(path for path, _, _ in BAD_CONFIG_PROBLEMS)
    for key_path, found, expected in BAD_CONFIG_PROBLEMS:
        assert found in problems[key_path].found, key_path
        assert expected in problems[key_path].expected, key_path
    lines = str(caught.value).splitlines()
    assert all(re.fullmatch(rf"{re.escape(str(path))}: \S+: found .+, expected .+", line) for line in lines)
    assert "hunter2" not in str(caught.value)


# --- defaults ----------------------------------------------------------------------------------------------------

MINIMAL = """\
[mirror.news]
{mirror}

[source.s]
content = "div.post_content"
remove = ["iframe"]
id = "guid"
exclude = ["Ad"]

[source.s.channel.inherits]
url = "https://www.site.example/feed.xml"

[source.s.channel.overrides]
url = "https://cdn.site.example/list"
items = "a[href]"
content = "article"
remove = []
id = "hash"
"""


def load_minimal(tmp_path: Path, mirror: str = "", environ: dict | None = None):
    return load_config(write(tmp_path, MINIMAL.format(mirror=mirror)), environ=environ or {})


def test_defaults_of_mirror_source_and_http(tmp_path):
    config = load_minimal(tmp_path)
    mirror, source = config.mirrors["news"], config.sources["s"]
    assert (mirror.title, mirror.branch, mirror.keep, mirror.links, mirror.images, mirror.body) == (
        "news", "main", 300, "rewrite", "download", "html")
    assert (mirror.lang, mirror.variant, mirror.front_page, mirror.variant_of("s")) == ("en", None, 5, None)
    assert (mirror.qr, mirror.remotes, mirror.author) == (False, (), "mirrord <mirrord@localhost>")
    assert (source.mirror, source.every, source.cron, source.title) == ("news", 900, None, "s")
    assert config.http.user_agent == f"mirrord/{__version__}"
    assert (config.http.timeout, config.http.concurrency, config.http.per_host, config.http.retries) == (30, 16, 4, 3)
    assert config.metrics_listen is None


def test_configs_that_set_links_and_images_keep_them(tmp_path):
    mirror = load_minimal(tmp_path, 'links = "keep"\nimages = "hotlink"').mirrors["news"]
    assert (mirror.links, mirror.images) == ("keep", "hotlink")


def test_a_sources_variant_overrides_its_mirrors(tmp_path):
    path = write(tmp_path, MINIMAL.format(mirror='lang = "zh-Hant"\nvariant = "zh-Hant"').replace(
        "[source.s]\n", '[source.s]\nvariant = "zh-Hans"\n', 1))
    mirror = load_config(path, environ={}).mirrors["news"]
    assert (mirror.lang, mirror.variant_of("s"), mirror.variant_of("other")) == ("zh-Hant", "zh-Hans", "zh-Hant")


def test_lang_and_variant_are_checked(tmp_path):
    path = write(tmp_path, MINIMAL.format(mirror='lang = "fr"\nvariant = "zh-TW"\nfront_page = -1'))
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert {p.path for p in raised.value.problems} == {
        "mirror.news.lang", "mirror.news.variant", "mirror.news.front_page"}


@pytest.mark.parametrize(("mirror", "qr"), [
    ('public_url = "https://github.com/me/news/blob/main"', True),
    ('public_url = "https://github.com/me/news/blob/main"\nqr = false', False),
    ("", False),
    ("qr = true", True),
])
def test_qr_defaults_to_having_a_public_url(tmp_path, mirror, qr):
    assert load_minimal(tmp_path, mirror).mirrors["news"].qr is qr


def test_channel_rules_inherit_from_source_and_override_per_channel(tmp_path):
    inherits, overrides = load_minimal(tmp_path).sources["s"].channels
    assert (inherits.rules.content, inherits.rules.remove, inherits.rules.id, inherits.rules.exclude) == (
        "div.post_content", ("iframe",), "guid", ("Ad",))
    assert (overrides.rules.content, overrides.rules.remove, overrides.rules.id, overrides.rules.exclude) == (
        "article", (), "hash", ("Ad",))


def test_hosts_default_to_the_channel_url_hosts(tmp_path):
    for channel in load_minimal(tmp_path).sources["s"].channels:
        assert channel.rules.hosts == {"www.site.example", "cdn.site.example"}
    text = MINIMAL.format(mirror="").replace('id = "guid"', 'id = "guid"\nhosts = ["other.example"]')
    config = load_config(write(tmp_path, text), environ={})
    assert config.sources["s"].channels[0].rules.hosts == {"other.example"}


def test_image_hosts_of_the_mirror_and_the_source_add_up_in_each_channel(tmp_path):
    for channel in load_minimal(tmp_path).sources["s"].channels:
        assert channel.rules.image_hosts == frozenset()
    text = MINIMAL.format(mirror='image_hosts = ["127.0.0.1", "Images.Intranet.example."]').replace(
        'id = "guid"', 'id = "guid"\nimage_hosts = ["[::1]"]')
    config = load_config(write(tmp_path, text), environ={})
    assert config.mirrors["news"].image_hosts == {"127.0.0.1", "images.intranet.example"}
    for channel in config.sources["s"].channels:
        assert channel.rules.image_hosts == {"127.0.0.1", "images.intranet.example", "::1"}


def test_image_hosts_are_host_names_or_addresses(tmp_path):
    text = MINIMAL.format(mirror='image_hosts = ["http://127.0.0.1/"]').replace(
        'id = "guid"', 'id = "guid"\nimage_hosts = ["localhost:8080"]')
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ={})
    assert {p.path: p.found for p in caught.value.problems} == {
        "mirror.news.image_hosts": "['http://127.0.0.1/']", "source.s.image_hosts": "['localhost:8080']"}
    assert "without scheme, port or path" in caught.value.problems[0].expected


@pytest.mark.parametrize(("environ", "state_dir", "log_file"), [
    ({"STATE_DIRECTORY": "/srv/state:/srv/more", "LOGS_DIRECTORY": "/srv/logs"}, "/srv/state", "/srv/logs/status.log"),
    ({"STATE_DIRECTORY": "/srv/state"}, "/srv/state", "/srv/state/status.log"),
    ({}, str(Path("~/.local/state/mirrord").expanduser()),
     str(Path("~/.local/state/mirrord/status.log").expanduser())),
])
def test_state_dir_and_log_file_from_systemd_directories(tmp_path, monkeypatch, environ, state_dir, log_file):
    monkeypatch.setattr(config_module, "SYSTEM_STATE_DIR", tmp_path / "no" / "var" / "lib" / "mirrord")
    monkeypatch.setattr(config_module, "SYSTEM_LOGS_DIR", tmp_path / "no" / "var" / "log" / "mirrord")
    config = load_minimal(tmp_path, environ=environ)
    assert (config.state_dir, config.log_file) == (Path(state_dir), Path(log_file))


@pytest.mark.parametrize(("top", "logs_exist", "state_dir", "log_file"), [
    ("", True, "{lib}", "{log}/status.log"),  # the service's folders, used by hand as by the service
    ("", False, "{lib}", "{lib}/status.log"),
    ('state_dir = "{lib}"', True, "{lib}", "{log}/status.log"),  # the log goes with the service's state
    ('state_dir = "{tmp}/own"', True, "{tmp}/own", "{tmp}/own/status.log"),  # and only with it
])
def test_commands_by_hand_default_to_the_services_folders_when_they_exist(tmp_path, monkeypatch, top, logs_exist,
                                                                            state_dir, log_file):
    lib, log = tmp_path / "var" / "lib" / "mirrord", tmp_path / "var" / "log" / "mirrord"
    lib.mkdir(parents=True)
    if logs_exist:
        log.mkdir(parents=True)
    monkeypatch.setattr(config_module, "SYSTEM_STATE_DIR", lib)
    monkeypatch.setattr(config_module, "SYSTEM_LOGS_DIR", log)
    names = {"lib": lib, "log": log, "tmp": tmp_path}
    config = load_config(write(tmp_path, top.format(**names) + "\n" + MINIMAL.format(mirror="")), environ={})
    assert (config.state_dir, config.log_file) == (Path(state_dir.format(**names)), Path(log_file.format(**names)))


def test_relative_paths_are_relative_to_the_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "etc"
    folder.mkdir()
    text = 'state_dir = "state"\nlog_file = "logs/status.log"\n' + MINIMAL.format(mirror='templates = "tpl"')
    monkeypatch.chdir(tmp_path)  # elsewhere than the config's folder
    config = load_config(Path("etc") / write(folder, text).name, environ={"STATE_DIRECTORY": "/ignored"})
    assert config.state_dir == folder / "state"
    assert config.log_file == folder / "logs" / "status.log"
    assert config.mirrors["news"].templates == folder / "tpl"


# --- discovery ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("given", "environ", "expected"), [
    ("given.toml", {"MIRRORD_CONFIG": "env.toml"}, "given.toml"),
    (None, {"MIRRORD_CONFIG": "env.toml"}, "env.toml"),
    (None, {}, "mirrord.toml"),
])
def test_discovery_order(tmp_path, monkeypatch, given, environ, expected):
    monkeypatch.chdir(tmp_path)
    for name in ("given.toml", "env.toml", "mirrord.toml"):
        write(tmp_path, "", name)
    assert find_config_path(given, environ) == Path(expected)


# --- the command line as real processes --------------------------------------------------------------------------


def run_mirrord(*args: str, cwd: Path, environ: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MIRRORD_CONFIG", "STATE_DIRECTORY", "LOGS_DIRECTORY")}
    env.update(environ or {})
    return subprocess.run([sys.executable, "-m", "mirrord", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_check_accepts_the_example(tmp_path):
    result = run_mirrord("-c", str(EXAMPLE), "check", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert "OK" in result.stdout


def test_check_lists_every_problem_of_a_bad_config(tmp_path):
    result = run_mirrord("-c", str(write(tmp_path, BAD_CONFIG)), "check", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for key_path, _, _ in BAD_CONFIG_PROBLEMS:
        assert f": {key_path}: found " in result.stderr, key_path
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(("text", "message"), [
    ("[mirror.news\nkeep = 3\n", "invalid TOML"),
    (None, "expected a readable file"),
])
def test_check_explains_unreadable_configs(tmp_path, text, message):
    path = write(tmp_path, text) if text is not None else tmp_path / "absent.toml"
    result = run_mirrord("-c", str(path), "check", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr


def test_environment_config_beats_the_local_file(tmp_path):
    write(tmp_path, EXAMPLE.read_text(encoding="utf-8"))
    bad = write(tmp_path, BAD_CONFIG, "bad.toml")
    assert run_mirrord("check", cwd=tmp_path).returncode == 0
    result = run_mirrord("check", cwd=tmp_path, environ={"MIRRORD_CONFIG": str(bad)})
    assert result.returncode == 2 and str(bad) in result.stderr


def test_once_refuses_a_bad_config(tmp_path):
    result = run_mirrord("-c", str(write(tmp_path, BAD_CONFIG)), "once", "--dry-run", cwd=tmp_path)
    assert result.returncode == 2
    assert "source.a.every" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "mirrord.toml"], "a bad config writes nothing"
