"""How git reaches the remotes: our identity, a deploy key or a token, never a prompt, never a secret on disk
or in a URL. Also the secrets that messages about a mirror must never show."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from mirrord.model import Mirror

ASKPASS = """#!/bin/sh
# Written by mirrord: answers git's credential prompts from the environment, so that the token is
# never stored in a URL, in .git/config or on disk.
case "$1" in
    Username*) printf '%s\\n' x-access-token ;;
    *) printf '%s\\n' "$MIRRORD_GIT_TOKEN" ;;
esac
"""


def git_environment(mirror: Mirror, state_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """Return the environment git runs with: our identity, no prompts, the deploy key or token if any."""
    name, _, email = mirror.author.partition(" <")
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email.rstrip(">"),
           "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email.rstrip(">"), "GIT_EDITOR": "true",
           "GIT_SSH_COMMAND": ssh_command(mirror.ssh_key, state_dir / "known_hosts")}
    if mirror.token_env and environ.get(mirror.token_env):
        env["GIT_ASKPASS"] = str(askpass_script(state_dir))
        env["MIRRORD_GIT_TOKEN"] = environ[mirror.token_env]
    return env


def ssh_command(key: str | None, known_hosts: Path) -> str:
    """Return the ssh command git uses: never prompts, learns new host keys into our own file."""
    identity = f"-i {shlex.quote(key)} -o IdentitiesOnly=yes " if key else ""
    return (f"ssh {identity}-o BatchMode=yes -o StrictHostKeyChecking=accept-new "
            f"-o UserKnownHostsFile={shlex.quote(str(known_hosts))} -o ConnectTimeout=30")


def askpass_script(state_dir: Path) -> Path:
    path = state_dir / "git-askpass"
    if not path.is_file() or path.read_text() != ASKPASS:
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(ASKPASS)
        path.chmod(0o700)
    return path


def secrets_of(mirror: Mirror, environ: Mapping[str, str]) -> list[str]:
    """Return what must never appear in a message about this mirror: its token and key path."""
    token = environ.get(mirror.token_env or "", "")
    return [secret for secret in (token, mirror.ssh_key or "") if len(secret) >= 4]
