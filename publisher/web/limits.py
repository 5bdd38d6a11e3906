"""Sliding-window rate limits, kept in memory (one process serves the list)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW = 3600.0  # seconds: the limits are "per hour"
MAX_KEYS = 100_000  # beyond this the oldest keys are forgotten: memory stays bounded


class RateLimit:
    """At most `limit` events per key in any `window` seconds (0 = no limit)."""

    def __init__(
        self, limit: int, window: float = WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.events: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one event for `key`; False (and not counted) if over the limit."""
        if self.limit <= 0:
            return True
        now = self.clock()
        with self.lock:
            times = self.events.get(key)
            if times is None:
                if len(self.events) >= MAX_KEYS:
                    self._forget(now)
                times = self.events[key] = deque()
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.limit:
                return False
            times.append(now)
            return True

    def retry_after(self, key: str) -> int:
        """Seconds until `key` may try again (at least 1)."""
        with self.lock:
            times = self.events.get(key)
            if not times:
                return 1
            return max(1, int(times[0] + self.window - self.clock()) + 1)

    def _forget(self, now: float) -> None:
        stale = [k for k, t in self.events.items() if not t or t[-1] <= now - self.window]
        for key in stale:
            del self.events[key]
        # Still full: drop the oldest half rather than grow without bound.
        if len(self.events) >= MAX_KEYS:
            for key in list(self.events)[: MAX_KEYS // 2]:
                del self.events[key]
