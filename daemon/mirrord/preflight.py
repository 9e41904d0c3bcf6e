"""What the config names, looked at before it is used: the state folder, the status log and the credentials.

`check` reports every problem here in the format of config problems (file: key path: found, expected);
`once` and `run` refuse to start on an unusable state_dir or log_file, and `status` reads the state and
the log only where the config says they are. Nothing here creates, opens for writing or changes a file.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from mirrord.errors import Problem, SetupError
from mirrord.model import Config, Mirror

STATE_FILE = "state.sqlite3"
STATE_EXPECTED = ("a folder mirrord can create or write: give it to the user mirrord runs as "
                  "(install -d -o USER PATH), or set state_dir to another folder (docs/configuration.md)")
LOG_EXPECTED = ("a file mirrord can create or append to: give its folder to the user mirrord runs as, "
                "or set log_file to another path (docs/configuration.md)")
STATE_SHOWN = ("the state the service writes: set state_dir in this config to the service's "
               "(docs/configuration.md), or run `mirrord once` to start one here")


def user() -> str:
    """Return the name of the user this process runs as, for messages about permissions."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def nearest(path: Path) -> tuple[Path, os.stat_result | None]:
    """Return the path itself or its nearest ancestor that exists, with its stat; None as the stat when a
    folder on the way may not be looked into."""
    for candidate in (path, *path.parents):
        try:
            return candidate, candidate.stat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except PermissionError:
            return candidate.parent, None
    return Path("/"), None


