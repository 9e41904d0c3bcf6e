"""The command line: parses arguments, loads the config, calls the pipeline, turns results into exit codes.

Only this module exits. Problems a user can fix are printed as one clear message, never a traceback.
Each command imports what it uses when it runs, so that `--version`, `check` and `status` start in a blink
and do not load the HTTP, git, parsing and rendering libraries of a cycle (tests/test_startup.py holds this).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from mirrord import __version__
from mirrord.follow import LEVELS

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from mirrord.model import Channel, Config, Failure, Options
    from mirrord.outcome import Report

# In a terminal, `once`'s progress display says the warnings itself (console.CycleProgress); the log's own
# console lines would say them a second time, raw: a level above logging.CRITICAL (50), which `logging` itself
# is not imported for, as `check` and `status` log nothing.
SILENT = 60
EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG, EXIT_LOCKED = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # the shell's code for a command stopped by SIGINT
OPEN_FILES = 65_536  # the soft limit `run` asks for (allow_open_files)
YOUNG_OBJECTS = 10_000  # new objects between two of the cycle collector's looks at the youngest (Python's: 700)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mirrord", description="Keep git repositories as mirrors of news sites.")
    parser.add_argument("-c", "--config", metavar="PATH", help="config file (else $MIRRORD_CONFIG, ./mirrord.toml, "
                        "/etc/mirrord/config.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug events too")
    parser.add_argument("--version", action="version", version=f"mirrord {__version__}")
    # prog given: argparse would otherwise lay out the usage line (and import shutil) to name the subcommands
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", prog="mirrord")
    once = commands.add_parser("once", help="one cycle of the named sources (all by default), then exit")
    once.add_argument("sources", nargs="*", metavar="SOURCE", help="names of sources to run")
    once.add_argument("--source", action="append", default=[], metavar="NAME", dest="source_options",
                      help="a source to run, as SOURCE (may be given several times)")
    once.add_argument("--no-push", action="store_true", help="commit but do not push")
    once.add_argument("--dry-run", action="store_true", help="fetch and render, write nothing, list what would be "
                      "published and what would be skipped, and why")
    run = commands.add_parser("run", help="the daemon: run every source on its schedule until SIGTERM; SIGHUP "
                              "reloads the config")
    for command in (once, run):
        command.add_argument("--mirror", action="append", default=[], metavar="NAME", dest="mirrors",
                             help="only this mirror's sources (may be given several times): hosts split the "
                                  "mirrors between them")
        command.add_argument("--shallow", action="store_true", help="a new working clone takes the remote's last "
                             "commit only (the default when the state is empty)")
    status = commands.add_parser("status", help="per source and per mirror: last cycle, failures, next run, "
                                 "pushes")
    status.add_argument("--json", action="store_true", help="print the status as JSON for machines")
    status.add_argument("--follow", action="store_true", help="show the status log for people as it grows")
    status.add_argument("--source", metavar="NAME", help="only this source")
    status.add_argument("--level", choices=LEVELS, default="info", help="with --follow: only events of this "
                        "level and above [info]")
    retry = commands.add_parser("retry", help="fetch the held-back articles (given up or waiting) again next cycle")
    retry.add_argument("--source", metavar="NAME", help="only this source's [all sources]")
    check = commands.add_parser("check", help="validate the config; exit 2 listing every problem")
    check.add_argument("--network", action="store_true", help="also reach every channel URL and every remote "
                       "(read only)")
    preview = commands.add_parser("preview", help="fetch one article with a source's rules and print the page "
                                  "that would be published; writes nothing")
    preview.add_argument("url", metavar="URL", help="address of an article of the source")
    preview.add_argument("--source", required=True, metavar="NAME", help="source whose rules apply")
    preview.add_argument("--channel", metavar="NAME", help="channel whose rules apply [the source's first]")
    rebuild = commands.add_parser("rebuild", help="render every live page, index, feed and the README again from "
                                  "what the mirror holds (after changing header, footer, public_url or templates), "
                                  "in one commit; fetches nothing")
    rebuild.add_argument("--mirror", action="append", default=[], metavar="NAME", dest="mirrors",
                         help="a mirror to rebuild (may be given several times) [every mirror]")
    rebuild.add_argument("--no-push", action="store_true", help="commit but do not push")
    rebuild.add_argument("--dry-run", action="store_true", help="write nothing, list the files that would change")
    demo = commands.add_parser("demo", help="offline: mirror a bundled sample site into a local bare repository")
    demo.add_argument("--dir", default="mirrord-demo", help="where the demo's state and repositories go "
                      "[./mirrord-demo]")
    return parser


def main(argv: list[str] | None = None) -> int:
    gc.set_threshold(YOUNG_OBJECTS, 10, 10)  # see start_up_settled
    args = build_parser().parse_args(argv)
    try:
        code = run_command(args)
        sys.stdout.flush()
    except BrokenPipeError:  # the output was piped into a reader that stopped early (`| head`): not a failure
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return code


@contextlib.contextmanager
def start_up_settled() -> Iterator[None]:
    """Keep what start-up made (modules, config, state) out of the cycle collector's sight while the command
    runs its cycles (`gc.freeze`); given back to it after. It lives as long as the command, and the collector
    went over it again and again: at Python's thresholds a cold cycle spent about 50 ms of CPU in
    collections, half of it one scan of every object the process held."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run(argv: list[str] | None = None) -> NoReturn:
    """The `mirrord` command: main(), then the process ends (`end`)."""
    end(main(argv))


