"""Where the state and the status log are, and what is looked at before they are used: the service and the
commands run by hand share one state; read-only commands create nothing; a state_dir, log_file, token or
key that cannot be used is named by `check`, and stops `once` and `status` with one message, not a traceback."""

from __future__ import annotations

import os
import pwd
import re
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mirrord import config as config_module
from mirrord.cli import main
from mirrord.config import load_config
from mirrord.preflight import credential_problems, log_to_follow

from fixture_site import article_url
from mirror_run import Run

SYSTEMD_VARIABLES = ("STATE_DIRECTORY", "LOGS_DIRECTORY", "MIRRORD_CONFIG")
NOBODY = 65534


def run_as_user(config: Path, *args: str, home: Path, environ: dict[str, str] | None = None) -> Run:
    """Run `mirrord -c config ARGS` as a person at a shell would: no systemd variables, their own HOME,
    the config's folder as the current one."""
    env = {k: v for k, v in os.environ.items() if k not in SYSTEMD_VARIABLES}
    env.update({"HOME": str(home), **(environ or {})})
    done = subprocess.run([sys.executable, "-m", "mirrord", "-c", str(config), *args], cwd=config.parent, env=env,
                          capture_output=True, text=True, timeout=60)
    return Run(done.returncode, done.stdout, done.stderr)


def with_top_level(config: Path, state_dir: Path | None, extra: str = "") -> Path:
    """Rewrite a config of mirror_run.write_config with another state_dir line (None: none), and extra lines."""
    lines = [line for line in config.read_text(encoding="utf-8").splitlines() if not line.startswith("state_dir")]
    top = (f'state_dir = "{state_dir}"\n' if state_dir else "") + extra
    config.write_text(top + "\n".join(lines) + "\n", encoding="utf-8")
    return config


def tree(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


@pytest.fixture
def system_dirs(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """The folders the units make for the service (/var/lib/mirrord, /var/log/mirrord), here under tmp_path."""
    state, logs = tmp_path / "var" / "lib" / "mirrord", tmp_path / "var" / "log" / "mirrord"
    state.mkdir(parents=True)
    logs.mkdir(parents=True)
    monkeypatch.setattr(config_module, "SYSTEM_STATE_DIR", state)
    monkeypatch.setattr(config_module, "SYSTEM_LOGS_DIR", logs)
    return state, logs


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


# --- one state for the service and for commands run by hand ------------------------------------------------------


def test_the_service_and_commands_by_hand_resolve_one_state_dir_and_log_file(setup, system_dirs):
    state, logs = system_dirs
    config = with_top_level(setup[2], None)
    service = load_config(config, environ={"STATE_DIRECTORY": str(state), "LOGS_DIRECTORY": str(logs)})
    by_hand = load_config(config, environ={})
    assert (by_hand.state_dir, by_hand.log_file) == (service.state_dir, service.log_file) == (
        state, logs / "status.log")


def test_status_by_hand_reads_the_state_and_log_the_service_wrote_and_creates_nothing(
        setup, system_dirs, home, monkeypatch, capsys):
    state, logs = system_dirs
    config = with_top_level(setup[2], None)
    service = run_as_user(config, "once", home=home, environ={"STATE_DIRECTORY": str(state),
                                                              "LOGS_DIRECTORY": str(logs)})
    assert service.code == 0, service.stderr
    before = tree(state)
    for name in SYSTEMD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))

    assert main(["-c", str(config), "status"]) == 0
    shown = capsys.readouterr().out
    assert "never run" not in shown and re.search(r"daily\s+news\s+\d+s ago", shown), shown
    by_hand = load_config(config)
    assert (by_hand.log_file, log_to_follow(by_hand)) == (logs / "status.log", None), "--follow reads the service's"
    assert tree(state) == before, "status leaves the state as it found it (no -wal, no -shm)"
    assert tree(home) == set(), "no second state under ~/.local/state"


