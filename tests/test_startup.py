"""Import hygiene: `--version`, `check` and `status` start in a blink because they load none of the libraries a
cycle needs (HTTP, git, parsing, rendering, logging, the daemon's); each command imports what it uses when it
runs (cli.py). A cycle with nothing new (every channel answers 304) loads only what reading channels needs:
no git, nothing that extracts or renders an article, no rich when its output is not a terminal. A module
imported at the top of one the commands share brings its library back: these tests name it.
bench/startup.py and bench/cold.py measure the start-up times themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from mirrord.state import State

from fixture_site import channel_url, populate
from httpsite import Site
from mirror_run import bare_repository, mirrord, write_config

# What a cycle loads and these commands must not: third-party libraries, and asyncio, whose import alone
# costs more than half of the start-up of `--version`; and what only a cycle that publishes needs: git, the
# extraction's worker processes, the progress display.
HEAVY = ("rich", "git", "feedparser", "jinja2", "httpx", "httpcore", "nh3", "charset_normalizer", "structlog",
         "selectolax", "apscheduler", "prometheus_client", "trafilatura", "lxml", "zxingcpp", "segno", "opencc",
         "asyncio", "sqlite3", "multiprocessing", "rich.progress", "xml.etree.ElementTree", "mirrord.extract",
         "mirrord.markdown", "mirrord.budget", "mirrord.workers")
# What each command needs of them: `check` validates CSS selectors with the parser that will run them, and
# `status` reads the state database and draws tables.
NEEDED = {"import": set(), "--version": set(), "check": {"selectolax"}, "status": {"selectolax", "sqlite3", "rich"}}
# A cycle with nothing new reads its channels over HTTP, logs, and keeps its state; it still renders the index
# of each channel it polled (commit.checked: a title may have changed in the config), hence jinja2; and the
# commit module it runs imports the feeds module (xml.etree).
QUIET_CYCLE = {"selectolax", "sqlite3", "asyncio", "httpx", "httpcore", "structlog", "jinja2", "xml.etree.ElementTree"}

LOADED = """
import json, sys
heavy = json.loads(sys.argv[1])
import mirrord.cli
if sys.argv[2] != "import":
    try:
        mirrord.cli.main(sys.argv[3:])
    except SystemExit:
        pass
print(json.dumps(sorted(name for name in heavy if name in sys.modules)), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid config of a listing channel, a feed channel and a remote, with a state for `status` to read."""
    folder = tmp_path_factory.mktemp("startup")
    State(folder / "state" / "state.sqlite3").close()
    path = folder / "mirrord.toml"
    path.write_text(f'state_dir = "{folder / "state"}"\n\n[mirror.news]\nremotes = ["{folder / "remote.git"}"]\n'
                    'public_url = "https://git.example/me/news/blob/main"\n\n'
                    '[source.site]\ncontent = "div.post_content"\nremove = ["div.ad"]\nevery = "30m"\n\n'
                    '[source.site.channel.latest]\nurl = "https://news.example/latest/"\nitems = "ul.news a"\n\n'
                    '[source.site.channel.feed]\nurl = "https://news.example/feed.xml"\n', encoding="utf-8")
    return path


def loaded(command: str, config: Path) -> set[str]:
    """Return the heavy modules in sys.modules after importing mirrord.cli and running command (a fresh
    interpreter each time, its output not a terminal)."""
    arguments = {"import": [], "--version": ["--version"]}.get(command, ["-c", str(config), command])
    done = subprocess.run([sys.executable, "-c", LOADED, json.dumps(HEAVY), command, *arguments],
                          capture_output=True, text=True, timeout=60)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("command", list(NEEDED))
def test_a_command_loads_no_library_it_does_not_use(command, config):
    unneeded = loaded(command, config) - NEEDED[command]
    assert not unneeded, (f"`mirrord {command}` loaded {sorted(unneeded)}: import them in the functions that "
                          "use them, not at the top of a module these commands import")


def test_status_draws_its_tables_and_check_says_ok(config):
    """The commands above did their work, not an early exit that would make the test above pass vacuously."""
    status = subprocess.run([sys.executable, "-m", "mirrord", "-c", str(config), "status"], capture_output=True,
                            text=True, timeout=60)
    assert "Sources" in status.stdout and "site" in status.stdout, status.stderr
    check = subprocess.run([sys.executable, "-m", "mirrord", "-c", str(config), "check"], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0 and "OK" in check.stdout, check.stderr


@pytest.fixture
def quiet_mirror(tmp_path: Path) -> Iterator[Path]:
    """The config of a mirror of the fixture site, published once; its channels answer 304 from then on."""
    with Site() as site:
        populate(site, special_cases=False)
        for channel in ("world", "local", "features"):
            path = channel_url(site, channel).removeprefix(site.base_url)
            site.routes[path] = replace(site.routes[path], headers=(("ETag", f'"{channel}-1"'),))
        config = write_config(tmp_path / "mirrord.toml", site, bare_repository(tmp_path / "remote.git"))
        assert mirrord(config, "once").code == 0
        yield config


def test_a_cycle_with_nothing_new_loads_no_git_and_nothing_that_extracts_or_renders_articles(quiet_mirror):
    assert "git" not in QUIET_CYCLE  # the working clone is read from its files (gitfiles)
    unneeded = loaded("once", quiet_mirror) - QUIET_CYCLE
    assert not unneeded, (f"`mirrord once` with nothing new loaded {sorted(unneeded)}: import them where a cycle "
                          "that publishes uses them")