def end(code: int) -> NoReturn:
    """End the process with code once its output and status log are flushed and the extraction workers it
    started (`once`, `preview`, the daemon) have ended, waited for, without the interpreter's teardown,
    which frees every loaded module's objects one by one (60-70 ms after a cycle, a third of `status`'s
    run) for a process about to vanish: the commands have closed what else they opened (the state, the
    clones' git processes)."""
    workers = sys.modules.get("mirrord.workers")  # loaded by a command that extracted an article
    if workers is not None:
        workers.WORKERS.close()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader gone (`| head`), a stream closed: all is said
            stream.flush()
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    os._exit(code)


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command and return its exit code; a problem the user can fix is said, not raised."""
    from mirrord.config import find_config_path, load_config, select_mirrors
    from mirrord.errors import ConfigError, MirrordError

    try:
        if args.command == "demo":
            from mirrord.demo import run_demo

            return run_demo(Path(args.dir), verbose=args.verbose)
        config = load_config(find_config_path(args.config, os.environ))
        if args.command in ("once", "run", "rebuild"):
            unknown = [name for name in args.mirrors if name not in config.mirrors]
            if unknown:
                say(f"mirrord: no mirror named {', '.join(unknown)} in {config.path} "
                    f"(mirrors: {', '.join(config.mirrors) or 'none'})", sys.stderr)
                return EXIT_CONFIG
            config = select_mirrors(config, args.mirrors)
        if args.command == "check":
            return command_check(config, args)
        if args.command == "preview":
            return command_preview(config, args)
        if args.command == "run":
            return command_run(config, args)
        if args.command == "status":
            return command_status(config, args)
        if args.command == "retry":
            return command_retry(config, args)
        if args.command == "rebuild":
            return command_rebuild(config, args)
        return command_once(config, args)
    except ConfigError as error:
        say(f"mirrord: {error.headline}, {len(error.problems)} problem(s):\n{error}", sys.stderr, lines=True)
        return EXIT_CONFIG
    except MirrordError as error:
        say(f"mirrord: {error}", sys.stderr)
        return EXIT_PARTIAL
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def command_check(config: Config, args: argparse.Namespace) -> int:
    """Print OK for a valid config whose folders and credentials can be used (else raise SetupError listing
    each problem); with --network, one line per channel and remote reached, each problem's line saying what
    to fix, and exit 1 when one cannot be reached: a timer tells an unreachable site (1) from a bad config (2)."""
    from mirrord.preflight import require_usable

    require_usable(config, os.environ)
    print(f"{config.path}: OK ({len(config.mirrors)} mirrors, {len(config.sources)} sources)")
    if not args.network:
        return EXIT_OK
    import logging

    from mirrord.log import configure_logging
    from mirrord.netcheck import check_network

    configure_logging(None, verbose=args.verbose, console_level=logging.ERROR)
    findings = check_network(config)
    for finding in findings:
        say(finding.line(), sys.stdout if finding.ok else sys.stderr)
    problems = [finding for finding in findings if not finding.ok]
    print(f"{len(findings) - len(problems)} reached, {len(problems)} problem(s)")
    return EXIT_PARTIAL if problems else EXIT_OK


def command_preview(config: Config, args: argparse.Namespace) -> int:
    """Print the page a cycle would publish on stdout and the report on stderr; exit 1 when it would be
    held back or could not be fetched."""
    import logging

    from mirrord.log import configure_logging, printable
    from mirrord.preview import preview_article

    channel = pick_channel(config, args.source, args.channel)
    if channel is None:
        return EXIT_CONFIG
    configure_logging(None, verbose=args.verbose, console_level=logging.WARNING)
    result = preview_article(config, channel, args.url)
    say(f"preview of {args.url} with the rules of {channel.source}/{channel.name}:", sys.stderr)
    for line in result.report:
        say(f"  {line}", sys.stderr)
    if result.page is None:
        return EXIT_PARTIAL
    sys.stdout.write(printable(result.page, lines=True))
    return EXIT_OK


def pick_channel(config: Config, source_name: str, channel_name: str | None) -> Channel | None:
    """Return the named channel of the source (its first when unnamed); None, with a message, when there is none."""
    source = config.sources.get(source_name)
    if source is None:
        print(f"mirrord: no source named {source_name} in {config.path} "
              f"(sources: {', '.join(config.sources) or 'none'})", file=sys.stderr)
        return None
    channels = {channel.name: channel for channel in source.channels}
    if channel_name is not None and channel_name not in channels:
        print(f"mirrord: source {source_name} has no channel named {channel_name} "
              f"(channels: {', '.join(channels)})", file=sys.stderr)
        return None
    return channels[channel_name] if channel_name else source.channels[0]


def command_once(config: Config, args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from mirrord.model import Options
    from mirrord.outcome import CycleWatch, record_results, source_results

    args.sources = list(dict.fromkeys(args.sources + args.source_options))
    unknown = [name for name in args.sources if name not in config.sources]
    if unknown:
        print(f"mirrord: no source named {', '.join(unknown)} in {config.path} "
              f"(sources: {', '.join(config.sources) or 'none'})", file=sys.stderr)
        return EXIT_CONFIG
    if not args.dry_run:
        from mirrord.preflight import require_places

        require_places(config)
    lock_wait = lock_wait_of(os.environ)
    if lock_wait is None:
        print(f"mirrord: MIRRORD_LOCK_WAIT must be a number of seconds, found {os.environ['MIRRORD_LOCK_WAIT']!r}",
              file=sys.stderr)
        return EXIT_CONFIG
    options = Options(push=not args.no_push, dry_run=args.dry_run, lock_wait=lock_wait, shallow=args.shallow)
    started = datetime.now(timezone.utc)
    watch = CycleWatch(config, args.sources)
    try:
        with watch:
            reports = run_cycle(config, args, options)
    except KeyboardInterrupt:
        say(f"mirrord: {watch.note_interrupted()}", sys.stderr)
        return EXIT_INTERRUPTED
    broken: set[str] = set()
    if not args.dry_run:
        names = args.sources or list(config.sources)
        broken = record_results(config, [(r.mirror, result) for r in reports
                                         for result in source_results(config, r, names)], started)
    for report in reports:
        print_report(report, args.dry_run)
    for name in sorted(broken):
        say(f"source {name} is broken: every article it fetched was held back, cycle after cycle; "
            f"mirrord status --source {name} says why", sys.stderr)
    for report in reports:
        if report.locked:
            say(f"mirrord: {report.failures[0].line()}", sys.stderr)
    if any(r.locked for r in reports):
        return EXIT_LOCKED
    return EXIT_OK if all(r.ok for r in reports) and not broken else EXIT_PARTIAL


def run_cycle(config: Config, args: argparse.Namespace, options: Options) -> list[Report]:
    """Run the cycle, its progress shown in a terminal (stopped whatever ends the cycle, Ctrl-C included), its
    events printed otherwise."""
    import logging

    from mirrord.log import configure_logging
    from mirrord.pipeline import run_once

    if sys.stderr.isatty():
        from rich.console import Console

        from mirrord.console import CycleProgress

        with CycleProgress(Console(stderr=True)):
            configure_logging(None if args.dry_run else config.log_file, verbose=args.verbose,
                              console_level=logging.DEBUG if args.verbose else SILENT)
            with start_up_settled():
                return run_once(config, args.sources, options)
    configure_logging(None if args.dry_run else config.log_file, verbose=args.verbose)
    with start_up_settled():
        return run_once(config, args.sources, options)


def allow_open_files() -> None:
    """Raise the daemon's soft limit of open files to its hard limit (at most OPEN_FILES): each mirror's thread
    holds about seven (its event loop's epoll and self-pipe, a few idle connections, its state's files), and
    the usual soft limit, 1024, would run out past some 130 mirrors. The loops use epoll, which any number
    suits; systemd's hard limit is 524288 unless the unit says otherwise."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):  # a system that refuses: the soft limit stays
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def lock_wait_of(environ: Mapping[str, str]) -> float | None:
    """Return the seconds `once` waits for another process writing a mirror: $MIRRORD_LOCK_WAIT, else 30;
    None when the variable is not a number of seconds."""
    from mirrord.model import Options

    value = environ.get("MIRRORD_LOCK_WAIT", "").strip()
    if not value:
        return Options.lock_wait
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def failure_lines(failure: Failure) -> list[str]:
    """Return the lines `once` gives a failure: its line as ever, then what to do on one of its own, so
    that scripts reading the first keep working."""
    return [f"  failed: {failure.line()}"] + ([f"    what to do: {failure.hint}"] if failure.hint else [])


