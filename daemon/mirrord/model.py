"""Typed values passed between the stages of the pipeline (all frozen, times aware UTC)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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


@dataclass(frozen=True)
class Config:
    path: Path
    state_dir: Path
    log_file: Path
    http: HttpSettings
    metrics_listen: str | None
    mirrors: dict[str, Mirror]
    sources: dict[str, Source]


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
    """One item a channel lists: an article candidate."""

    id: str
    url: str
    title: str
    published: datetime | None = None
    content_html: str | None = None


@dataclass(frozen=True)
class Skip:
    """An item dropped during discovery, and why."""

    reason: str
    url: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Discovery:
    entries: tuple[Entry, ...]
    skipped: tuple[Skip, ...] = ()


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


@dataclass(frozen=True)
class SourceResult:
    """What one source's part of a cycle did, for the summary and the exit code."""

    source: str
    published: list[str] = field(default_factory=list)
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


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
