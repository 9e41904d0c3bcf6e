"""The status log: structlog configured once, JSON lines to log_file, readable lines on stderr.

Standard-library loggers (httpx, apscheduler, git) go through the same processors, and every
event passes `redact_secrets` so that no token or password in a URL reaches a log line.
Listeners (metrics, the progress of `once`, the daemon's summary) see each of mirrord's own events,
so that everything an operator reads is derived from the one stream of events.
structlog is loaded when a command first logs or configures logging, not when a module asks for its logger:
`status` and `check` never need it. It is loaded without rich (see `structlog_module`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from mirrord.errors import without_secrets

SECRETS: set[str] = set()
LISTENERS: list[Callable[[dict], None]] = []
QUIET_LOGGERS = ("httpx", "httpcore", "apscheduler")
CONFIGURED: list[Any] = []  # the logger bound to the configuration configure_logging made, once it made one


def register_secret(value: str | None) -> None:
    """Remember a secret value (a token) so that it is blanked wherever it would be logged."""
    if value and len(value) >= 4:
        SECRETS.add(value)


def scrub(text: str) -> str:
    return without_secrets(text, SECRETS)


# What a terminal would act on: ESC and C1 sequences (CSI: colours, cursor moves, clearing; OSC: titles,
# hyperlinks, clipboard; DCS, SOS, PM, APC), then any control character left, and the bidirectional
# overrides that make text read in another order than it is.
TERMINAL_SEQUENCES = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
                                r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
                                r"|\x1b[ -~]?")
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
LINE_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
TERMINAL_UNSAFE = re.compile(r"[\x80-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, lines: bool = False) -> str:
    """Return text as it may reach a terminal: no escape sequence or control character from a site, a remote or
    a page can move the cursor, clear the screen, retitle the window or plant a hyperlink. Line breaks and tabs
    become spaces, unless lines (a traceback, a page) keeps them."""
    text = TERMINAL_SEQUENCES.sub("", text)
    if lines:
        return LINE_CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return CONTROLS.sub(lambda found: " " if found.group() in "\t\n\r" else "", text)


def printable_json(text: str) -> str:
    """Return JSON text with the characters json.dumps leaves raw that terminals act on (C1 controls,
    bidirectional overrides) written as \\u escapes: the same JSON, safe to show."""
    return TERMINAL_UNSAFE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def printable_values(_logger, _name, event: dict) -> dict:
    """The console's last step before rendering: every value as printable() makes it."""
    return {key: printable(value, lines=key == "exception") if isinstance(value, str) else value
            for key, value in event.items()}


def redact_secrets(_logger, _name, event: dict) -> dict:
    return {key: scrub(value) if isinstance(value, str) else value for key, value in event.items()}


def add_listener(listener: Callable[[dict], None]) -> None:
    """Call listener with every mirrord event (redacted, debug ones included), in the thread that logs it."""
    LISTENERS.append(listener)


def remove_listener(listener: Callable[[dict], None]) -> None:
    LISTENERS.remove(listener)


def tell_listeners(_logger, _name, event: dict) -> dict:
    for listener in LISTENERS:
        listener(event)
    return event


def shared_processors() -> list[Callable]:
    structlog = structlog_module()

    return [structlog.contextvars.merge_contextvars, structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"), redact_secrets]


def foreign_processors() -> list[Callable]:
    structlog = structlog_module()

    return [structlog.stdlib.add_logger_name, *shared_processors()]


def configure_logging(log_file: Path | None, verbose: bool = False, console_level: int = logging.INFO) -> None:
    """Send events to the status log (JSON lines) and to stderr (console style on a terminal)."""
    structlog = structlog_module()

    handlers: list[logging.Handler] = [console_handler(logging.DEBUG if verbose else console_level)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(file_handler(log_file))
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared_processors(), tell_listeners, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    CONFIGURED[:] = [structlog.get_logger("mirrord").bind()]
    logging._srcfile = None  # no caller's frame looked up for each record: no handler shows it (logging's own advice)


def file_handler(log_file: Path) -> logging.Handler:
    """JSON lines, reopened when logrotate moves the file."""
    from logging.handlers import WatchedFileHandler

    structlog = structlog_module()
    handler = WatchedFileHandler(log_file, encoding="utf-8")
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=foreign_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(serializer=json_line, ensure_ascii=False)]))
    return handler


def json_line(event: dict, **options) -> str:
    return printable_json(json.dumps(event, **options))


def console_handler(level: int) -> logging.Handler:
    structlog = structlog_module()

    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=foreign_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    printable_values,
                    structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(),
                                                  exception_formatter=structlog.dev.plain_traceback)]))
    return handler


class Logger:
    """mirrord's structlog logger, structlog imported at its first event (see the module's docstring); once
    logging is configured, the logger bound to that configuration, not structlog's proxy, which binds a new
    logger for each event (a daemon of a thousand sources logs several events a second)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(CONFIGURED[0] if CONFIGURED else structlog_logger(), name)


@cache
def structlog_logger() -> Any:
    return structlog_module().get_logger("mirrord")


@cache
def structlog_module() -> Any:
    """Return structlog, imported with rich kept out of it: structlog's package imports its console module,
    which imports rich (some 40 ms) for tracebacks mirrord does not use (its console lines show plain ones).
    Where rich is loaded already (the progress display of `once` in a terminal), structlog takes it as it is."""
    if "structlog" in sys.modules or "rich" in sys.modules:
        import structlog

        return structlog
    sys.modules["rich"] = None  # type: ignore[assignment]  # `import rich` fails: structlog goes without
    try:
        import structlog
    finally:
        del sys.modules["rich"]
    return structlog


def get_logger() -> Logger:
    return Logger()
