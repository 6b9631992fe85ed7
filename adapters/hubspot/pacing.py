"""Calls paced under HubSpot's rolling rate limit, so a normal push gets no 429.

A sliding window holds the send times of the last calls: a call waits until fewer than
the allowed number were sent in the last interval. HubSpot's rate-limit headers, when a
response carries them, tighten that: a window reported spent is waited out.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

__all__ = ["Pacer"]

# Private apps report these; older portals the "-Secondly" pair (1 s intervals).
_REMAINING = tuple(
    name.lower()
    for name in ("X-HubSpot-RateLimit-Remaining", "X-HubSpot-RateLimit-Secondly-Remaining")
)
_INTERVAL_MS = "X-HubSpot-RateLimit-Interval-Milliseconds".lower()


class Pacer:
    def __init__(
        self,
        max_calls: int,
        per_seconds: float,
        *,
        margin_s: float = 0.3,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._max = max_calls
        # A little longer than the server's window: it counts a call when it arrives,
        # and one call's trip can be shorter than the one before it.
        self._period = per_seconds + margin_s
        self._sent: deque[float] = deque()
        self._clock = clock
        self._sleep = sleep
        self._not_before = 0.0
        # Several calls may be in flight: one at a time takes its slot in the window.
        self._lock = threading.Lock()

    def before_call(self) -> None:
        with self._lock:
            self._take_slot()

    def _take_slot(self) -> None:
        now = self._clock()
        wait = self._not_before - now
        while len(self._sent) >= self._max:
            oldest = self._sent[0]
            if now - oldest >= self._period:
                self._sent.popleft()
                continue
            wait = max(wait, oldest + self._period - now)
            break
        if wait > 0:
            self._sleep(wait)
            now = self._clock()
        while self._sent and now - self._sent[0] >= self._period:
            self._sent.popleft()
        self._sent.append(now)

    def after_response(self, headers: Mapping[str, str]) -> None:
        with self._lock:
            self._read_headers(headers)

    def _read_headers(self, headers: Mapping[str, str]) -> None:
        lowered = {name.lower(): value for name, value in headers.items()}
        for name in _REMAINING:
            remaining = lowered.get(name)
            if remaining is None or not remaining.strip().isdigit() or int(remaining) > 0:
                continue
            interval_ms = lowered.get(_INTERVAL_MS, "")
            seconds = int(interval_ms) / 1000 if interval_ms.isdigit() else 1.0
            # Spent: the window frees a call when its oldest call leaves it, if we sent
            # that one; else (calls we did not see) a whole interval from now.
            oldest = self._sent[0] if len(self._sent) > 1 else None
            reopens = oldest + self._period if oldest is not None else self._clock() + seconds
            self._not_before = max(self._not_before, reopens)
