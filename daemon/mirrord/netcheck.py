"""`mirrord check --network`: reach every channel and every remote, read only, and say what is wrong.

A channel is fetched with the Fetcher and read as a cycle reads it, so a listing whose `items`
selector no longer matches shows up here before it makes a cycle fail. A remote is read with
`git ls-remote` and the mirror's own credentials, which proves it can be reached and read with them
(whether a push would be accepted only a push tells). Nothing is written and no validator is sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mirrord.discover import read_channel
from mirrord.errors import DiscoverError, FetchError, PublishError
from mirrord.fetch import Fetcher
from mirrord.model import Channel, Config, Discovery, Mirror
from mirrord.publish import read_remote


@dataclass(frozen=True)
class Finding:
    """One line of the network check: what was reached, and how it went (`ok` False: what to do)."""

    what: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.what}: {self.detail}"


def check_network(config: Config) -> list[Finding]:
    """Return a finding for every channel of every source, then for every remote of every mirror."""
    findings = asyncio.run(check_channels(config))
    return findings + [check_remote(config, mirror, url) for mirror in config.mirrors.values()
                       for url in mirror.remotes]


async def check_channels(config: Config) -> list[Finding]:
    channels = [channel for source in config.sources.values() for channel in source.channels]
    async with Fetcher(config.http) as fetcher:
        return list(await asyncio.gather(*(check_channel(channel, fetcher) for channel in channels)))


async def check_channel(channel: Channel, fetcher: Fetcher) -> Finding:
    """Fetch a channel and read it as a cycle does: a feed's entries, a listing's `items` matches."""
    what = f"channel {channel.source}/{channel.name} ({channel.url})"
    key = f"source.{channel.source}.channel.{channel.name}"
    try:
        response = await fetcher.get(channel.url)
        discovery = read_channel(channel, response)
    except FetchError as error:
        return Finding(what, False, f"{error.reason}; check {key}.url and the site (and [http] proxy)")
    except DiscoverError as error:
        return Finding(what, False, f"{error}; fix {key}.{'url' if channel.is_feed else 'items'}")
    found = len(discovery.entries) + len(discovery.skipped) + len(discovery.copies)
    kind = "feed entries" if channel.is_feed else f"links matched by items {channel.items!r}"
    detail = f"HTTP {response.status}, {found} {kind}, {len(discovery.entries)} articles to mirror"
    if discovery.copies:
        detail += f" ({len(discovery.copies)} more were copies of these: same link or guid)"
    shared = shared_names(discovery)
    if shared:
        detail += f"; {shared} of them want a name another one has, and get it with a hash added"
    return Finding(what, True, detail)


def shared_names(discovery: Discovery) -> int:
    """Return how many articles of a discovery want a page name an earlier-listed one wants too."""
    names = [entry.id for entry in discovery.entries]
    return len(names) - len(set(names))


def check_remote(config: Config, mirror: Mirror, url: str) -> Finding:
    """Read one remote with the credentials a push would use."""
    what = f"remote {url} of mirror {mirror.name}"
    try:
        head = read_remote(mirror, url, config.state_dir)
    except PublishError as error:
        return Finding(what, False, f"{error}; check the URL, mirror.{mirror.name}.ssh_key or token_env, "
                       "and that the deploy key or token may read the repository (docs/publishing.md)")
    state = f"branch {mirror.branch} at {head[:12]}" if head else f"reachable, no branch {mirror.branch} yet"
    return Finding(what, True, state)