def print_report(report: Report, dry_run: bool) -> None:
    """Print what a cycle did (or would do) for people; the status log has the details. URLs, titles and
    reasons come from sites and remotes: each line goes out printable (no terminal escapes)."""
    verb = "would publish" if dry_run else "published"
    say(f"mirror {report.mirror}: {verb} {len(report.published)}, pruned {len(report.pruned)}, "
        f"held back {len(report.held_back)}, failures {len(report.failures)}"
        + (f", commit {report.commit[:12]}" if report.commit else ""))
    lines = ([f"  + {path}" + (f" (named apart: {report.renamed[path]} is another article's)"
                              if path in report.renamed else "") for path in report.published]
             + [f"  - {path}" for path in report.pruned]
             + [f"  held back {url}: {reason}" for url, reason, _ in report.held_back]
             + [f"  skipped {url}: {reason}" for url, reason in report.skipped]
             + [line for failure in report.failures for line in failure_lines(failure)]
             + [f"  pushed to {remote}" for remote in report.pushed])
    for line in lines:
        say(line)


def say(line: str, file=None, lines: bool = False) -> None:
    """Print a line for people with nothing in it that a terminal would act on (see log.printable)."""
    from mirrord.log import printable

    print(printable(line, lines=lines), file=file or sys.stdout)


