"""Typed values passed between the stages of the pipeline (all frozen, times aware UTC)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path


@dataclass(frozen=True)
class HttpSettings:
    user_agent: str
    timeout: float
    concurrency: int
    per_host: int
    retries: int
    max_bytes: int
    proxy: str | None


@dataclass(frozen=True)
class Mirror:
    name: str
    title: str
    remotes: tuple[str, ...]
    branch: str
    public_url: str | None
    keep: int
    links: str
    images: str
    body: str
    qr: bool
    header: str | None
    footer: str | None
    readme_header: str | None
    templates: Path | None
    commit_message: str
    author: str
    ssh_key: str | None
    token_env: str | None
    squash_after: int
    # Hosts pictures may come from although their address is not public (loopback, private, ...).
    image_hosts: frozenset[str] = frozenset()
    # Seconds a pruned article stays in the mirror's ledger (.mirrord/), so that it is not published again.
    forget_pruned_after: int = 180 * 86400
    lang: str = "en"  # the catalogue of the words mirrord writes for readers
    variant: str | None = None  # the Chinese script of titles and bodies (None: as published)
    front_page: int = 5  # newest headlines per channel on the README; 0: the channels only
    # (source, variant) of the sources whose own variant overrides the mirror's.
    source_variants: tuple[tuple[str, str], ...] = ()

    def variant_of(self, source: str) -> str | None:
        """Return the script a source's titles and bodies are converted to: its own, else the mirror's."""
        return dict(self.source_variants).get(source, self.variant)


@dataclass(frozen=True)
class Rules:
    """How articles of one channel are found and extracted."""

    content: str | None
    lead: str | None
    remove: tuple[str, ...]
    id: str
    exclude: tuple[str, ...]
    min_text: int
    hosts: frozenset[str]
    # The source's image_hosts and its mirror's: pictures from other hosts come from public addresses only.
    image_hosts: frozenset[str] = frozenset()
    max_new: int | None = None
    give_up_after: int = 7 * 86400  # seconds a held-back article is tried again before it is given up


@dataclass(frozen=True)
class Channel:
    name: str
    title: str
    source: str
    url: str
    items: str | None
    rules: Rules

    @property
    def is_feed(self) -> bool:
        return self.items is None


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    mirror: str
    every: int | None
    cron: str | None
    channels: tuple[Channel, ...]
    variant: str | None = None  # overrides its mirror's


@dataclass(frozen=True)
class Config:
    path: Path
    state_dir: Path
    log_file: Path
    http: HttpSettings
    metrics_listen: str | None
    mirrors: dict[str, Mirror]
    sources: dict[str, Source]
    state_dir_from: str = "state_dir in the config"  # how state_dir was chosen, for messages about it
    log_file_from: str = "log_file in the config"

    def sources_of(self, mirror: str) -> list[Source]:
        """Return the sources of a mirror, in the config's order."""
        return self.sources_by_mirror.get(mirror, [])

    @cached_property
    def sources_by_mirror(self) -> dict[str, list[Source]]:
        """Each mirror's sources, gathered once: a cycle asks for its mirror's, and going through every source
        of the config for that made the cost of each poll grow with the sources of the daemon."""
        found: dict[str, list[Source]] = {}
        for source in self.sources.values():
            found.setdefault(source.mirror, []).append(source)
        return found