def read_only_file_system(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def folder_problem(folder: Path) -> str | None:
    """Return why mirrord could not create the folder or write in it, None when it could."""
    found, status = nearest(folder)
    if status is None:
        return f"out of reach: {found} may not be entered by user {user()}"
    if not stat.S_ISDIR(status.st_mode):
        return "a file, not a folder" if found == folder else f"under {found}, which is a file, not a folder"
    if os.access(found, os.R_OK | os.W_OK | os.X_OK if found == folder else os.W_OK | os.X_OK):
        return None
    why = "is on a read-only file system" if read_only_file_system(found) else f"is not writable for user {user()}"
    return f"a folder that {why}" if found == folder else f"not there, and cannot be made: {found} {why}"


def log_file_problem(log_file: Path) -> str | None:
    """Return why mirrord could not append to the status log, None when it could."""
    try:
        status = log_file.stat()
    except OSError:
        return folder_problem(log_file.parent)
    if not stat.S_ISREG(status.st_mode):
        return "a folder, not a file" if stat.S_ISDIR(status.st_mode) else "not a regular file"
    return None if os.access(log_file, os.W_OK) else f"a file that is not writable for user {user()}"


def place_problems(config: Config) -> list[Problem]:
    """Return a problem for state_dir and for log_file when mirrord could not write there."""
    problems = []
    if found := folder_problem(config.state_dir):
        problems.append(Problem("state_dir", f"'{config.state_dir}' ({config.state_dir_from}), {found}",
                                STATE_EXPECTED))
    if found := log_file_problem(config.log_file):
        problems.append(Problem("log_file", f"'{config.log_file}' ({config.log_file_from}), {found}", LOG_EXPECTED))
    return problems


def require_places(config: Config) -> None:
    """Raise SetupError when state_dir or log_file cannot be written: before a command writes anything."""
    if problems := place_problems(config):
        raise SetupError(str(config.path), problems)


def require_usable(config: Config, environ: Mapping[str, str]) -> None:
    """Raise SetupError listing every problem of the folders and credentials the config names (`check`)."""
    if problems := place_problems(config) + credential_problems(config, environ):
        raise SetupError(str(config.path), problems)


def existing_state(config: Config) -> Path:
    """Return the state database for reading. Raise SetupError saying where it looked when there is none."""
    database = config.state_dir / STATE_FILE
    try:
        if stat.S_ISREG(database.stat().st_mode):
            return database
    except OSError:
        pass
    folder, status = nearest(config.state_dir)
    if status is None or not stat.S_ISDIR(status.st_mode):
        found, expected = folder_problem(config.state_dir), STATE_EXPECTED
    else:
        found = f"a folder without {STATE_FILE}" if folder == config.state_dir else "not there"
        expected = STATE_SHOWN
    raise SetupError(str(config.path), [Problem(
        "state_dir", f"'{config.state_dir}' ({config.state_dir_from}), {found}", expected)])


def log_to_follow(config: Config) -> str | None:
    """Return None when the status log is there to follow, else a note saying where it is awaited (nothing
    has been logged there yet, or the service logs elsewhere). Raise SetupError when no log can ever be
    there: the path is a folder, or under a file."""
    if config.log_file.is_file():
        return None
    found, status = nearest(config.log_file)  # the log itself (then not a file) or the folder it would be in
    if status is None or found == config.log_file or not stat.S_ISDIR(status.st_mode):
        raise SetupError(str(config.path), [Problem(
            "log_file", f"'{config.log_file}' ({config.log_file_from}), {log_file_problem(config.log_file)}",
            LOG_EXPECTED)])
    return (f"no status log at {config.log_file} yet ({config.log_file_from}); waiting for it. If the service "
            f"runs, it logs elsewhere: set log_file in {config.path} to its log (docs/configuration.md)")


def credential_problems(config: Config, environ: Mapping[str, str]) -> list[Problem]:
    """Return a problem for each credential a mirror names that a push could not use: a token variable
    that is not set (for a mirror with https remotes), an ssh key that is missing, unreadable or too open."""
    problems = []
    for mirror in config.mirrors.values():
        path = f"mirror.{mirror.name}"
        if mirror.token_env and has_https_remote(mirror) and not environ.get(mirror.token_env):
            problems.append(Problem(
                f"{path}.token_env", f"'{mirror.token_env}', a variable that is not set",
                f"the variable holding the token for its https remotes: export {mirror.token_env}=..., or under "
                f"systemd put {mirror.token_env}=... in /etc/mirrord/environment (docs/running.md)"))
        if mirror.ssh_key and (found := key_problem(mirror.ssh_key)):
            problems.append(Problem(f"{path}.ssh_key", f"'{mirror.ssh_key}', {found[0]}", found[1]))
    return problems


def has_https_remote(mirror: Mirror) -> bool:
    return any(urlsplit(url).scheme in ("http", "https") for url in mirror.remotes)


def key_problem(key: str) -> tuple[str, str] | None:
    """Return (what was found, what is expected) when ssh could not use the private key; None when it could.
    ssh refuses a key of its own user that others may read or write (UNPROTECTED PRIVATE KEY FILE)."""
    create = f"a private key: ssh-keygen -t ed25519 -N '' -f {key} (docs/running.md)"
    path = Path(key).expanduser()
    if not path.is_absolute():
        return "a relative path, which ssh would look for in the working clone", "the key's absolute path"
    try:
        status = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return "which does not exist", create
    except PermissionError:
        return f"out of reach for user {user()}", "a key in a folder the user mirrord runs as may enter"
    if not stat.S_ISREG(status.st_mode):
        return "which is not a file", create
    try:
        path.open("rb").close()
    except OSError:
        return f"unreadable for user {user()}", f"a key the user mirrord runs as may read: chown it to that user, " \
                                                 f"or to root:GROUP with chmod 640 {key}"
    mode = stat.S_IMODE(status.st_mode)
    if status.st_uid == os.geteuid() and mode & 0o077:
        return f"with mode {mode:04o}, which ssh refuses as too open", f"a key only its owner may use: chmod 600 {key}"
    if mode & 0o004:
        return f"with mode {mode:04o}: every user of the machine may read it", \
            f"a key only mirrord may read: chmod 600 {key}, or 640 with a group of its own"
    return None