def command_run(config: Config, args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM; a stop that had to abandon a cycle exits at once with 1."""
    import logging

    from mirrord.config import find_config_path, load_config, select_mirrors
    from mirrord.log import configure_logging
    from mirrord.metrics import serve_metrics
    from mirrord.preflight import require_places
    from mirrord.scheduler import STOP_TIMEOUT, Daemon

    require_places(config)
    configure_logging(config.log_file, verbose=args.verbose)
    allow_open_files()

    def reload() -> Config:
        """Read the config again, keeping the mirrors of --mirror only."""
        return select_mirrors(load_config(find_config_path(args.config, os.environ)), args.mirrors)

    daemon = Daemon(config, reload, shallow=args.shallow)
    if config.metrics_listen:
        try:
            serve_metrics(config.metrics_listen, daemon.alive)
        except OSError as error:
            print(f"mirrord: cannot serve metrics on {config.metrics_listen} ({error.strerror}); change "
                  f"[metrics] listen in {config.path} or remove it", file=sys.stderr)
            return EXIT_CONFIG
    with start_up_settled():
        code = daemon.serve()
    if code != EXIT_OK:
        print(f"mirrord: cycles still running {STOP_TIMEOUT:.0f} s after the stop were abandoned", file=sys.stderr)
        logging.shutdown()
        os._exit(code)  # the abandoned cycles' threads would otherwise keep the process alive
    return code


def command_status(config: Config, args: argparse.Namespace) -> int:
    """Print what the state says, reading it where the config says it is (never creating one); exit 1 when
    a source is failing or a remote's last push failed. With --source, that source and its mirror only, and
    every error whole."""
    if args.source and not known_source(config, args.source):
        return EXIT_CONFIG
    if args.follow:
        return follow_log(config, args.level, args.source)
    from datetime import datetime, timezone

    from mirrord.status import as_json, gather, is_troubled

    now = datetime.now(timezone.utc)
    sources, mirrors = gather(config, now)
    if args.source:
        sources = [s for s in sources if s.name == args.source]
        mirrors = [m for m in mirrors if m.name == config.sources[args.source].mirror]
    if args.json:
        import json

        from mirrord.log import printable_json

        print(printable_json(json.dumps(as_json(sources, mirrors), indent=2, ensure_ascii=False)))
    else:
        from rich.console import Console

        from mirrord.console import print_status

        print_status(Console(width=None if sys.stdout.isatty() else 200), sources, mirrors, now,
                     whole=bool(args.source))
    return EXIT_PARTIAL if is_troubled(sources, mirrors) else EXIT_OK


def known_source(config: Config, name: str) -> bool:
    """Tell whether the config has a source of that name; say which it has when not."""
    if name in config.sources:
        return True
    print(f"mirrord: no source named {name} in {config.path} (sources: {', '.join(config.sources) or 'none'})",
          file=sys.stderr)
    return False


def command_rebuild(config: Config, args: argparse.Namespace) -> int:
    """Render the named mirrors (every one when none is named) again, each in one commit, pushed as a cycle
    pushes; exit 1 when a page could not be rendered again or a commit or push failed, 3 when a mirror's
    lock was held."""
    lock_wait = lock_wait_of(os.environ)
    if lock_wait is None:
        print(f"mirrord: MIRRORD_LOCK_WAIT must be a number of seconds, found {os.environ['MIRRORD_LOCK_WAIT']!r}",
              file=sys.stderr)
        return EXIT_CONFIG
    from mirrord.log import configure_logging
    from mirrord.model import Options
    from mirrord.pipeline import register_secrets
    from mirrord.preflight import require_places
    from mirrord.rerender import rebuild_mirror

    require_places(config)
    configure_logging(None if args.dry_run else config.log_file, verbose=args.verbose)
    register_secrets(config, config.mirrors)
    options = Options(push=not args.no_push, dry_run=args.dry_run, lock_wait=lock_wait)
    reports = [rebuild_mirror(config, mirror, options) for mirror in config.mirrors.values()]
    for report in reports:
        print_rebuild(report, args.dry_run)
    if any(report.locked for report in reports):
        return EXIT_LOCKED
    return EXIT_OK if all(report.ok and not report.skipped for report in reports) else EXIT_PARTIAL


def print_rebuild(report: Report, dry_run: bool) -> None:
    """Print what a rebuild changed (or would change) in a mirror, and what it left as it was."""
    verb = "would change" if dry_run else "changed"
    say(f"mirror {report.mirror}: {verb} {len(report.published)} files, removed {len(report.pruned)}, "
        f"left {len(report.skipped)} pages as they were, failures {len(report.failures)}"
        + (f", commit {report.commit[:12]}" if report.commit else ""))
    lines = ([f"  ~ {path}" for path in report.published] + [f"  - {path}" for path in report.pruned]
             + [f"  left as it was {path}: {reason}" for path, reason in report.skipped]
             + [line for failure in report.failures for line in failure_lines(failure)]
             + [f"  pushed to {remote}" for remote in report.pushed])
    for line in lines:
        say(line)


def command_retry(config: Config, args: argparse.Namespace) -> int:
    """Make the held-back articles of a source (of all when unnamed), given up or waiting, due again, so that
    the next cycle fetches them: after the rules were fixed, or a stub was filled in."""
    if args.source and not known_source(config, args.source):
        return EXIT_CONFIG
    from mirrord.preflight import require_places
    from mirrord.state import State

    require_places(config)
    state = State(config.state_dir / "state.sqlite3")
    try:
        count = state.retry_held_back([args.source] if args.source else list(config.sources))
    finally:
        state.close()
    print(f"{count} held-back article(s) of {args.source or 'every source'} will be fetched next cycle")
    return EXIT_OK


def follow_log(config: Config, level: str, source: str | None) -> int:
    """Print the status log's events for people as they come, until interrupted; say where the log is awaited
    when it is not there yet, and raise SetupError when it can never be there."""
    from rich.console import Console

    from mirrord.console import event_line
    from mirrord.follow import follow_events, wanted
    from mirrord.preflight import log_to_follow

    if note := log_to_follow(config):
        print(f"mirrord: {note}", file=sys.stderr, flush=True)
    console = Console(highlight=False, soft_wrap=True)
    mirror = config.sources[source].mirror if source else None
    try:
        for event in follow_events(config.log_file):
            if wanted(event, level, source, mirror):
                console.print(event_line(event))
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK
