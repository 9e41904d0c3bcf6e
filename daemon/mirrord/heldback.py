"""Held-back articles between cycles: which wait, which are due, and what a cycle held back, remembered.

An article held back (a video page, a stub, rules that no longer match the page) is fetched again on the
clock `retry.held_back_retry_at` keeps, not every cycle forever, and given up after its source's
`give_up_after`, logged once as `article.gave_up`; only `mirrord retry` brings it back. It is forgotten
once extracted.

HTTP validators: a channel whose unfinished articles all wait (not due, or given up) may save its
validators, or it would be fetched whole every cycle for an article that waits a day. But a 304 would then
hide a waiting article when it comes due, so a channel with a due held-back article is read without its
validators (`Waiting.unconditional`): one full read of the channel when an article is due (also after
`mirrord retry`), never a lost retry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from mirrord.articles import Fetched
from mirrord.log import get_logger
from mirrord.model import HeldBackRecord, Mirror
from mirrord.retry import held_back_gives_up, held_back_retry_at
from mirrord.state import State

log = get_logger()


@dataclass(frozen=True)
class Waiting:
    """What a mirror's held-back articles mean for this cycle: the article identities not to fetch, and the
    channels to read without validators because one of their held-back articles is due."""

    keys: frozenset[str] = frozenset()
    unconditional: frozenset[str] = frozenset()


def is_due(record: HeldBackRecord, now: datetime) -> bool:
    """Tell whether a held-back article is fetched again this cycle."""
    if record.gave_up:
        return False
    retry_at = held_back_retry_at(record.attempts, record.last_attempt)
    return retry_at is None or retry_at <= now


def waiting(records: Iterable[HeldBackRecord], now: datetime) -> Waiting:
    """Return what the held-back records say about this cycle (pure)."""
    records = list(records)
    return Waiting(frozenset(r.key for r in records if not is_due(r, now)),
                   frozenset(r.channel for r in records if is_due(r, now)))


def remember(mirror: Mirror, results: list[Fetched], state: State, now: datetime) -> set[str]:
    """Record each held-back article of a cycle (another attempt, its reason), give up those held back for
    longer than their source's `give_up_after`, and forget those extracted at last. Return the identities of
    the articles held back for the first time: only these tell that a source's rules stopped matching."""
    first = set()
    for result in results:
        entry, channel = result.candidate.entry, result.candidate.channel
        if result.article is not None:
            state.forget_held_back(mirror.name, channel.name, entry.key)
        if result.held_back is None:
            continue
        record, known = state.article_held_back(mirror.name, channel.source, channel.name, entry.key, entry.url,
                                                result.held_back)
        if not known:
            first.add(entry.key)
        if held_back_gives_up(record.first_attempt, now, channel.rules.give_up_after):
            state.give_up(mirror.name, channel.name, entry.key)
            log.warning("article.gave_up", mirror=mirror.name, source=channel.source, channel=channel.name,
                        article=entry.id, url=entry.url, attempts=record.attempts,
                        error=f"held back {record.attempts} times since {record.first_attempt:%Y-%m-%d %H:%M} "
                              f"UTC, not tried again until `mirrord retry`: {result.held_back}")
    return first
