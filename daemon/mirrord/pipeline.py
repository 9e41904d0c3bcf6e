"""One cycle of a mirror, stage by stage: the only module that knows the order of the stages.

fetch → discover → (ledger) → fetch pages → extract → render → prune → index → publish → push.
An entry is recorded in the ledger only after the commit holding its page exists, and a channel's
HTTP validators are saved only when all of its entries were dealt with, so that a crash or a
failed article never makes mirrord skip an article for good.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from mirrord.discover import discover_feed, discover_listing
from mirrord.encoding import decode_html
from mirrord.errors import DiscoverError, FetchError, HeldBack, PublishError
from mirrord.extract import extract_article, image_file, image_urls, with_local_images
from mirrord.fetch import Fetcher
from mirrord.index import index_path, parse_index, render_index, render_readme
from mirrord.log import get_logger, register_secret
from mirrord.model import Article, Channel, Config, Discovery, Entry, LedgerRow, Mirror, PageFile, Response, Source
from mirrord.publish import RemoteMoved, Workspace, mirror_lock, secrets_of
from mirrord.render import page_parts, page_path, parse_metadata, render_page
from mirrord.state import State

log = get_logger()
# Pictures above this size stay on the site: the mirror is a git repository that only grows.
IMAGE_MAX_BYTES = 5_000_000


@dataclass(frozen=True)
class Options:
    """How a run goes: `push_backoff` makes a remote that failed wait its turn (the daemon); `once` tries now."""

    push: bool = True
    dry_run: bool = False
    lock_wait: float = float(os.environ.get("MIRRORD_LOCK_WAIT", "30"))
    push_backoff: bool = False


@dataclass(frozen=True)
class Candidate:
    """A new article to fetch, under the first channel of the cycle that lists it."""

    entry: Entry
    channel: Channel


@dataclass
class Report:
    """What a cycle of one mirror did: printed by `once`, turned into the exit code."""

    mirror: str
    published: list[str] = field(default_factory=list)
    held_back: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    commit: str | None = None
    pushed: list[str] = field(default_factory=list)
    failed_remotes: set[str] = field(default_factory=set)
    unfinished_channels: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class Plan:
    """The outcome of discovery: what to fetch, where pages already are, and every new (channel, entry).

    `listed` is in ledger order: channel by channel, oldest entry first, so that each index stays in
    its channel's own order even for articles that another channel published.
    """

    candidates: list[Candidate] = field(default_factory=list)
    pages: dict[str, str] = field(default_factory=dict)
    listed: list[tuple[Channel, Entry]] = field(default_factory=list)
    old: list[LedgerRow] = field(default_factory=list)
    validators: dict[str, Response] = field(default_factory=dict)


def run_once(config: Config, source_names: list[str], options: Options) -> list[Report]:
    """Run one cycle of the named sources (all when empty), one commit per mirror."""
    sources = [config.sources[name] for name in source_names] if source_names else list(config.sources.values())
    by_mirror: dict[str, list[Source]] = {}
    for source in sources:
        by_mirror.setdefault(source.mirror, []).append(source)
    return asyncio.run(run_mirrors(config, by_mirror, options))


async def run_mirrors(config: Config, by_mirror: Mapping[str, list[Source]], options: Options) -> list[Report]:
    register_secrets(config)
    state = State(config.state_dir / "state.sqlite3", copy=options.dry_run)
    try:
        async with Fetcher(config.http) as fetcher:
            return [await run_mirror(config, config.mirrors[name], sources, state, fetcher, options)
                    for name, sources in by_mirror.items()]
    finally:
        state.close()


async def run_mirror(config: Config, mirror: Mirror, sources: list[Source], state: State, fetcher: Fetcher,
                     options: Options) -> Report:
    """One cycle of one mirror under its lock."""
    report = Report(mirror.name)
    started = datetime.now(timezone.utc)
    log.info("cycle.start", mirror=mirror.name, sources=[s.name for s in sources])
    if options.dry_run:
        published, _ = await collect(mirror, sources, state, fetcher, report, False)
        report.published = [page_path(a.channel, a.id) for _, a in published]
    else:
        with mirror_lock(config.state_dir, mirror.name, options.lock_wait):
            await publish_cycle(config, mirror, sources, state, fetcher, report, options)
    log.info("cycle.done", mirror=mirror.name, new=len(report.published), pruned=len(report.pruned),
             failed=len(report.failures), duration_ms=elapsed_ms(started))
    return report


async def publish_cycle(config: Config, mirror: Mirror, sources: list[Source], state: State, fetcher: Fetcher,
                        report: Report, options: Options) -> None:
    workspace, rebuilt = open_workspace(config, mirror, state, report)
    if workspace is None:
        return
    try:
        published, plan = await collect(mirror, sources, state, fetcher, report, rebuilt)
        publish(config, mirror, published, plan, state, workspace, report, options)
    finally:
        workspace.close()


def register_secrets(config: Config) -> None:
    """Tell the status log which values must never appear in it: tokens and key paths of the mirrors."""
    for mirror in config.mirrors.values():
        for secret in secrets_of(mirror, dict(os.environ)):
            register_secret(secret)


async def collect(mirror: Mirror, sources: list[Source], state: State, fetcher: Fetcher, report: Report,
                  rebuilt: bool) -> tuple[list[tuple[Candidate, Article]], Plan]:
    """Discover every channel, then fetch and extract the new articles, all concurrently."""
    channels = [channel for source in sources for channel in source.channels]
    discoveries = await asyncio.gather(*(discover_channel(c, mirror, state, fetcher, report) for c in channels))
    plan = plan_cycle(mirror, list(zip(channels, discoveries, strict=True)), state, rebuilt)
    log.debug("cycle.planned", mirror=mirror.name, new=len(plan.candidates))
    local = state.live_paths_by_url(mirror.name) if mirror.links == "rewrite" else {}
    local.update({c.entry.url: page_path(c.channel.name, c.entry.id) for c in plan.candidates})
    articles = await asyncio.gather(*(fetch_article(c, mirror, fetcher, local, report) for c in plan.candidates))
    return [(c, a) for c, a in zip(plan.candidates, articles, strict=True) if a is not None], plan


def open_workspace(config: Config, mirror: Mirror, state: State, report: Report) -> tuple[Workspace | None, bool]:
    """Return the mirror's working clone, and whether its ledger had to be rebuilt from the mirror
    because the database was lost."""
    try:
        workspace = Workspace.open(config.state_dir, mirror)
    except PublishError as error:
        report.failures.append(str(error))
        log.error("commit.failed", mirror=mirror.name, error=str(error))
        return None, False
    settled = state.settle_cycle(mirror.name, workspace.head())
    if settled is not None:
        log.warning("cycle.recovered", mirror=mirror.name, commit=workspace.head(),
                    error="an interrupted cycle " + ("had committed: recorded" if settled else "had not committed"))
    if state.has_rows(mirror.name) or workspace.head() is None:
        return workspace, False
    live, pruned = rebuilt_ledger(config, mirror, workspace)
    state.restore(live, pruned)
    log.warning("ledger.rebuilt", mirror=mirror.name, new=len(live), pruned=len(pruned))
    return workspace, True


def rebuilt_ledger(config: Config, mirror: Mirror, workspace: Workspace) -> tuple[list[LedgerRow], list[LedgerRow]]:
    """Return the ledger rows the mirror itself records: its indexes and pages' metadata lines for the
    live pages, and the git history's deleted pages for the pruned ones (so they are never republished)."""
    live = [row for source in mirror_sources(config, mirror) for channel in source.channels
            for path in reversed(parse_index(workspace.read_text(index_path(channel.name)) or ""))
            if (row := row_from_page(mirror, channel, path, workspace.read_text(path) or ""))]
    now = datetime.now(timezone.utc)
    pruned = []
    for path in workspace.deleted_pages():
        channel_name, page_id = page_parts(path) or ("", "")
        if page_id:
            pruned.append(LedgerRow(mirror.name, channel_name, page_id, path, page_id, "", "", now, pruned=True))
    return live, pruned


