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
from typing import Any, NoReturn

from mirrord.errors import without_secrets

SECRETS: set[str] = set()
LISTENERS: list[Callable[[dict], None]] = []
QUIET_LOGGERS = ("httpx", "httpcore", "apscheduler")
HANDLERS: list[tuple[int, Any]] = []  # (the least level it writes, handler) for mirrord's own events
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
    if text.isprintable():  # no control character (Cc: ESC, C1, line breaks) nor format one (Cf: the overrides)
        return text
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
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"), structlog.processors.format_exc_info,
            redact_secrets]


def configure_logging(log_file: Path | None, verbose: bool = False, console_level: int = logging.INFO) -> None:
    """Send events to the status log (JSON lines) and to stderr (one readable line each).

    mirrord's own events go from structlog's processors straight to the handlers (`write_out`), each rendered
    once a handler: the standard library's path (a LogRecord, a copy of it and a formatter's chain for each
    handler) cost two thirds of an event's CPU. Other libraries' records take that path."""
    structlog = structlog_module()

    least = logging.DEBUG if verbose else logging.INFO
    handlers: list[LineHandler] = [ConsoleHandler(logging.DEBUG if verbose else console_level)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(status_log_handler(log_file))
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        handler.setFormatter(structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared_processors()],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, handler.render]))
        root.addHandler(handler)
    root.setLevel(least)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    HANDLERS[:] = [(max(least, handler.level), handler) for handler in handlers]
    structlog.configure(processors=[*shared_processors(), tell_listeners, write_out],
                        logger_factory=structlog.ReturnLoggerFactory(),
                        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
                        cache_logger_on_first_use=False)
    CONFIGURED[:] = [structlog.get_logger("mirrord").bind()]
    logging._srcfile = None  # no caller's frame looked up for each record: no handler shows it (logging's own advice)


def write_out(_logger, _name, event: dict) -> NoReturn:
    """The last processor of mirrord's events: each handler that takes the event's level writes it."""
    level = logging.getLevelName(event["level"].upper())
    for least, handler in HANDLERS:
        if level >= least:
            handler.write_event(event)
    raise structlog_module().DropEvent


class LineHandler(logging.Handler):
    """A handler writing one rendered line an event: mirrord's own events come to `write_event` as structlog's
    event dicts, other libraries' records to `emit`, both rendered by `render`."""

    stream: Any
    terminator: str

    def render(self, _logger: Any, _name: str, event: dict) -> str:
        raise NotImplementedError

    def write_event(self, event: dict) -> None:
        with self.lock:
            try:
                self.ready_to_write()
                self.stream.write(self.render(None, "", event) + self.terminator)
                self.stream.flush()
            except Exception:
                self.handleError(logging.makeLogRecord({"msg": event.get("event")}))

    def ready_to_write(self) -> None:
        """Called before each line is written, with the handler's lock held."""


class ConsoleHandler(LineHandler, logging.StreamHandler):
    """Readable lines on stderr, coloured on a terminal."""

    def __init__(self, level: int):
        logging.StreamHandler.__init__(self, sys.stderr)
        self.setLevel(level)
        self.colours = sys.stderr.isatty()

    def render(self, _logger: Any, _name: str, event: dict) -> str:
        return console_line(printable_values(None, "", event), self.colours)


def status_log_handler(log_file: Path) -> LineHandler:
    """JSON lines, the file reopened when logrotate moved it (logging.handlers, which the handler builds on,
    is imported only by commands that write the status log)."""
    from logging.handlers import WatchedFileHandler

    class StatusLogHandler(LineHandler, WatchedFileHandler):
        def render(self, _logger: Any, _name: str, event: dict) -> str:
            return printable_json(json.dumps(event, ensure_ascii=False, default=repr))

        def ready_to_write(self) -> None:
            self.reopenIfNeeded()

    return StatusLogHandler(log_file, encoding="utf-8")


LEVEL_COLOURS = {"debug": "\x1b[2m", "info": "\x1b[32m", "warning": "\x1b[33m", "error": "\x1b[1;31m",
                 "critical": "\x1b[1;31m"}
NEEDS_QUOTES = frozenset(" \t=\r\n\"'")
OWN_PLACES = ("level", "event", "logger", "exception")


def console_line(event: dict, colours: bool) -> str:
    """`[level    ] event   [logger] key=value ...`, the keys in order, an exception's lines below: structlog's
    ConsoleRenderer's layout, for a fraction of its CPU (a daemon of a thousand sources logs several events a
    second)."""
    level = event.get("level", "")
    shown = f"{LEVEL_COLOURS.get(level, '')}{level:<9}\x1b[0m" if colours else f"{level:<9}"
    parts = [f"[{shown}] {event.get('event', '')!s:<30}"]
    if "logger" in event:
        parts.append(f"[{event['logger']}]")
    parts.extend(f"{key}={console_value(event[key])}" for key in sorted(event) if key not in OWN_PLACES)
    line = " ".join(parts)
    return f"{line}\n{event['exception']}" if event.get("exception") else line


def console_value(value: object) -> str:
    """A value as the console shows it: a string bare unless quoting keeps its bounds clear, anything else as
    its repr."""
    if isinstance(value, str) and NEEDS_QUOTES.isdisjoint(value):
        return value
    return repr(value)


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
