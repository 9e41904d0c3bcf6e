"""Read the channels of a cycle: a channel backed off after failing waits, the others are fetched with their
validators (a 304 is nothing new) and read as feed or listing; what was learned is kept for the next poll.

Validators are kept only for channels whose every article was dealt with: a 304 next cycle would otherwise
hide a held-back or failed article until the channel changes.
"""

from __future__ import annotations

from datetime import datetime, timezone

from mirrord.discover import read_channel
from mirrord.errors import DiscoverError, FetchError
from mirrord.fetch import Fetcher
from mirrord.log import get_logger
from mirrord.model import Channel, Discovery, Failure, Health, Mirror, Response
from mirrord.outcome import Report, request_failure
from mirrord.retry import channel_retry_at
from mirrord.state import State

log = get_logger()
# With `keep` set, a channel's items are read down to ITEMS_PER_KEPT x keep (never fewer than MIN_ITEMS_READ):
# below that, an item is older than far more new ones than the mirror keeps, and reading the 100,000
# links of a listing or 50,000 items of a feed each cycle made work grow with the listing, not the mirror.
ITEMS_PER_KEPT = 4
MIN_ITEMS_READ = 1000
BACKED_OFF = "fix the last error; mirrord check --network reads the channel now, mirrord once polls it at once"


def items_read(keep: int) -> int | None:
    """Return how many of a channel's items a cycle reads: all when the mirror keeps every page."""
    return max(ITEMS_PER_KEPT * keep, MIN_ITEMS_READ) if keep else None



async def discover_channel(channel: Channel, mirror: Mirror, state: State, fetcher: Fetcher,
                           report: Report, conditional: bool = True) -> tuple[Discovery, Response] | None:
    """Return the channel's entries and the response they came from; None when it failed (logged). Not
    conditional, the channel is read whole even if it did not change: a held-back article of it is due."""
    context = {"mirror": mirror.name, "source": channel.source, "channel": channel.name, "url": channel.url}
    health = state.channel_health(channel.source, channel.name)
    if backed_off(channel, health, report, context):
        return None
    try:
        validators = state.validators(mirror.name, channel.name, channel.url) if conditional else (None, None)
        response = await fetcher.get(channel.url, *validators)
        discovery = read_channel(channel, response, items_read(mirror.keep))
    except (FetchError, DiscoverError) as error:
        failure = request_failure("channel", mirror.name, channel, channel.url, error)
        log.warning("fetch.failed" if isinstance(error, FetchError) else "discover.failed", **context,
                    error=failure.message, hint=failure.hint)
        state.channel_failed(channel.source, channel.name, failure.message, failure.transient)
        report.failures.append(failure)
        return None
    if health.failures or health.last_attempt is None:  # else its record says so already: nothing to write
        state.channel_succeeded(channel.source, channel.name)
    for skip in discovery.skipped + discovery.copies:
        log.info("item.skipped", **{**context, "url": skip.url}, article=skip.title, error=skip.reason)
    report.skipped += [(skip.url or skip.title or "(an item without link or title)", skip.reason)
                       for skip in discovery.skipped + discovery.copies]
    return discovery, response


def backed_off(channel: Channel, health: Health, report: Report, context: dict[str, str]) -> bool:
    """Tell whether a channel that failed several cycles in a row (its `health`) must wait before its next poll;
    such a channel still counts as failing (logged, in the report) so that it is not forgotten."""
    retry_at = channel_retry_at(health.failures, health.last_attempt, health.transient)
    if retry_at is None or retry_at <= datetime.now(timezone.utc):
        return False
    reason = (f"failed {health.failures} cycles in a row, next poll after {retry_at:%Y-%m-%d %H:%M} UTC "
              f"(last error: {health.last_error})")
    log.warning("channel.backed_off", **context, error=reason)
    report.failures.append(Failure("channel", context["mirror"], reason, hint=BACKED_OFF, transient=health.transient,
                                   source=channel.source, channel=channel.name, url=channel.url))
    return True


def save_validators(mirror: Mirror, validators: dict[Channel, Response], report: Report, state: State) -> None:
    """Remember a channel's ETag/Last-Modified only when none of its articles must be retried: a 304 next
    cycle would otherwise hide them until the channel changes."""
    for channel, response in validators.items():
        if channel.name not in report.unfinished_channels and (response.etag or response.last_modified):
            state.save_validators(mirror.name, channel.name, channel.url, response.etag, response.last_modified)