def row_from_page(mirror: Mirror, channel: Channel, path: str, page: str) -> LedgerRow | None:
    """Return the ledger row a page's metadata line gives for one channel listing it; None if it has none."""
    meta = parse_metadata(page)
    try:
        fetched = datetime.fromisoformat(meta["fetched"]) if meta else None
    except (TypeError, ValueError):
        fetched = None
    if meta is None or fetched is None:
        return None
    return LedgerRow(mirror.name, channel.name, meta["id"], path, meta.get("title") or meta["id"], meta["url"],
                     meta["source"], fetched)


async def discover_channel(channel: Channel, mirror: Mirror, state: State, fetcher: Fetcher,
                           report: Report) -> tuple[Discovery, Response] | None:
    """Return the channel's entries and the response they came from; None when it failed (logged)."""
    context = {"mirror": mirror.name, "source": channel.source, "channel": channel.name, "url": channel.url}
    if backed_off(channel, state, report, context):
        return None
    try:
        response = await fetcher.get(channel.url, *state.validators(channel.url))
        discovery = read_channel(channel, response)
    except (FetchError, DiscoverError) as error:
        log.warning("fetch.failed" if isinstance(error, FetchError) else "discover.failed", **context,
                    error=str(error))
        state.channel_failed(channel.source, channel.name, str(error))
        report.failures.append(f"channel {channel.source}/{channel.name}: {error}")
        return None
    state.channel_succeeded(channel.source, channel.name)
    for skip in discovery.skipped:
        log.info("item.skipped", **{**context, "url": skip.url}, article=skip.title, error=skip.reason)
    report.skipped += [(skip.url or skip.title or "(an item without link or title)", skip.reason)
                       for skip in discovery.skipped]
    return discovery, response


