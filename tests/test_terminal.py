"""Terminal escapes from sites and remotes never reach a terminal: `mirrord once` as a real process, its
output captured (the report and log lines) and through a pseudo-terminal (rich's progress display)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from gitservers import rejecting_repository

from httpsite import Site
from mirror_run import mirrord

TEXT = "Readable text of an article that is long enough to be published by the mirror."
HYPERLINK = "\x1b]8;;http://evil.test/\x07"
CLEAR = "\x1b[2J"
C1_CSI = "\x9b31m"
MARKUP = "[link=http://evil.test/markup]click[/link][blink]"
# What a terminal acts on, and what rich would turn into a hyperlink.
FORBIDDEN = ("\x1b]", "\x1b[2J", "\x9b", "\x07", "\x9d", "evil.test/markup\x1b", "\x1b]8;")


def hostile_site(site: Site) -> str:
    """A listing whose titles and links carry escapes: one article published, one excluded, one on another
    host, two that cannot be fetched."""
    site.add("/news/good.html", f'<html><body><div class="body"><p>{TEXT}</p></div></body></html>')
    site.add("/news/short\u009b.html", '<html><body><div class="body"><p>Too short.</p></div></body></html>')
    items = [("/news/good.html", f"Good {HYPERLINK}title{CLEAR} {MARKUP}"),
             ("/news/excluded.html", f"EXCLUDED {HYPERLINK}x{C1_CSI}"),
             (f"http://elsewhere.test/&#x1b;]8;;http://evil.test/&#x7;{MARKUP}.html", "Elsewhere"),
             ("/news/short\u009b.html", f"Short {C1_CSI}"),
             ("/news/missing&#x1b;[2J.html", f"Missing {CLEAR}")]
    links = "".join(f'<li><a href="{href}">{title}</a></li>' for href, title in items)
    return site.add("/news/", f'<html><body><ul class="news">{links}</ul></body></html>')


def write_config(tmp_path: Path, listing: str, remote: Path) -> Path:
    config = tmp_path / "mirrord.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n[http]\nretries = 0\ntimeout = 5\n[mirror.news]\n'
                      f'remotes = ["{remote}"]\n[source.site]\ncontent = "div.body"\nexclude = ["EXCLUDED"]\n'
                      f'[source.site.channel.latest]\nurl = "{listing}"\nitems = "ul.news a"\n', encoding="utf-8")
    return config


def refusing_remote(tmp_path: Path) -> Path:
    """A remote whose refusal says things meant for the terminal of whoever pushes."""
    return rejecting_repository(tmp_path / "remote.git", f"refused {MARKUP}")


def test_once_prints_no_terminal_escape_from_sites_or_remotes(tmp_path, site):
    config = write_config(tmp_path, hostile_site(site), refusing_remote(tmp_path))
    run = mirrord(config, "once")
    assert run.code == 1, run.stdout + run.stderr
    assert "+ pages/latest/good.md" in run.stdout
    assert "skipped http://elsewhere.test/" in run.stdout and "failed: article http://" in run.stdout
    assert "refused [link=http://evil.test/markup]" in run.stdout, "markup is shown as the text it is"
    for output in (run.stdout, run.stderr):
        for sequence in (*FORBIDDEN, "\x1b"):  # no colours either: the output is no terminal
            assert sequence not in output, repr(sequence)
    assert "item.skipped" in run.stderr and "missing.html" in run.stdout, "the rest of the text is shown"


def run_in_terminal(config: Path, timeout: float = 120) -> tuple[int, str]:
    """Run `mirrord once` with a pseudo-terminal as its stdout and stderr; return its exit code and all it
    wrote there, escapes included."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "mirrord", "-c", str(config), "once"], stdin=subprocess.DEVNULL,
                               stdout=terminal, stderr=terminal, env={**os.environ, "TERM": "xterm-256color",
                                                                      "COLUMNS": "160", "LINES": "40"})
    os.close(terminal)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                data = os.read(controller, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(controller)
    return process.wait(timeout=10), b"".join(chunks).decode("utf-8", errors="replace")


def test_the_progress_display_shows_no_escape_or_markup_from_sites_or_remotes(tmp_path, site):
    config = write_config(tmp_path, hostile_site(site), refusing_remote(tmp_path))
    code, output = run_in_terminal(config)
    assert code == 1, output
    assert "\x1b[" in output, "rich drew its progress display in the terminal"
    assert "push to" in output and "refused" in output
    for sequence in FORBIDDEN:
        assert sequence not in output, repr(sequence)


def test_a_reader_that_stops_reading_early_is_no_failure(tmp_path, site):
    """`mirrord check | head -0`: the output's reader has gone before the first line; no traceback, exit 0."""
    config = write_config(tmp_path, hostile_site(site), refusing_remote(tmp_path))
    child = subprocess.Popen([sys.executable, "-m", "mirrord", "-c", str(config), "check"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    child.stdout.close()
    _, errors = child.communicate(timeout=60)
    assert child.returncode == 0 and b"Traceback" not in errors and b"Exception ignored" not in errors, errors
