"""What people read in a terminal: the status tables, the status log as lines, the progress of `once`.

rich draws the tables and the progress bars, and drops colour by itself when the output is not a terminal.
Every value from a site or a remote goes through log.printable (no terminal escapes) and is never read
as rich markup (which could make a hyperlink).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mirrord.log import add_listener, printable, remove_listener
from mirrord.status import MirrorStatus, SourceStatus, broken_reason, first_line

if TYPE_CHECKING:
    from rich.progress import TaskID

ATTENTION_STYLES = {"broken": "bold red", "failing": "bold red", "quiet": "yellow", "overdue": "yellow"}
LEVEL_STYLES = {"debug": "dim", "warning": "yellow", "error": "bold red", "critical": "bold red"}
LOUD = ("warning", "error", "critical")
# What `once` lists in its report at the end (held back, failed, pushed...): said there once, not live too.
SUMMARIZED = {"article.skipped", "fetch.failed", "discover.failed", "push.failed", "push.done", "channel.backed_off",
              "commit.failed", "cycle.locked", "source.broken", "cycle.interrupted"}
NOT_DETAILS = {"ts", "level", "event", "logger", "source", "channel", "mirror", "exception"}


def span(delta: timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def relative(when: datetime | None, now: datetime) -> str:
    """Return "5m ago" or "in 5m"; "-" for never."""
    if when is None:
        return "-"
    return f"{span(now - when)} ago" if when <= now else f"in {span(when - now)}"


def size_text(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return "-"


def one_line_table(title: str, headings: tuple[str, ...], right: tuple[str, ...] = (), last_gives_way: bool = False
                   ) -> Table:
    """A table of short cells, one line per row: borders and padding kept small so that it fits 80 columns.
    With last_gives_way, its last column is cut first when the terminal is too narrow for all."""
    table = Table(title=title, title_justify="left", title_style="bold", box=None, header_style="bold underline",
                  pad_edge=False, padding=(0, 2, 0, 0))
    for heading in headings:
        table.add_column(heading, justify="right" if heading in right else "left",
                         no_wrap=not (last_gives_way and heading == headings[-1]))
    return table


def cut(text: str) -> Text:
    """A cell of a column that gives way: narrowed first, kept on one line with an ellipsis."""
    return Text(printable(text), no_wrap=True, overflow="ellipsis")


def sources_table(sources: list[SourceStatus], now: datetime) -> Table:
    table = one_line_table("Sources", ("source", "mirror", "last run", "next run", "fails", "held", "24 h",
                                       "published", "result"), right=("fails", "held", "24 h"))
    for s in sources:
        table.add_row(*map(cell, (s.name, s.mirror, relative(s.last_cycle, now), relative(s.next_run, now),
                                  str(s.failures), str(s.held_back), str(s.published_24h),
                                  relative(s.last_published, now),
                                  s.attention or s.result)), style=ATTENTION_STYLES.get(s.attention or ""))
    return table


def mirrors_table(mirrors: list[MirrorStatus]) -> Table:
    table = one_line_table("Mirrors", ("mirror", "last commit", "commits", "size"), right=("commits", "size"))
    for m in mirrors:
        table.add_row(*map(cell, (m.name, (m.head or "-")[:12], "-" if m.commits is None else str(m.commits),
                                  size_text(m.size_bytes))))
    return table


def remotes_table(mirrors: list[MirrorStatus], now: datetime) -> Table:
    """One line per remote, its URL whole (no credentials are ever stored with it) and first, so that a narrow
    terminal cuts the mirror's name instead; "failing" as its last push when the last try failed (the error
    is printed below the tables)."""
    table = one_line_table("Remotes", ("remote", "unpushed", "last push", "mirror"), right=("unpushed",),
                           last_gives_way=True)
    for m in mirrors:
        if not m.remotes:
            table.add_row("(local only)", "", "", cut(m.name))
        for r in m.remotes:
            table.add_row(cell(r.url), "-" if r.unpushed is None else str(r.unpushed),
                          "failing" if r.last_error else relative(r.last_success, now), cut(m.name),
                          style="bold red" if r.last_error else None)
    return table


def errors(sources: list[SourceStatus], mirrors: list[MirrorStatus], whole: bool) -> list[tuple[str, str]]:
    """Return (who, error) for every source and remote whose last try failed, and every broken source; who
    names all those that failed the same way (a failed push fails every source of its mirror). Errors are cut
    to their first meaningful line unless whole."""
    shorten = (lambda text: text) if whole else first_line
    found: dict[str, list[str]] = {}
    for m in mirrors:
        for r in m.remotes:
            if r.last_error:
                found.setdefault(shorten(f"push to {r.url}: {r.last_error}"), []).append(m.name)
    for s in sources:
        if s.error:
            found.setdefault(shorten(s.error) + what_to_do(s, whole), []).append(s.name)
        if s.attention == "broken":
            found.setdefault(shorten(broken_reason(s)), []).append(s.name)
    return [(", ".join(dict.fromkeys(who)), error) for error, who in found.items()]


def what_to_do(source: SourceStatus, whole: bool) -> str:
    """Return the hint of a source's failure as a line of its own after its whole error, "" when not whole
    (the short form keeps one line) or when there is none."""
    hint = source.failure.hint if source.failure else ""
    return f"\n  what to do: {hint}" if whole and hint else ""


def print_status(console: Console, sources: list[SourceStatus], mirrors: list[MirrorStatus], now: datetime,
                 whole: bool = False) -> None:
    """Print the tables, one line per row, then one line per error (cut to the terminal's width); with whole,
    every error's whole text instead, wrapped."""
    for table in (sources_table(sources, now), mirrors_table(mirrors), remotes_table(mirrors, now)):
        console.print(table)
        console.print()
    if whole:
        print_held_back(console, sources, now)
    found = errors(sources, mirrors, whole)
    if found:
        console.print(Text("Errors" + ("" if whole else " (whole: mirrord status --source NAME, or --json)"),
                           style="bold"))
    for who, error in found:
        console.print(Text.assemble((f"{printable(who)}: ", "bold red"), printable(error)), no_wrap=not whole,
                      overflow="ellipsis", crop=not whole)


def print_held_back(console: Console, sources: list[SourceStatus], now: datetime) -> None:
    """Print each held-back article of the sources with its attempts, whether it waits or was given up, and
    its reason whole: what `mirrord retry` would bring back."""
    records = [record for s in sources for record in s.articles_held_back]
    if not records:
        return
    console.print(Text("Held back (fetched again: mirrord retry --source NAME)", style="bold"))
    for r in records:
        state = "given up" if r.gave_up else f"tried {r.attempts}x, last {relative(r.last_attempt, now)}"
        console.print(Text.assemble((f"{printable(r.url)}", "bold"), f" ({r.source}/{r.channel}, {state}): ",
                                    printable(r.reason)))
    console.print()


def event_line(event: dict) -> Text:
    """Return an event as one line for people: time, level, event, where, then its details; values from
    sites and remotes (URLs, titles, git's messages) made printable, never read as rich markup."""
    when = printable(str(event.get("ts", ""))[11:19])
    level = printable(str(event.get("level", "info")))
    where = "/".join(str(event[k]) for k in ("source", "channel") if k in event) or str(event.get("mirror", ""))
    details = " ".join(f"{key}={value}" for key, value in event.items() if key not in NOT_DETAILS)
    line = Text(f"{when} {level.upper():<7} ", style=LEVEL_STYLES.get(level))
    line.append(f"{printable(str(event.get('event', '')))} ", style="bold")
    line.append(f"{printable(where)} " if where else "", style="cyan")
    line.append(printable(details))
    return line


class CycleProgress:
    """The progress of `once` in a terminal, one bar per mirror, driven by the status log's events."""

    def __init__(self, console: Console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn  # not for status

        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), console=console)
        self.bars: dict[str, TaskID] = {}

    def __enter__(self) -> CycleProgress:
        self.progress.start()
        add_listener(self.observe)
        return self

    def __exit__(self, *_exc) -> None:
        remove_listener(self.observe)
        self.progress.stop()

    def observe(self, event: dict) -> None:
        name, mirror = event.get("event"), str(event.get("mirror", ""))
        if event.get("level") in LOUD and name not in SUMMARIZED:
            self.progress.console.print(warning_line(event))
        if name == "cycle.start":
            sources = ", ".join(map(str, event.get("sources", [])))
            self.bars[mirror] = self.progress.add_task(shown(f"{mirror} ({sources}): reading channels"), total=None)
        elif mirror not in self.bars:
            return
        elif name == "cycle.planned":
            self.progress.update(self.bars[mirror], total=event.get("new", 0), description=shown(f"{mirror}: fetching"))
        elif name in ("article.extracted", "article.skipped") or (name == "fetch.failed" and "article" in event):
            self.progress.advance(self.bars[mirror])
        elif name == "commit.done":
            self.describe(mirror, f"committed {event.get('new', 0)} new, pushing")
        elif name == "cycle.done":
            done = next(task.completed for task in self.progress.tasks if task.id == self.bars[mirror])
            self.progress.update(self.bars[mirror], total=done)
            self.describe(mirror, f"{event.get('new', 0)} new, {event.get('pruned', 0)} pruned, "
                          f"{event.get('failed', 0)} failures")

    def describe(self, mirror: str, what: str) -> None:
        self.progress.update(self.bars[mirror], description=shown(f"{mirror}: {what}"))


def warning_line(event: dict) -> Text:
    """Return a warning for people while `once` runs: where, what, why, on one readable line."""
    where = "/".join(str(event[k]) for k in ("source", "channel") if k in event) or str(event.get("mirror", ""))
    what = str(event.get("event", "")).replace(".", " ").replace("_", " ")
    why = event.get("error") or event.get("url") or ""
    return Text(printable(f"{where}: {what}: {why}"), style=LEVEL_STYLES.get(str(event.get("level"))))


def shown(text: str) -> str:
    """Return text for a progress description, which rich reads as markup: printable, markup escaped."""
    return escape(printable(text))


def cell(value: str) -> Text:
    """Return a table cell that rich shows as it is (no markup), printable."""
    return Text(printable(value))