def backed_off(channel: Channel, state: State, report: Report, context: dict[str, str]) -> bool:
    """Tell whether a channel that failed several cycles in a row must wait before its next poll; such a
    channel still counts as failing (logged, in the report) so that it is not forgotten."""
    backoff = state.channel_backoff(channel.source, channel.name)
    if backoff is None or backoff[0] <= datetime.now(timezone.utc):
        return False
    retry_at, failures, error = backoff
    reason = (f"failed {failures} cycles in a row, next poll after {retry_at:%Y-%m-%d %H:%M} UTC "
              f"(last error: {error})")
    log.warning("channel.backed_off", **context, error=reason)
    report.failures.append(f"channel {channel.source}/{channel.name}: {reason}")
    return True


def read_channel(channel: Channel, response: Response) -> Discovery:
    """Return the entries of a channel's response; a 304 means nothing new."""
    if response.not_modified:
        return Discovery(())
    if channel.is_feed:
        return discover_feed(response, channel.rules)
    return discover_listing(response, channel.items or "", channel.rules)


def plan_cycle(mirror: Mirror, found: list[tuple[Channel, tuple[Discovery, Response] | None]],
               state: State, rebuilt: bool = False) -> Plan:
    """Decide what to fetch: entries not in the ledger, each article once even when several channels list it.

    Right after the ledger was rebuilt, entries listed below a page the mirror has are taken as old
    ones that `keep` dropped before they were ever written, and recorded without being published.
    """
    plan = Plan()
    fresh: dict[str, list[Entry]] = {}
    for channel, result in found:
        if result:
            fresh[channel.name], old = new_entries(mirror, channel, result[0], state, rebuilt)
            plan.old += [LedgerRow(mirror.name, channel.name, e.id, page_path(channel.name, e.id), e.title, e.url,
                                   channel.source, datetime.now(timezone.utc), pruned=True) for e in old]
    published = state.rows_by_url(mirror.name, (e.url for entries in fresh.values() for e in entries))
    plan.pages = {url: row.path for url, row in published.items() if state.path_in_use(mirror.name, row.path, set())}
    fetching: set[str] = set()
    for channel, result in found:
        if result is None:
            continue
        plan.validators[channel.url] = result[1]
        for entry in reversed(fresh[channel.name]):
            plan.listed.append((channel, entry))
            if entry.url not in published and entry.url not in fetching:
                fetching.add(entry.url)
                plan.candidates.append(Candidate(entry, channel))
    return plan


