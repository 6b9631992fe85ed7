"""The period a KPI covers: whole days in UTC, both ends included, and its calendar months.

Months are ``YYYY-MM`` text, as the costs file writes them, so a month read from the file
and one derived from an event's time compare equal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

__all__ = ["Period", "month_after", "month_of", "month_range", "parse_month"]


def parse_month(text: str) -> str:
    """``text`` as a ``YYYY-MM`` month.

    Raises:
        ValueError: not a month written as YYYY-MM (with a month from 01 to 12).
    """
    stripped = text.strip()
    try:
        parsed = datetime.strptime(stripped, "%Y-%m")
    except ValueError:
        raise ValueError(f"{text!r} is not a month; write it as YYYY-MM, like 2026-09") from None
    if len(stripped) != len("2026-09"):
        raise ValueError(f"{text!r} is not a month; write it as YYYY-MM, like 2026-09")
    return f"{parsed:%Y-%m}"


def month_of(moment: date) -> str:
    """The calendar month (UTC for a time) of ``moment``."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return f"{moment:%Y-%m}"


def _first_day(month: str) -> date:
    return datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC).date()


def month_after(month: str) -> str:
    start = _first_day(month)
    return month_of(date(start.year + start.month // 12, start.month % 12 + 1, 1))


def _last_day(month: str) -> date:
    return _first_day(month_after(month)) - timedelta(days=1)


def month_range(first: str, last: str) -> Iterator[str]:
    """Every month from ``first`` to ``last``, both included (none when last < first)."""
    month = first
    while month <= last:
        yield month
        month = month_after(month)


@dataclass(frozen=True, slots=True)
class Period:
    """From ``since`` to ``until``, whole days, both included; ``since`` None: from the
    beginning (a store with no event has no first day)."""

    since: date | None
    until: date

    def __post_init__(self) -> None:
        if self.since is not None and self.since > self.until:
            raise ValueError(f"the period starts ({self.since}) after it ends ({self.until})")

    @property
    def start(self) -> datetime | None:
        """The first moment in the period (UTC midnight of ``since``)."""
        return None if self.since is None else datetime.combine(self.since, time(), UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the period (UTC midnight after ``until``)."""
        return datetime.combine(self.until + timedelta(days=1), time(), UTC)

    def covers_month(self, month: str) -> bool:
        """Whether any day of ``month`` is in the period."""
        if _first_day(month) > self.until:
            return False
        return self.since is None or _last_day(month) >= self.since

    def covers_whole_month(self, month: str) -> bool:
        return (self.since is None or _first_day(month) >= self.since) and (
            _last_day(month) <= self.until
        )

    def months(self) -> list[str]:
        """The months the period touches (none before an open start is known)."""
        if self.since is None:
            return []
        return list(month_range(month_of(self.since), month_of(self.until)))

    def within_month(self, month: str) -> Period:
        """The part of this period in ``month``."""
        since = _first_day(month) if self.since is None else max(self.since, _first_day(month))
        return Period(since, min(self.until, _last_day(month)))

    def text(self) -> str:
        """The period for people, ``2026-09-01 to 2026-09-30``."""
        if self.since is None:
            return f"up to {self.until}"
        return f"{self.since} to {self.until}"

    def as_dict(self) -> dict[str, str | None]:
        return {
            "since": None if self.since is None else self.since.isoformat(),
            "until": self.until.isoformat(),
        }
