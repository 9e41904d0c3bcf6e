"""Shared fixtures: the test corpus served over real HTTP and fetched with mirrord's Fetcher.

Builders of mirrord's other values (Rules, Channel, Mirror...) are in values.py.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mirrord.fetch import Fetcher
from mirrord.model import HttpSettings, Response

from fixture_site import populate
from httpsite import Site
from mirror_run import bare_repository, write_config


def locate_corpus() -> Path | None:
    """Return the shared test corpus: ../shared/corpus beside the repo, else $MIRRORD_CORPUS."""
    beside_repo = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    if beside_repo.is_dir():
        return beside_repo
    from_env = os.environ.get("MIRRORD_CORPUS")
    return Path(from_env) if from_env and Path(from_env).is_dir() else None


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The corpus folder; tests needing it are skipped when it cannot be found, except in CI, where they fail."""
    found = locate_corpus()
    if found is None:
        missing = "test corpus not found: expected ../shared/corpus beside the repo or $MIRRORD_CORPUS"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    return found


@pytest.fixture(scope="session")
def corpus_site(corpus_dir: Path) -> Iterator[Site]:
    """A Site serving every corpus file as stored, at "/" + its corpus-relative path.

    `.gz` files go out still compressed with Content-Encoding: gzip, as a server would send them.
    """
    with Site() as site:
        for file in sorted(corpus_dir.rglob("*")):
            if file.is_file():
                site.serve_corpus_file("/" + file.relative_to(corpus_dir).as_posix(), file)
        yield site


@pytest.fixture(scope="session")
def http_settings() -> HttpSettings:
    """The config's HTTP defaults, with a short timeout and no retries: a local server answers at once."""
    return HttpSettings(user_agent="mirrord-tests", timeout=10.0, concurrency=16, per_host=4, retries=0,
                        max_bytes=10_000_000, proxy=None)


@pytest.fixture(scope="session")
def fetch(http_settings: HttpSettings) -> Callable[[str], Response]:
    """A blocking `fetch(url)` going through mirrord's own Fetcher."""

    async def fetch_async(url: str) -> Response:
        async with Fetcher(http_settings) as fetcher:
            return await fetcher.get(url)

    return lambda url: asyncio.run(fetch_async(url))


@pytest.fixture
def site() -> Iterator[Site]:
    """A real HTTP server on 127.0.0.1 with no route yet."""
    with Site() as served:
        yield served


@pytest.fixture
def setup(tmp_path: Path, site: Site):
    """The fixture news site served, a bare remote, and a config mirroring one into the other."""
    news = populate(site)
    bare = bare_repository(tmp_path / "remote.git")
    return news, bare, write_config(tmp_path / "mirrord.toml", site, bare)