@dataclass(frozen=True)
class Response:
    """What the fetch stage hands on: the body and what is needed to read it."""

    url: str
    status: int
    body: bytes
    content_type: str
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class Entry:
    """One item a channel lists: an article candidate.

    `key` is the article's identity (its canonical URL, see `discover.identity`): two entries are the
    same article when their keys are equal. `id` is only the name its page would like to have."""

    id: str
    url: str
    title: str
    published: datetime | None = None
    content_html: str | None = None
    key: str = ""
    guid: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A new article to fetch, under the first channel of the cycle that lists it."""

    entry: Entry
    channel: Channel


@dataclass(frozen=True)
class Skip:
    """An item dropped during discovery, and why."""

    reason: str
    url: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Discovery:
    """What a channel lists: one entry per article, the items left out, and the other copies of articles
    listed more than once (same link or guid)."""

    entries: tuple[Entry, ...]
    skipped: tuple[Skip, ...] = ()
    copies: tuple[Skip, ...] = ()


@dataclass(frozen=True)
class Article:
    """An extracted article: sanitized HTML blocks ready to render."""

    id: str
    url: str
    title: str
    source: str
    channel: str
    lead_html: str
    body_html: str
    text_length: int
    fetched: datetime
    # Pictures downloaded for `images = "download"`, paths relative to the page's folder (`<id>.files/<name>`).
    images: tuple[PageFile, ...] = ()
    key: str = ""
    # Its page and QR code, rendered where it was extracted (in a worker, within the budget: see `budget`);
    # None when they are to be rendered at the commit (its HTML changed since: pictures were downloaded).
    rendered: tuple[PageFile, ...] | None = None


@dataclass(frozen=True)
class PageFile:
    """One file of the mirror, relative to its root."""

    path: str
    data: bytes


@dataclass(frozen=True)
class LedgerRow:
    mirror: str
    channel: str
    id: str
    path: str
    title: str
    url: str
    source: str
    time: datetime
    commit: str | None = None
    pruned: bool = False
    seq: int = 0
    key: str = ""  # the article's identity; "" for a pruned page known only by its path (a rebuilt ledger)
    pruned_at: datetime | None = None  # when keep pruned it; the mirror's ledger forgets it forget_pruned_after later


@dataclass(frozen=True)
class SourceResult:
    """What one source's part of a cycle did, for the summary and the exit code."""

    source: str
    published: list[str] = field(default_factory=list)
    skipped: int = 0
    failed: list[Failure] = field(default_factory=list)
    fetched: int = 0  # articles whose page was fetched: extracted or held back
    held_back: list[tuple[str, str]] = field(default_factory=list)  # (url, reason)
    first_held_back: int = 0  # articles held back for the first time (not a retry)


@dataclass(frozen=True)
class Failure:
    """One thing a cycle could not do, as facts: whose it is (scope, mirror, source, channel, url) decides
    which source's status it counts for, without reading its words; `hint` says what to do about it."""

    scope: str  # "channel", "article", "remote" (a push) or "mirror" (lock, clone, commit)
    mirror: str
    message: str
    hint: str = ""
    transient: bool = False
    source: str | None = None
    channel: str | None = None
    url: str | None = None

    def line(self) -> str:
        """Return the one line `once` prints and the state keeps, as mirrord has always worded it."""
        if self.scope == "channel":
            return f"channel {self.source}/{self.channel}: {self.message}"
        if self.scope == "article":
            return f"article {self.url}: {self.message}"
        if self.scope == "remote":
            return f"push to {self.url}: {self.message}"
        return self.message

    def __str__(self) -> str:
        return self.line()


@dataclass(frozen=True)
class SourceRecord:
    """A source's last cycle as the state remembers it, for `mirrord status`."""

    source: str
    mirror: str
    last_cycle: datetime | None
    duration_ms: int | None
    published: int
    error: str | None
    failures: int
    next_run: datetime | None
    fetched: int = 0  # of the last cycle that fetched any article
    held_back: int = 0  # of the same cycle
    broken_cycles: int = 0  # cycles in a row that held back every article fetched (see outcome.broken_cycles)
    held_back_reason: str | None = None  # the last reason an article was held back, while it matters
    failure: Failure | None = None  # the last cycle's first failure, its facts and hint (None: it had none)


@dataclass(frozen=True)
class HeldBackRecord:
    """An article held back, as the state remembers it: why, how often, since when, and whether given up."""

    mirror: str
    channel: str
    key: str
    source: str
    url: str
    reason: str
    attempts: int
    first_attempt: datetime
    last_attempt: datetime
    gave_up: bool = False


@dataclass(frozen=True)
class Health:
    """Failures in a row of a channel or a remote as the state remembers them; what they mean for the next
    attempt is decided in `retry`."""

    failures: int = 0
    last_error: str = ""
    last_attempt: datetime | None = None
    transient: bool = True


@dataclass(frozen=True)
class Options:
    """How a run goes: `push_backoff` makes a remote that failed wait its turn (the daemon); `once` tries now.
    `lock_wait` is how long to wait for another process writing the same mirror."""

    push: bool = True
    dry_run: bool = False
    lock_wait: float = 30.0
    push_backoff: bool = False
    shallow: bool = False  # a new working clone takes the remote's last commit only (the ledger holds the rest)
