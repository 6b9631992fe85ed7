"""The matomo source: a site's visits, pulled from ``Live.getLastVisitsDetails``.

Matomo lists visits by their *last* action time, ``filter_sort_order=asc`` giving oldest
first (ordered by ``visit_last_action_time``, then ``idvisit``: plugins/Live/Model.php
``makeLogVisitsQueryString``), and ``minTimestamp`` keeps those whose last action is
strictly later (``visit_last_action_time > ?``). A visit still in progress moves to the
end of that order whenever it gains an action, while the pull reads it.

So a pull does not page by offset alone, which would skip the visit that moves into the
place of one that left for the end: after each full page it asks again from one second
before the page's last visit (``minTimestamp = last - 1``, offset 0). Every visit not yet
read lies after that one in the order, so has a last action time at least as late, and
is answered again; a visit that moved is answered again too, and the ledger drops what it
already has. Only when a whole page shares that second does the read go on by offset.

The pull stops at a short page, or at a page whose visits all ended after the pull began
(the next pull reads them). The next one starts ``lag_minutes`` before the newest last
action seen (never later than now less the lag): a visit in progress comes back with its
new actions, and tracking requests that arrive late land in that window.

``period=range&date=D,today`` bounds Matomo's scan: D is the UTC day before the
``minTimestamp``, so its start in any site time zone (Matomo reads dates in the site's)
lies before it, and ``today`` leaves the range open-ended (Model.php
``getStartAndEndDate``). ``minTimestamp`` does the real filtering.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from adapters.matomo.client import MatomoApi
from adapters.matomo.cursor import PullCursor, Sweep
from adapters.matomo.visits import ReadVisits, VisitReading, epoch, read_visits
from connector.errors import FatalError
from connector.ports import Page

__all__ = ["MatomoVisitSource"]

# No site has this many pages of visits in one pull (50 million at 500 a page): past it
# Matomo is answering the same page again, and the pull stops rather than loop.
_MAX_PAGES = 100_000
_DAY_S = 86_400


def _date_from(min_timestamp: int) -> str:
    return datetime.fromtimestamp(min_timestamp - _DAY_S, UTC).strftime("%Y-%m-%d")


class MatomoVisitSource:
    """An ``EventSource`` over one Matomo site's visits."""

    def __init__(
        self,
        name: str,
        api: MatomoApi,
        reading: VisitReading,
        *,
        lookback_days: int = 7,
        lag_minutes: int = 10,
        page_size: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self._api = api
        self._reading = reading
        self._lookback_s = int(timedelta(days=lookback_days).total_seconds())
        self._lag_s = int(timedelta(minutes=lag_minutes).total_seconds())
        self._page_size = page_size
        self._clock = clock

    def lag(self, cursor: str | None) -> str:
        """How far the pull is, from its cursor alone, for `leadsync status`."""
        state = PullCursor.load(cursor)
        if state.newest is None:
            return "no visit read yet"
        said = f"visits read to {datetime.fromtimestamp(state.newest, UTC):%Y-%m-%d %H:%M} UTC"
        return said + (", a pull part-read" if state.sweep is not None else "")

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Pages of the visits whose last action came after ``cursor``'s ``since`` (None:
        in the last ``lookback_days``)."""
        now = int(self._clock().timestamp())
        state = PullCursor.load(cursor)
        sweep = state.sweep
        if sweep is None:
            since = now - self._lookback_s if state.since is None else state.since
            sweep = Sweep(min(since, now - self._lag_s), 0, 0, now)
        newest = state.newest
        for _ in range(_MAX_PAGES):
            visits, size = self._api.visits(
                min_timestamp=sweep.since,
                date_from=_date_from(sweep.since),
                limit=self._page_size,
                offset=sweep.offset,
            )
            found = read_visits(visits, self._reading, first_line=sweep.read + 1)
            if found.newest is not None:
                newest = found.newest if newest is None else max(found.newest, newest)
            read = sweep.read + len(visits)
            first = _last_action(visits[0]) if visits else None
            last = _last_action(visits[-1]) if visits else None
            if len(visits) < self._page_size or (first is not None and first > sweep.started):
                # Read to the end. The next pull starts the lag before the newest visit
                # seen, or where this one did if it saw none.
                base = sweep.since if newest is None else newest - self._lag_s
                after = PullCursor(min(base, now - self._lag_s), newest)
                yield _page(found, after, size)
                return
            if last is not None and last - 1 > sweep.since:
                sweep = Sweep(last - 1, 0, read, sweep.started)
            else:
                sweep = Sweep(sweep.since, sweep.offset + len(visits), read, sweep.started)
            yield _page(found, PullCursor(state.since, newest, sweep), size)
        raise FatalError(
            f"Matomo's visits of site {self._api.site_id} did not end after {_MAX_PAGES} "
            "pages; the pull stops rather than read the same pages again"
        )


def _last_action(visit: object) -> int | None:
    return epoch(visit.get("lastActionTimestamp")) if isinstance(visit, dict) else None


def _page(found: ReadVisits, cursor: PullCursor, size: int) -> Page:
    return Page(
        events=found.events,
        rejects=tuple(found.rejects),
        cursor=cursor.dump(),
        bytes_read=size,
        skipped=found.skipped,
    )
