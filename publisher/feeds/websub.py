"""Tell a WebSub hub which feeds changed, so readers get them pushed at once.

WebSub (a W3C Recommendation) leaves the publisher's notice to the hub open;
hubs take the PubSubHubbub form: a POST of `hub.mode=publish` and
`hub.url=<feed URL>`. One request per changed feed, since not every hub reads
more than one `hub.url` from a request.

Best effort by design: a feed is already published when the hub hears of it,
and readers that poll get it anyway. So a failure never raises: it comes
back as a warning. Each request has a timeout and is retried on a network
error, a 5xx or a 429; when the hub stays unreachable the remaining feeds
are not tried, and the whole notice stops after a time budget, so a hub that
is down or slow costs a bounded time.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from .. import __version__

log = logging.getLogger(__name__)

RETRIES = 2  # after the first try
BACKOFF = 0.5  # seconds before the first retry; doubles each time
BUDGET_TIMEOUTS = 12  # the whole notice stops after this many request timeouts


@dataclass(frozen=True)
class PingReport:
    hub: str
    pinged: tuple[str, ...]  # feed URLs the hub accepted
    failed: tuple[str, ...]  # feed URLs it did not hear of
    warnings: tuple[str, ...]


class _HubDown(Exception):
    """The hub could not be reached, or answered with a server error, on every try."""


def ping(
    hub: str,
    urls: Sequence[str],
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> PingReport:
    """POST `hub.mode=publish` for each of `urls` to `hub`; never raises.

    Takes at most about BUDGET_TIMEOUTS x `timeout` seconds, however many feeds.
    """
    deadline = time.monotonic() + BUDGET_TIMEOUTS * timeout
    pinged: list[str] = []
    warnings: list[str] = []
    for index, url in enumerate(urls):
        if time.monotonic() > deadline:
            left = len(urls) - index
            warnings.append(
                f"WebSub hub {hub} took too long: {left} of {len(urls)} changed feeds "
                "were not announced (readers still get them when they poll)"
            )
            break
        try:
            status = _post(hub, url, timeout, sleep)
        except _HubDown as exc:
            left = len(urls) - index
            warnings.append(
                f"WebSub hub {hub} did not take the update ({exc}); {left} of {len(urls)} "
                "changed feeds were not announced (readers still get them when they poll)"
            )
            break
        if status is None:
            pinged.append(url)
        else:
            warnings.append(f"WebSub hub {hub} refused {url}: {status}")
    done = set(pinged)
    failed = tuple(u for u in urls if u not in done)
    if pinged:
        log.info("WebSub: %d changed feeds announced to %s", len(pinged), hub)
    return PingReport(hub, tuple(pinged), failed, tuple(warnings))


def _post(hub: str, url: str, timeout: float, sleep: Callable[[float], None]) -> str | None:
    """None when the hub accepts; the reason when it refuses this feed (a 4xx).
    Raises _HubDown when every try failed for a reason that is the hub's."""
    body = urlencode({"hub.mode": "publish", "hub.url": url}).encode("ascii")
    delay = BACKOFF
    reason = ""
    for attempt in range(RETRIES + 1):
        if attempt:
            sleep(delay)
            delay *= 2
        request = urllib.request.Request(
            hub,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": f"publisher/{__version__} (WebSub publisher)",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read(65536)
                return None  # urlopen raises for anything but 2xx (redirects followed)
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code} {exc.reason}".strip()
            exc.close()
            if exc.code < 500 and exc.code not in (408, 429):
                return reason
        except (urllib.error.URLError, OSError, ValueError) as exc:
            # URLError wraps refused connections and DNS failures; a read
            # timeout comes as TimeoutError (an OSError).
            cause = getattr(exc, "reason", exc)
            reason = "timed out" if isinstance(cause, TimeoutError) else str(cause)
        log.debug("WebSub: %s for %s (try %d): %s", hub, url, attempt + 1, reason)
    raise _HubDown(f"{reason}, {RETRIES + 1} tries")
