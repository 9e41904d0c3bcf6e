"""The status log and the console lines, written by the process that logs them: mirrord's own events (straight
from structlog to the handlers) and other libraries' records (through the standard library) alike."""

from __future__ import annotations

import json
import logging

import pytest

from mirrord.log import HANDLERS, add_listener, configure_logging, get_logger, register_secret, remove_listener

TOKEN = "ghp_exampletoken1234"


@pytest.fixture
def status_log(tmp_path):
    path = tmp_path / "logs" / "status.log"
    yield path
    root = logging.getLogger()
    for handler in root.handlers[:]:  # closed, and no longer written by mirrord's events: later tests log elsewhere
        root.removeHandler(handler)
        handler.close()
    HANDLERS.clear()


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_secret_in_an_exception_is_blanked_in_both_lines(status_log, capfd):
    configure_logging(status_log)
    register_secret(TOKEN)
    try:
        raise RuntimeError(f"push to https://me:{TOKEN}@git.example/news.git refused, token {TOKEN}")
    except RuntimeError:
        get_logger().exception("cycle.failed", source="weekly")
    (logged,) = lines(status_log)
    console = capfd.readouterr().err
    assert "RuntimeError: push to https://***@git.example/news.git refused, token ***" in logged["exception"]
    assert "Traceback (most recent call last)" in console and "refused, token ***" in console
    assert TOKEN not in status_log.read_text() + console


def test_each_line_takes_its_level_and_listeners_hear_every_event(status_log, capfd):
    heard = []
    add_listener(heard.append)
    try:
        configure_logging(status_log, console_level=logging.WARNING)
        log = get_logger()
        log.debug("article.extracted", article="a1")
        log.info("article.published", article="a1")
        log.warning("push.failed", remote="/srv/news.git", error="refused")
    finally:
        remove_listener(heard.append)
    assert [e["event"] for e in heard] == ["article.extracted", "article.published", "push.failed"]
    assert [e["event"] for e in lines(status_log)] == ["article.published", "push.failed"]
    assert [line.split()[2] for line in capfd.readouterr().err.splitlines()] == ["push.failed"]

    configure_logging(status_log, verbose=True)
    get_logger().debug("article.extracted", article="a2")
    assert lines(status_log)[-1]["article"] == "a2" and "article=a2" in capfd.readouterr().err


def test_console_lines_lay_out_values_and_drop_terminal_escapes(status_log, capfd):
    configure_logging(status_log)
    get_logger().warning("push.failed", remote="/srv/news.git", error="no\nway \x1b[31mred", attempts=2)
    logging.getLogger("apscheduler.scheduler").warning("Run time of job %r was missed", "weekly")
    own, foreign = capfd.readouterr().err.splitlines()
    assert own.startswith(f"[warning  ] {'push.failed':<30} attempts=2 error='no way red' remote=/srv/news.git ts=")
    assert foreign.startswith("[warning  ] Run time of job 'weekly' was missed [apscheduler.scheduler] ts=")
    assert [(e["event"], e.get("logger")) for e in lines(status_log)] == [
        ("push.failed", None), ("Run time of job 'weekly' was missed", "apscheduler.scheduler")]
    assert lines(status_log)[0]["error"] == "no\nway \x1b[31mred"  # the JSON line keeps it, escaped
    assert "\x1b" not in status_log.read_text()
