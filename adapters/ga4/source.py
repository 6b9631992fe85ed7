"""The events of one GA4 property's users, by day, pulled with ``runReport``.

GA4 has no change cursor and revises recent days, so each pull reads again from
``window_days`` before the last day it read (``lookback_days`` on the first pull) to
today (UTC), by ``page_size`` rows ordered by date, user, event name (and page path). The
events' ids are stable (``adapters.ga4.rows``), so what a re-read finds again is dropped
by the ledger and a day whose count grew adds only the difference.

Each page asks for the property's quota. Once the property's hourly tokens used pass
``quota_share`` of them, the pull stops after that page with ``LimitReachedError`` until
the next full hour (when the range is read to its end, the next pull before then stops
before its first call); a 429 RESOURCE_EXHAUSTED does the same, the pages read kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta

import structlog

from adapters.ga4.client import VENDOR, Ga4Api, ReportPage, ReportQuery, next_full_hour
from adapters.ga4.cursor import Ga4Cursor, Sweep
from adapters.ga4.rows import RowShape, read_rows
from connector.errors import FatalError, LimitReachedError
from connector.model import EventKind
from connector.ports import Page

__all__ = ["Ga4Source", "hourly_tokens"]

log = structlog.get_logger(__name__)

# Standard properties have 40,000 tokens an hour, Analytics 360 ones 400,000 (data.proto,
# PropertyQuota). An answer says only what is left: the total is the config's (more left
# than it says shows a 360 property, but a 360 property that has used most of its hour
# would not show it, so its admin sets tokens_per_hour = 400000).
STANDARD_TOKENS_PER_HOUR = 40_000
ANALYTICS_360_TOKENS_PER_HOUR = 400_000
# No report has this many pages (25 billion rows at the largest page): past it the API is
# answering the same page again, and the pull stops rather than loop.
_MAX_PAGES = 100_000


def hourly_tokens(consumed: int, remaining: int, configured: int) -> int:
    """The property's tokens an hour: ``[sources.NAME] tokens_per_hour``, unless an answer
    shows more than that (a 360 property configured as a standard one)."""
    if consumed + remaining > configured:
        return max(configured, ANALYTICS_360_TOKENS_PER_HOUR)
    return configured


class Ga4Source:
    """An ``EventSource`` over one GA4 property's per-user events."""

    def __init__(
        self,
        name: str,
        api: Ga4Api,
        *,
        property_id: str,
        user_dimension: str,
        id_namespace: str,
        events: Mapping[str, EventKind],
        page_path: bool = False,
        window_days: int = 3,
        lookback_days: int = 30,
        quota_share: float = 0.5,
        tokens_per_hour: int = STANDARD_TOKENS_PER_HOUR,
        page_size: int = 10_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self._api = api
        self._property_id = property_id
        dimensions = ["date", f"customUser:{user_dimension}", "eventName"]
        self._query = ReportQuery(
            tuple([*dimensions, "pagePath"] if page_path else dimensions),
            event_names=tuple(sorted(events)),
        )
        self._shape = RowShape(name, property_id, id_namespace, dict(events), page_path)
        self._window = timedelta(days=window_days)
        self._lookback = timedelta(days=lookback_days)
        self._share = quota_share
        self._tokens_per_hour = tokens_per_hour
        self._page_size = page_size
        self._clock = clock

    def lag(self, cursor: str | None) -> str:
        """How far the pull is, from its cursor alone, for `leadsync status`."""
        state = Ga4Cursor.load(cursor)
        if state.read_to is None and state.sweep is None:
            return "no day read yet"
        said = (
            "no day read to its end yet"
            if state.read_to is None
            else (f"read to {state.read_to.isoformat()}")
        )
        if state.sweep is not None:
            said += f", a read from {state.sweep.start.isoformat()} part-done"
        return said

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Pages of the events from ``window_days`` before the last day read to today."""
        now = self._clock()
        state = Ga4Cursor.load(cursor)
        if state.paused_until is not None and now < state.paused_until:
            raise self._over_share(state.paused_until)
        today = now.astimezone(UTC).date()
        if state.sweep is not None:
            start, offset = state.sweep.start, state.sweep.offset
        elif state.read_to is not None:
            start, offset = min(state.read_to - self._window, today), 0
        else:
            start, offset = today - self._lookback, 0
        warned: set[str] = set()
        for _ in range(_MAX_PAGES):
            answer = self._api.run_report(
                self._query, start=start, end=today, offset=offset, limit=self._page_size
            )
            self._warn_of_thresholds(answer, warned, start, today)
            found = read_rows(
                answer.rows,
                self._shape,
                location=f"properties/{self._property_id} {start}..{today}",
                first_line=offset + 1,
            )
            offset += len(answer.rows)
            done = (
                not answer.rows
                or len(answer.rows) < self._page_size
                or (offset >= answer.row_count)
            )
            over_share = self._past_share(answer)
            paused = next_full_hour(now) if over_share else None
            after = (
                Ga4Cursor(today, None, paused)
                if done
                else Ga4Cursor(state.read_to, Sweep(start, offset))
            )
            yield Page(
                events=found.events,
                rejects=found.rejects,
                cursor=after.dump(),
                skipped=found.skipped,
            )
            if done:
                return
            if paused is not None:
                raise self._over_share(paused)
        raise FatalError(
            f"GA4's report of properties/{self._property_id} did not end after "
            f"{_MAX_PAGES} pages; the pull stops rather than read the same pages again"
        )

    def _past_share(self, answer: ReportPage) -> bool:
        if answer.tokens_remaining is None:
            return False
        limit = hourly_tokens(
            answer.tokens_consumed or 0, answer.tokens_remaining, self._tokens_per_hour
        )
        used = limit - answer.tokens_remaining
        if used <= self._share * limit:
            return False
        log.warning(
            "ga4.quota_share_reached",
            source=self.name,
            tokens_used=used,
            tokens_per_hour=limit,
            quota_share=self._share,
        )
        return True

    def _over_share(self, until: datetime) -> LimitReachedError:
        return LimitReachedError(
            f"GA4 property {self._property_id} has used more than {self._share:.0%} of its "
            "hourly tokens",
            retry_after=until,
            vendor=VENDOR,
            hint="the rest is read after the next full hour; raise quota_share to take "
            "more of the property's tokens",
        )

    def _warn_of_thresholds(
        self, answer: ReportPage, warned: set[str], start: date, end: date
    ) -> None:
        if answer.subject_to_thresholding and "thresholds" not in warned:
            warned.add("thresholds")
            log.warning(
                "ga4.thresholded",
                source=self.name,
                start=start.isoformat(),
                end=end.isoformat(),
                detail="GA4 leaves out rows under its privacy thresholds: some users' "
                "days may be missing or appear later",
            )
        if answer.sampled and "sampling" not in warned:
            warned.add("sampling")
            read, space = answer.sampled[0]
            log.warning(
                "ga4.sampled",
                source=self.name,
                start=start.isoformat(),
                end=end.isoformat(),
                samples_read=read,
                sampling_space=space,
                detail="GA4 sampled this report: per-user counts are estimates",
            )