@pytest.mark.parametrize(("args", "code", "message"), [
    (["status"], 2, "state_dir: found '{state}' (state_dir in the config), not there, expected the state the "
                    "service writes"),
    (["status", "--follow"], None, "no status log at {state}/status.log yet (the default, beside the state: "
                                   "log_file and $LOGS_DIRECTORY unset); waiting for it"),
    (["check"], 0, "OK"),
    (["once", "--dry-run"], 0, "would publish"),
    (["preview", "{article}", "--source", "daily"], 0, "would be published as pages/world/"),
])
def test_read_only_commands_create_nothing_and_say_where_they_looked(setup, site, tmp_path, home, args, code,
                                                                     message):
    news, _, config = setup
    state = tmp_path / "fresh" / "state"
    with_top_level(config, state)
    article = article_url(site, news.good_slugs("world")[0])
    args = [arg.format(article=article) for arg in args]
    before = tree(tmp_path)
    run = run_as_user(config, *args, home=home) if code is not None else following(config, *args, home=home)
    assert (run.code, "Traceback" in run.stderr) == (code, False), run.stderr
    assert message.format(state=state) in run.stdout + run.stderr, run.stdout + run.stderr
    assert tree(tmp_path) == before, "a read-only command created files or folders"


def following(config: Path, *args: str, home: Path) -> Run:
    """Start `status --follow`, which runs until stopped; return its first line on stderr, once it stopped."""
    env = {k: v for k, v in os.environ.items() if k not in SYSTEMD_VARIABLES}
    process = subprocess.Popen([sys.executable, "-m", "mirrord", "-c", str(config), *args], cwd=config.parent,
                               env={**env, "HOME": str(home)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        ready, _, _ = select.select([process.stderr], [], [], 30)
        first = process.stderr.readline() if ready else ""
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    return Run(None, out, first + err)


def test_status_follow_refuses_a_log_file_that_can_never_be_there(setup, tmp_path, home):
    folder = tmp_path / "logs"
    folder.mkdir()
    config = with_top_level(setup[2], tmp_path / "state", extra=f'log_file = "{folder}"\n')
    run = run_as_user(config, "status", "--follow", home=home)
    assert run.code == 2 and "Traceback" not in run.stderr
    assert f"log_file: found '{folder}' (log_file in the config), a folder, not a file" in run.stderr


# --- a state_dir or log_file that cannot be used -----------------------------------------------------------------


@pytest.mark.parametrize("command", [["check"], ["once"], ["run"], ["status"]])
@pytest.mark.parametrize(("place", "found"), [
    ("under a file", "under {blocker}, which is a file, not a folder"),
    ("a file", "a file, not a folder"),
])
def test_an_unusable_state_dir_is_one_message_with_its_fix_and_exit_2(setup, tmp_path, home, command, place, found):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder", encoding="utf-8")
    state = blocker / "state" if place == "under a file" else blocker
    config = with_top_level(setup[2], state)
    run = run_as_user(config, *command, home=home)
    assert (run.code, "Traceback" in run.stderr) == (2, False), run.stderr
    problem = f"{config}: state_dir: found '{state}' (state_dir in the config), {found.format(blocker=blocker)}, " \
              "expected a folder mirrord can create or write"
    assert problem in run.stderr, run.stderr
    assert "set state_dir to another folder" in run.stderr or "set state_dir in this config" in run.stderr


def test_check_names_a_log_file_that_is_a_folder(setup, tmp_path, home):
    folder = tmp_path / "logs"
    folder.mkdir()
    config = with_top_level(setup[2], tmp_path / "state", extra=f'log_file = "{folder}"\n')
    run = run_as_user(config, "check", home=home)
    assert run.code == 2
    assert f"{config}: log_file: found '{folder}' (log_file in the config), a folder, not a file, expected" \
           in run.stderr


# --- credentials ---------------------------------------------------------------------------------------------------

PROBLEM_LINE = re.compile(r"(?P<file>\S+): (?P<key>\S+): found (?P<found>.+), expected (?P<expected>.+)")


def test_check_names_an_unset_token_and_a_missing_key_like_config_problems(setup, tmp_path, home):
    missing_key = tmp_path / "keys" / "deploy_key"
    config = with_top_level(setup[2], tmp_path / "state")
    text = config.read_text(encoding="utf-8")
    remotes = re.search(r"^remotes = .*$", text, re.MULTILINE)[0]
    config.write_text(text.replace(remotes, 'remotes = ["https://git.example/me/news.git"]\n'
                                            f'token_env = "MIRRORD_TEST_TOKEN"\nssh_key = "{missing_key}"'))
    run = run_as_user(config, "check", home=home)
    assert run.code == 2 and "Traceback" not in run.stderr
    problems = {m["key"]: m for m in map(PROBLEM_LINE.fullmatch, run.stderr.splitlines()) if m}
    assert set(problems) == {"mirror.news.token_env", "mirror.news.ssh_key"}, run.stderr
    assert problems["mirror.news.token_env"]["found"] == "'MIRRORD_TEST_TOKEN', a variable that is not set"
    assert "/etc/mirrord/environment" in problems["mirror.news.token_env"]["expected"]
    assert problems["mirror.news.ssh_key"]["found"] == f"'{missing_key}', which does not exist"
    assert "ssh-keygen" in problems["mirror.news.ssh_key"]["expected"]

    missing_key.parent.mkdir()
    missing_key.write_text("key", encoding="utf-8")
    missing_key.chmod(0o600)
    assert run_as_user(config, "check", home=home, environ={"MIRRORD_TEST_TOKEN": "t0ken"}).code == 0


def credential_findings(config: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Return key path -> what was found, for each credential problem of the config."""
    return {p.path: p.found for p in credential_problems(load_config(config, environ={}), environ or {})}


def test_a_token_matters_only_for_https_remotes(setup):
    config = setup[2]
    config.write_text(config.read_text(encoding="utf-8").replace("[mirror.news]\n", '[mirror.news]\ntoken_env = "T"\n'))
    assert credential_findings(config) == {}, "the remote is a local path: no token needed"


@contextmanager
def key_file(mode: int, owner: int | None = None) -> Iterator[Path]:
    """A key file of that mode in a folder every user may enter, owned by owner (root only) or by us."""
    folder = Path(tempfile.mkdtemp(prefix="mirrord-key-"))
    try:
        folder.chmod(0o755)
        key = folder / "deploy_key"
        key.write_text("key", encoding="utf-8")
        key.chmod(mode)
        if owner is not None:
            os.chown(key, owner, -1)
        yield key
    finally:
        shutil.rmtree(folder)


@contextmanager
def as_nobody() -> Iterator[None]:
    """Act as user nobody when running as root (as CI does), so that file modes apply."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)


def with_key(setup, key: Path | str) -> Path:
    config = setup[2]
    config.write_text(config.read_text(encoding="utf-8").replace("[mirror.news]\n",
                                                                 f'[mirror.news]\nssh_key = "{key}"\n'))
    return config


@pytest.mark.parametrize(("mode", "found"), [
    (0o600, None),
    (0o644, "with mode 0644, which ssh refuses as too open"),
    (0o640, "with mode 0640, which ssh refuses as too open"),
])
def test_a_key_of_our_own_that_others_may_read_is_refused_as_ssh_refuses_it(setup, mode, found):
    with key_file(mode) as key:
        findings = credential_findings(with_key(setup, key))
    assert findings.get("mirror.news.ssh_key") == (f"'{key}', {found}" if found else None)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
@pytest.mark.parametrize(("mode", "found"), [
    (0o640, None),  # docs/running.md: root:mirrord 0640, which ssh accepts from a key it does not own
    (0o644, "with mode 0644: every user of the machine may read it"),
])
def test_a_key_of_another_owner_is_refused_only_when_everyone_may_read_it(setup, mode, found):
    with key_file(mode, owner=NOBODY) as key:
        findings = credential_findings(with_key(setup, key))
    assert findings.get("mirror.news.ssh_key") == (f"'{key}', {found}" if found else None)


def test_a_key_that_is_a_folder_or_a_relative_path_is_named(setup, tmp_path):
    config = with_key(setup, tmp_path)
    assert credential_findings(config) == {"mirror.news.ssh_key": f"'{tmp_path}', which is not a file"}
    config.write_text(config.read_text(encoding="utf-8").replace(f'ssh_key = "{tmp_path}"', 'ssh_key = "deploy_key"'))
    assert credential_findings(config) == {
        "mirror.news.ssh_key": "'deploy_key', a relative path, which ssh would look for in the working clone"}


def test_a_key_the_user_running_mirrord_cannot_read_is_named(setup):
    """As root (CI), the check runs as user nobody for a key only root may read; otherwise the key is mode 000."""
    with key_file(0o600 if os.geteuid() == 0 else 0o000) as key:
        config = load_config(with_key(setup, key), environ={})
        with as_nobody():
            problems = credential_problems(config, {})
            user = pwd.getpwuid(os.geteuid()).pw_name
    assert [(p.path, p.found) for p in problems] == [("mirror.news.ssh_key", f"'{key}', unreadable for user {user}")]
    assert "chmod 640" in problems[0].expected
