"""The small error hierarchy of mirrord: every message says what failed and what to do."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

CREDENTIALS_IN_URL = re.compile(r"(?<=//)[^/@\s'\"]+@")


def without_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """Return text with the credentials of any URL in it, and each of secrets, replaced by ***: for every
    message that may reach a terminal, a log or the state."""
    if "@" in text:  # the pattern's own condition, checked first: most texts have none
        text = CREDENTIALS_IN_URL.sub("***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class MirrordError(Exception):
    """Base of the errors mirrord reports to users without a traceback."""


@dataclass(frozen=True)
class Problem:
    """One problem in a config file, at its key path."""

    path: str
    found: str
    expected: str

    def describe(self, file: str) -> str:
        """Return the one-line form users read: file, key path, found, expected."""
        return f"{file}: {self.path}: found {self.found}, expected {self.expected}"


class ConfigError(MirrordError):
    """The config file is missing or wrong; carries every problem found."""

    headline = "bad config"

    def __init__(self, file: str, problems: list[Problem]):
        self.file = file
        self.problems = problems
        super().__init__("\n".join(p.describe(file) for p in problems))


class SetupError(ConfigError):
    """The config is valid, but what it names cannot be used as it is: a state_dir under a file, a folder
    mirrord may not write, a state or status log that is not where the config says, a missing key or token."""

    headline = "the config is valid, but what it names cannot be used"


class FetchError(MirrordError):
    """A request failed; `transient` ones (timeouts, 5xx, 429) are worth retrying later. `status` (the HTTP
    status, None without an answer) and `kind` ("status", "timeout", "connect", "tls", "too_big",
    "redirect", "refused", "url", "decode" or "other") say what failed, so that the hint is chosen by
    facts rather than by the reason's words."""

    def __init__(self, url: str, reason: str, *, transient: bool, retry_after: float | None = None,
                 status: int | None = None, kind: str = "other"):
        self.url = url
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after
        self.status = status
        self.kind = kind
        super().__init__(f"{url}: {reason}")


class DiscoverError(MirrordError):
    """A feed or listing page could not be read as one; `selector` is the listing's `items` selector when
    it matched nothing (the site changed its layout)."""

    def __init__(self, reason: str, *, selector: str | None = None):
        self.selector = selector
        super().__init__(reason)


class HeldBack(MirrordError):
    """An article is not published because its page no longer looks like an article."""


class PublishError(MirrordError):
    """Git could not write or commit the mirror."""


class LockHeld(MirrordError):
    """Another mirrord process is writing the same mirror."""