def new_entries(mirror: Mirror, channel: Channel, discovery: Discovery, state: State,
                older_are_old: bool) -> tuple[list[Entry], list[Entry]]:
    """Return the channel's entries missing from the ledger: (new ones, old ones); old only when asked."""
    known = state.known_ids(mirror.name, channel.name)
    listed = list(discovery.entries)
    first_known = len(listed)
    if older_are_old:
        first_known = next((i for i, e in enumerate(listed) if e.id in known), first_known)
    return ([e for e in listed[:first_known] if e.id not in known],
            [e for e in listed[first_known:] if e.id not in known])


async def fetch_article(candidate: Candidate, mirror: Mirror, fetcher: Fetcher, local: dict[str, str],
                        report: Report) -> Article | None:
    """Return the extracted article, or None when it is held back or its page failed (both logged)."""
    entry, channel = candidate.entry, candidate.channel
    context = {"mirror": mirror.name, "source": channel.source, "channel": channel.name, "article": entry.id,
               "url": entry.url}
    try:
        page = await fetch_page(entry, channel, fetcher) if channel.rules.content else None
        links = relative_links(local, page_path(channel.name, entry.id))
        article = extract_article(entry, channel, mirror, page, datetime.now(timezone.utc), links)
        log.debug("article.extracted", **context)
        pictures = fetcher.for_pictures(channel.rules.image_hosts)
        return await download_images(article, pictures, context) if mirror.images == "download" else article
    except HeldBack as reason:
        log.warning("article.skipped", **context, error=str(reason))
        report.held_back.append((entry.url, str(reason)))
    except FetchError as error:
        log.warning("fetch.failed", **context, error=str(error))
        report.failures.append(f"article {entry.url}: {error}")
    report.unfinished_channels.add(channel.url)
    return None


async def fetch_page(entry: Entry, channel: Channel, fetcher: Fetcher) -> str:
    """Return the decoded text of an article's page; redirects may not leave the source's hosts."""
    response = await fetcher.get(entry.url, hosts=channel.rules.hosts)
    return decode_html(response.body, response.content_type)


async def download_images(article: Article, fetcher: Fetcher, context: dict[str, str]) -> Article:
    """Return the article with its pictures stored beside its page, for readers who cannot reach the site.
    A picture that cannot be stored keeps pointing at the site (logged): the page is worth more than it."""
    urls = image_urls(article)
    files = await asyncio.gather(*(download_image(article, url, fetcher, context) for url in urls))
    return with_local_images(article, {url: file for url, file in zip(urls, files, strict=True) if file})


async def download_image(article: Article, url: str, fetcher: Fetcher, context: dict[str, str]) -> PageFile | None:
    try:
        return image_file(article, await fetcher.get(url, max_bytes=IMAGE_MAX_BYTES))
    except FetchError as error:
        log.warning("image.failed", **{**context, "url": url}, error=str(error))
        return None


def relative_links(local: dict[str, str], from_path: str) -> dict[str, str]:
    """Return url -> path relative to from_path's folder, for pages under pages/<channel>/."""
    if not local:
        return {}
    return {url: "../" + path.removeprefix("pages/") for url, path in local.items() if path != from_path}


def publish(config: Config, mirror: Mirror, published: list[tuple[Candidate, Article]], plan: Plan, state: State,
            workspace: Workspace, report: Report, options: Options) -> None:
    """Write, prune, index, commit, record and push; failures are noted in the report."""
    try:
        commit_cycle(config, mirror, published, plan, state, workspace, report)
    except PublishError as error:
        report.failures.append(str(error))
        log.error("commit.failed", mirror=mirror.name, error=str(error))
        return
    save_validators(plan, report, state)
    if options.push:
        push_remotes(mirror, workspace, state, report, options)


