"""`mirrord rebuild`: every live page's chrome, the indexes, the feeds and the README rendered again from what
the mirror holds, in one commit, fetching nothing.

After the header, footer, public_url, templates or labels changed, pages already published would keep the
old ones: the mirror would read half one way and half the other. Each page's lead and body are taken back
exactly (see `pageblocks`) and put under the chrome the config gives now, by the functions a cycle
renders with. A page whose blocks cannot be told apart with certainty is left as it is, and said.
Nothing changed, nothing is committed.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import partial

from mirrord.commit import changed_feeds, changed_indexes, readme_file
from mirrord.errors import LockHeld, PublishError
from mirrord.integrate import integrate_remote, prepare
from mirrord.lock import mirror_lock
from mirrord.log import get_logger
from mirrord.model import Article, Config, LedgerRow, Mirror, Options, PageFile, Source
from mirrord.outcome import Report, commit_failed, stopped
from mirrord.pageblocks import page_blocks
from mirrord.publish import Workspace
from mirrord.remotes import Integrate, push_remotes
from mirrord.render import fetched_time, page_files, page_path, page_url, parse_metadata
from mirrord.state import State

log = get_logger()
COMMIT_MESSAGE = "rebuild {time}: {pages} pages rendered again"


def rebuild_mirror(config: Config, mirror: Mirror, options: Options) -> Report:
    """Render the mirror again under its lock, commit once, push like a cycle; a dry run writes nothing (the
    report says what would change). Another process holding the lock, or a clone the system cannot write,
    ends in the report, as for a cycle."""
    try:
        return rebuild_locked(config, mirror, options)
    except (LockHeld, OSError) as error:
        return stopped(mirror.name, error)


def rebuild_locked(config: Config, mirror: Mirror, options: Options) -> Report:
    report = Report(mirror.name)
    with mirror_lock(config.state_dir, mirror.name, options.lock_wait):
        state = State(config.state_dir / "state.sqlite3", copy=options.dry_run)
        try:
            workspace = Workspace.open(config.state_dir, mirror)
        except PublishError as error:
            state.close()
            commit_failed(mirror.name, error, report)
            return report
        try:
            sources = config.sources_of(mirror.name)
            integrate = partial(integrate_remote, mirror, sources, workspace, state)
            pushing = options.push and not options.dry_run
            rebuild_in(mirror, sources, workspace, state, options, report, integrate if pushing else None)
            if pushing:
                push_remotes(mirror, workspace, state, report, backoff=False, integrate=integrate)
        except PublishError as error:
            commit_failed(mirror.name, error, report)
        finally:
            workspace.close()
            state.close()
    return report


def rebuild_in(mirror: Mirror, sources: list[Source], workspace: Workspace, state: State, options: Options,
               report: Report, integrate: Integrate | None) -> None:
    """Render, compare with the clone, and commit what differs (in a dry run, only report it). A mirror that
    has never been published has nothing to render again. What another host pushed is taken in first (when
    pushing), as a cycle does, so that the pages rendered again are the mirror's newest."""
    if workspace.head() is None:
        log.info("rebuild.done", mirror=mirror.name, commit=None, pages=0, changed=0, skipped=0)
        return
    prepare(mirror, sources, workspace, state, integrate)
    live = state.ledger_rows(mirror.name, (), ())
    shown = {channel.name: [row for row in live if row.channel == channel.name]
             for source in sources for channel in source.channels}
    pages, deleted = rendered_pages(mirror, live, workspace, report)
    written = {file.path: file.data for file in pages}
    indexes = changed_indexes(mirror, sources, shown, workspace, set(shown))
    feeds = changed_feeds(mirror, sources, shown, workspace, written, set(shown))
    now = datetime.now(timezone.utc)
    files = pages + indexes + feeds
    readme = readme_file(mirror, sources, shown, now)
    if files or deleted or readme_differs(readme, readme_file(mirror, sources, shown, now - timedelta(days=400)),
                                          workspace.read(readme.path)):
        files.append(readme)
    report.published = [file.path for file in files]
    report.pruned = deleted
    count = len([path for path in written if path.endswith(".md")])
    if files and not options.dry_run:
        workspace.write(files, deleted)
        report.commit = workspace.commit(files, deleted, COMMIT_MESSAGE.format(
            time=now.strftime("%Y-%m-%d %H:%M UTC"), pages=count))
    log.info("rebuild.done", mirror=mirror.name, commit=report.commit, pages=count, changed=len(files),
             skipped=len(report.skipped))


def rendered_pages(mirror: Mirror, live: list[LedgerRow], workspace: Workspace,
                   report: Report) -> tuple[list[PageFile], list[str]]:
    """Return the page files (pages, QR codes) that differ once rendered again, and the QR codes no longer
    wanted; a page that cannot be rendered again is put in the report's skipped list and logged."""
    files: list[PageFile] = []
    deleted: list[str] = []
    rows = {row.path: row for row in live}
    held = workspace.read_many([path for page in rows for path in (page, f"{page}.png")])
    for row in rows.values():
        page = held[row.path]
        rendered = page_again(mirror, row, page.decode("utf-8", errors="replace") if page is not None else None)
        if isinstance(rendered, str):
            report.skipped.append((row.path, rendered))
            log.warning("rebuild.skipped", mirror=mirror.name, channel=row.channel, article=row.id, path=row.path,
                        error=rendered)
            continue
        files += [file for file in rendered if held[file.path] != file.data]
        qr = f"{row.path}.png"
        if len(rendered) == 1 and held[qr] is not None:
            deleted.append(qr)
    return files, deleted


def page_again(mirror: Mirror, row: LedgerRow, page: str | None) -> list[PageFile] | str:
    """Return a live page's files rendered again around its own blocks, or why it cannot be."""
    if page is None:
        return "the page is missing from the mirror"
    meta = parse_metadata(page)
    fetched = fetched_time(meta)
    if meta is None or fetched is None:
        return "the page has no readable metadata line"
    if page_path(str(meta.get("channel")), str(meta["id"])) != row.path:
        return "the page's metadata line names another page"
    blocks = page_blocks(page, mirror.header, page_url(meta["url"]))
    if blocks is None:
        return ("its body cannot be told apart from the header it was published with: run rebuild once with "
                "that header, then change it")
    article = Article(id=meta["id"], url=meta["url"], title=meta.get("title") or row.title, source=meta["source"],
                      channel=meta["channel"], lead_html="", body_html="", text_length=0, fetched=fetched)
    return page_files(article, mirror, blocks)


def readme_differs(readme: PageFile, other_time: PageFile, old: bytes | None) -> bool:
    """Tell whether the README differs from the one in the mirror by more than the time of the last change
    (the lines in which two renderings at different times differ): a rebuild that changes nothing else
    rewrites it only when its title, header, sources or labels changed."""
    if old is None:
        return True
    lines, timed, before = readme.data.splitlines(), other_time.data.splitlines(), old.splitlines()
    return len(lines) != len(before) or any(line != was for line, other, was in zip(lines, timed, before, strict=True)
                                            if line == other)
