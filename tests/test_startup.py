"""Import hygiene: `--version`, `check` and `status` start in a blink because they load none of the libraries a
cycle needs (HTTP, git, parsing, rendering, logging, the daemon's); each command imports what it uses when it
runs (cli.py). A module imported at the top of one the commands share brings its library back: this test names
it. bench/cold.py measures the start-up times themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mirrord.state import State

# What a cycle loads and these commands must not: third-party libraries, and asyncio, whose import alone
# costs more than half of the start-up of `--version`.
HEAVY = ("rich", "git", "feedparser", "jinja2", "httpx", "httpcore", "nh3", "charset_normalizer", "structlog",
         "selectolax", "apscheduler", "prometheus_client", "trafilatura", "lxml", "zxingcpp", "segno", "opencc",
         "asyncio", "sqlite3")
# What each command needs of them: `check` validates CSS selectors with the parser that will run them, and
# `status` reads the state database and draws tables.
NEEDED = {"import": set(), "--version": set(), "check": {"selectolax"}, "status": {"selectolax", "sqlite3", "rich"}}

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
    interpreter each time)."""
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
