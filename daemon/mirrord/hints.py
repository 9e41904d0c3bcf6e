"""What to do about a failure, from what failed: its scope, the HTTP status or kind of a failed request, the
selector that matched nothing. One pure function, so that `once`, `status` and the status log give the same
advice, and it never depends on how an error happens to be worded."""

from __future__ import annotations

REFUSED = "the site refuses mirrord: set http.user_agent, or a proxy (http.proxy)"
TLS = "the site's certificate failed: check the date and a proxy"
SLOW = "slow or unreachable: transient, retried; raise http.timeout if it persists"
PUSH = "check the remote's URL and credentials (mirrord check --network)"
LOCKED = "another mirrord process is writing this mirror: it goes on after that one ends"
CRASHED = "a bug in mirrord: the status log has its traceback; please report it"
UNWRITABLE = "mirrord cannot write its state_dir: check its owner, permissions and free space"
# What a failed request's kind (set where fetch raises it) asks for, when its status says nothing more.
BY_KIND = {
    "tls": TLS,
    "timeout": SLOW,
    "connect": SLOW,
    "too_big": "the answer is larger than http.max_bytes: raise it if the page really is that big",
    "redirect": "the site sends mirrord elsewhere: fix the URL, or add the new host to the source's hosts",
}


def hint(scope: str, *, status: int | None = None, kind: str | None = None, selector: str | None = None,
         source: str | None = None, channel: str | None = None, url: str | None = None) -> str:
    """Given what failed (scope "channel", "article", "remote" or "mirror") and the facts known about it,
    return what to do in one line; "" when there is nothing better than reading the error."""
    if scope == "remote":
        return PUSH
    if status in (401, 403):
        return REFUSED
    if status in (404, 410) and scope == "channel":
        return f"the channel moved: fix source.{source}.channel.{channel}.url (mirrord check --network)"
    if status == 429 or (status or 0) >= 500:
        return "the site is busy or failing: transient, retried"
    if selector is not None:
        return f"the site changed: mirrord preview {url} --source {source}"
    return BY_KIND.get(kind or "", "")
