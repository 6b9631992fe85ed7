"""Calls paced under HubSpot's rate limits, so a normal push gets no 429.

HubSpot limits a portal's calls over several intervals at once and reports each in its
own header family, sometimes two families on one answer:

- ``X-HubSpot-RateLimit-Max`` / ``-Remaining`` against ``-Interval-Milliseconds`` (the
  rolling 10 s window of private apps);
- ``X-HubSpot-RateLimit-Secondly`` / ``-Secondly-Remaining``: the current second;
- ``X-HubSpot-RateLimit-Daily`` / ``-Daily-Remaining``: the portal's day.

Each interval gets a sliding window of the send times of our last calls: a call waits
until every window has room. The configured window (``requests_per_10s``) exists from the
start; a family an answer carries adds its window, or lowers its allowance, and a
``-Remaining`` of 0 holds that window until it frees. Each family is read against its own
interval: a spent second frees within a second, not within ten. A spent day is not waited
out: ``day_spent`` says so, and the caller stops the run.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["Pacer"]

_ROLLING_MAX = "x-hubspot-ratelimit-max"
_ROLLING_REMAINING = "x-hubspot-ratelimit-remaining"
_ROLLING_INTERVAL_MS = "x-hubspot-ratelimit-interval-milliseconds"
_SECONDLY_MAX = "x-hubspot-ratelimit-secondly"
_SECONDLY_REMAINING = "x-hubspot-ratelimit-secondly-remaining"
_DAILY_MAX = "x-hubspot-ratelimit-daily"
_DAILY_REMAINING = "x-hubspot-ratelimit-daily-remaining"
# A 429's ``policyName``, for the window it names.
_POLICY_SECONDS = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0}


def _margin_s(period_s: float) -> float:
    """How much longer than the server's interval a window is kept: the server counts a
    call when it arrives, and a call sent later than another may arrive sooner (its
    request built faster, its route quicker). 3 % of the interval, at least 50 ms: 0.3 s
    on 10 s (97 % of the allowed rate), 50 ms on 1 s (95 %). On this machine's bench (150
    ms round trips, 4 calls in flight) sends reached the server 155 to 173 ms after their
    slot, tenth to ninetieth percentile, but a pause of the process now and then delayed
    one by 130 ms more: a 429 naming a window doubles its margin, so a run that meets
    such pauses pays one refusal (retried) and a slower window from then on."""
    return max(0.05, 0.03 * period_s)


@dataclass
class _Window:
    max_calls: int
    period_s: float
    margin_s: float
    sent: deque[float] = field(default_factory=deque)
    not_before: float = 0.0

    @property
    def span_s(self) -> float:
        return self.period_s + self.margin_s

    def wait_s(self, now: float) -> float:
        """How long until a call may go in this window."""
        while self.sent and now - self.sent[0] >= self.span_s:
            self.sent.popleft()
        wait = self.not_before - now
        if len(self.sent) >= self.max_calls:
            wait = max(wait, self.sent[-self.max_calls] + self.span_s - now)
        return wait

    def spent(self, now: float) -> None:
        """HubSpot said this interval has no call left: it frees when the oldest call of
        ours leaves it, if we sent one within it; else (calls we did not see, from
        another app of the portal) a whole interval from now."""
        recent = [moment for moment in self.sent if now - moment < self.span_s]
        reopens = recent[0] + self.span_s if recent else now + self.span_s
        self.not_before = max(self.not_before, reopens)


class Pacer:
    def __init__(
        self,
        max_calls: int,
        per_seconds: float,
        *,
        margin_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._margin_override = margin_s
        # Interval (s) -> its window; the configured one is the ceiling of its interval.
        self._windows = {per_seconds: self._window(max_calls, per_seconds)}
        self._clock = clock
        self._sleep = sleep
        self._day_left: int | None = None
        self._day_max: int | None = None
        # Several calls may be in flight: one at a time takes its slot in the windows.
        self._lock = threading.Lock()

    def _window(self, max_calls: int, period_s: float) -> _Window:
        margin = _margin_s(period_s) if self._margin_override is None else self._margin_override
        return _Window(max(max_calls, 1), period_s, margin)

    @property
    def day_spent(self) -> bool:
        """HubSpot's last answer said the portal has no call left today."""
        return self._day_left == 0

    def day_budget(self) -> tuple[int, int] | None:
        """(used, allowed) calls of the portal's day, as HubSpot's last answer said."""
        with self._lock:
            if self._day_left is None or self._day_max is None:
                return None
            return max(self._day_max - self._day_left, 0), self._day_max

    def windows(self) -> dict[float, int]:
        """Interval (s) -> calls allowed in it, as known now."""
        with self._lock:
            return {period: window.max_calls for period, window in self._windows.items()}

    def before_call(self) -> None:
        """Wait for a slot in every window and take it."""
        with self._lock:
            while True:
                now = self._clock()
                wait = max(window.wait_s(now) for window in self._windows.values())
                if wait <= 0:
                    break
                self._sleep(wait)
            for window in self._windows.values():
                window.sent.append(now)

    def after_response(self, headers: Mapping[str, str], *, policy: str | None = None) -> None:
        """Read an answer's rate-limit headers; ``policy`` is a 429's ``policyName``."""
        lowered = {name.lower(): value.strip() for name, value in headers.items()}
        with self._lock:
            now = self._clock()
            interval_ms = _number(lowered.get(_ROLLING_INTERVAL_MS))
            rolling_s = interval_ms / 1000 if interval_ms else 10.0
            self._read_family(
                now, rolling_s, lowered.get(_ROLLING_MAX), lowered.get(_ROLLING_REMAINING)
            )
            self._read_family(
                now, 1.0, lowered.get(_SECONDLY_MAX), lowered.get(_SECONDLY_REMAINING)
            )
            day_left = _number(lowered.get(_DAILY_REMAINING))
            if day_left is not None:
                self._day_left = day_left
            day_max = _number(lowered.get(_DAILY_MAX))
            if day_max is not None:
                self._day_max = day_max
            refused = self._windows.get(_POLICY_SECONDS.get((policy or "").upper(), -1.0))
            if refused is not None:
                # HubSpot counted more calls in the window than we did: trips vary more
                # than the margin allowed for. Twice the margin, up to a quarter interval.
                refused.margin_s = min(refused.margin_s * 2, refused.period_s / 4)
                refused.spent(now)

    def _read_family(
        self, now: float, period_s: float, max_text: str | None, remaining_text: str | None
    ) -> None:
        allowed, remaining = _number(max_text), _number(remaining_text)
        if allowed is None and remaining is None:
            return
        window = self._windows.get(period_s)
        if window is None:
            if allowed is None:
                return
            # Our calls sent within it so far count: the widest window saw them all.
            widest = max(self._windows.values(), key=lambda known: known.period_s)
            window = self._windows[period_s] = self._window(allowed, period_s)
            window.sent.extend(moment for moment in widest.sent if now - moment < window.span_s)
        elif allowed is not None and 0 < allowed < window.max_calls:
            window.max_calls = allowed
        if remaining == 0:
            window.spent(now)


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None