def commit_cycle(config: Config, mirror: Mirror, published: list[tuple[Candidate, Article]], plan: Plan,
                 state: State, workspace: Workspace, report: Report) -> None:
    now = datetime.now(timezone.utc)
    new_rows = ledger_rows(mirror, plan, published, now)
    pruned = rows_to_prune(mirror, new_rows, state)
    pruned_keys = {(r.channel, r.id) for r in pruned}
    kept = [(c, a) for c, a in published if (a.channel, a.id) not in pruned_keys]
    files = [file for _, article in kept for file in render_page(article, mirror)]
    doomed = deleted_paths(mirror, pruned, new_rows, state)
    sources = mirror_sources(config, mirror)
    shown = {c.name: channel_rows(mirror, c.name, new_rows, pruned, state) for s in sources for c in s.channels}
    indexes = changed_indexes(mirror, sources, shown, workspace)
    if not (files or doomed or indexes):
        state.record_cycle(new_rows + plan.old, pruned + plan.old, "")
        return
    files += indexes + [readme_file(mirror, sources, shown, now)]
    state.begin_cycle(mirror.name, workspace.head(), new_rows + plan.old, pruned + plan.old)
    workspace.write(files, doomed)
    message = mirror.commit_message.format(time=now.strftime("%Y-%m-%d %H:%M UTC"), new=len(kept),
                                           pruned=len(doomed))
    report.commit = workspace.commit(files, doomed, message)
    state.finish_cycle(mirror.name, report.commit)
    report.published = [page_path(a.channel, a.id) for _, a in kept]
    report.pruned = [p for p in doomed if p.endswith(".md")]
    for _, article in kept:
        log.info("article.published", mirror=mirror.name, source=article.source, channel=article.channel,
                 article=article.id, url=article.url)
    log.info("commit.done", mirror=mirror.name, commit=report.commit, new=len(kept), pruned=len(report.pruned))


def ledger_rows(mirror: Mirror, plan: Plan, published: list[tuple[Candidate, Article]],
                now: datetime) -> list[LedgerRow]:
    """Return a row for every new (channel, entry) whose page exists now, in the plan's order."""
    pages = plan.pages | {a.url: page_path(a.channel, a.id) for _, a in published}
    return [LedgerRow(mirror.name, channel.name, entry.id, pages[entry.url], entry.title, entry.url, channel.source,
                      now) for channel, entry in plan.listed if entry.url in pages]


def rows_to_prune(mirror: Mirror, new_rows: list[LedgerRow], state: State) -> list[LedgerRow]:
    """Return the rows past `keep` in each channel that gets new rows, oldest first."""
    if mirror.keep == 0:
        return []
    pruned = []
    for channel in dict.fromkeys(row.channel for row in new_rows):
        live = state.live_rows(mirror.name, channel) + [r for r in new_rows if r.channel == channel]
        pruned += live[: max(0, len(live) - mirror.keep)]
    return pruned


def deleted_paths(mirror: Mirror, pruned: list[LedgerRow], new_rows: list[LedgerRow], state: State) -> list[str]:
    """Return the files of pruned pages that no live row of any channel still shows."""
    gone = {(r.channel, r.id) for r in pruned}
    still_new = {r.path for r in new_rows if (r.channel, r.id) not in gone}
    paths = []
    for path in dict.fromkeys(r.path for r in pruned if r.seq):
        if path not in still_new and not state.path_in_use(mirror.name, path, gone):
            paths += [path, f"{path}.png", path.removesuffix(".md") + ".files"]
    return paths


def channel_rows(mirror: Mirror, channel: str, new_rows: list[LedgerRow], pruned: list[LedgerRow],
                 state: State) -> list[LedgerRow]:
    """Return the rows a channel's index shows after this cycle, new rows last (newest)."""
    gone = {(r.channel, r.id) for r in pruned}
    rows = state.live_rows(mirror.name, channel) + [r for r in new_rows if r.channel == channel]
    rows = [r for r in rows if (r.channel, r.id) not in gone]
    top = max((r.seq for r in rows), default=0)
    return [r if r.seq else LedgerRow(**{**r.__dict__, "seq": top + i + 1}) for i, r in enumerate(rows)]


def mirror_sources(config: Config, mirror: Mirror) -> list[Source]:
    return [source for source in config.sources.values() if source.mirror == mirror.name]


def changed_indexes(mirror: Mirror, sources: list[Source], shown: dict[str, list[LedgerRow]],
                    workspace: Workspace) -> list[PageFile]:
    """Return the channel indexes whose text changes (or that do not exist yet); `shown` has each
    channel's rows after this cycle."""
    changed = []
    for source in sources:
        for channel in source.channels:
            data = render_index(mirror, channel.title, shown[channel.name]).encode("utf-8")
            if workspace.read(index_path(channel.name)) != data:
                changed.append(PageFile(index_path(channel.name), data))
    return changed


def readme_file(mirror: Mirror, sources: list[Source], shown: dict[str, list[LedgerRow]], now: datetime) -> PageFile:
    counts = {name: len(rows) for name, rows in shown.items()}
    return PageFile("README.md", render_readme(mirror, sources, counts, now).encode("utf-8"))


def save_validators(plan: Plan, report: Report, state: State) -> None:
    """Remember a channel's ETag/Last-Modified only when none of its articles must be retried: a 304 next
    cycle would otherwise hide them until the channel changes."""
    for url, response in plan.validators.items():
        if url not in report.unfinished_channels and (response.etag or response.last_modified):
            state.save_validators(url, response.etag, response.last_modified)


def push_remotes(mirror: Mirror, workspace: Workspace, state: State, report: Report, options: Options) -> None:
    """Push to every remote that lacks HEAD, the first one first; one failing does not stop the others.
    Then squash the history if it grew past `squash_after`, and record the repository's size."""
    if workspace.head() is None:
        return
    for round_ in range(2):  # a second round gives the remotes pushed before a later one moved HEAD the new HEAD
        for name, url in workspace.remote_names():
            if state.pushed_commit(mirror.name, url) == workspace.head() or url in report.failed_remotes:
                continue
            if options.push_backoff and not state.push_due(mirror.name, url):
                if round_ == 0:
                    log.info("push.deferred", mirror=mirror.name, remote=url)
                continue
            push_remote(mirror, workspace, name, url, state, report)
    commits = workspace.commits_since(None)
    if mirror.squash_after and commits > mirror.squash_after and not report.failures:
        squash_history(mirror, workspace, state, report, commits)
        commits = 1
    state.record_repository(mirror.name, workspace.head(), commits, workspace.size_bytes())


def push_remote(mirror: Mirror, workspace: Workspace, name: str, url: str, state: State, report: Report) -> None:
    """Push to one remote; if it moved, bring its commits in first (never force). Record the outcome."""
    try:
        try:
            workspace.push(name)
        except RemoteMoved:
            log.info("push.integrate", mirror=mirror.name, remote=url)
            workspace.integrate(name, rewrite=not pushed_elsewhere(mirror, workspace, url, state))
            workspace.push(name)
    except PublishError as error:
        unpushed = workspace.commits_since(state.pushed_commit(mirror.name, url))
        log.warning("push.failed", mirror=mirror.name, remote=url, error=str(error), unpushed=unpushed)
        state.push_failed(mirror.name, url, str(error), unpushed)
        report.failures.append(f"push to {url}: {error}")
        report.failed_remotes.add(url)
        return
    state.push_succeeded(mirror.name, url, workspace.head())
    report.pushed.append(url)
    log.info("push.done", mirror=mirror.name, remote=url, commit=workspace.head())


def pushed_elsewhere(mirror: Mirror, workspace: Workspace, url: str, state: State) -> bool:
    """Tell whether another remote has commits that rebasing onto `url`'s branch would rewrite."""
    others = [state.pushed_commit(mirror.name, other) for _, other in workspace.remote_names() if other != url]
    return any(sha and not workspace.is_ancestor(sha, "FETCH_HEAD") for sha in others)


def squash_history(mirror: Mirror, workspace: Workspace, state: State, report: Report, count: int) -> None:
    """Replace the history by one commit with the same tree and force-push it, each push leased on the
    commit that remote was last given, so that a remote that moved meanwhile is never overwritten."""
    before = workspace.head()
    single = workspace.squash(f"mirrord: history squashed ({count} commits, squash_after = {mirror.squash_after})")
    log.info("commit.squashed", mirror=mirror.name, commit=single, pruned=count)
    for name, url in workspace.remote_names():
        try:
            workspace.push(name, lease=before)
        except PublishError as error:
            log.warning("push.failed", mirror=mirror.name, remote=url, error=str(error))
            state.push_failed(mirror.name, url, str(error), 1)
            report.failures.append(f"push to {url}: {error}")
            continue
        state.push_succeeded(mirror.name, url, single)
        log.info("push.done", mirror=mirror.name, remote=url, commit=single)


def elapsed_ms(started: datetime) -> int:
    return int((datetime.now(timezone.utc) - started).total_seconds() * 1000)
