"""The ga4 source's cursor, as JSON text: the last date read to, and the sweep in progress.

A sweep reads one date range by offset, its rows ordered by date first. Each page commits
the next offset, so a killed pull resumes at the page it was reading; once the range is
read, ``read_to`` is its last day and the next pull starts ``window_days`` before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import orjson

__all__ = ["Ga4Cursor", "Sweep"]

_VERSION = 1


@dataclass(frozen=True, slots=True)
class Sweep:
    start: date
    offset: int


@dataclass(frozen=True, slots=True)
class Ga4Cursor:
    read_to: date | None = None
    sweep: Sweep | None = None
    # The last page left the property's hourly tokens past the share: no call before then.
    paused_until: datetime | None = None

    def dump(self) -> str:
        sweep = (
            None
            if self.sweep is None
            else {"start": self.sweep.start.isoformat(), "offset": self.sweep.offset}
        )
        read_to = None if self.read_to is None else self.read_to.isoformat()
        paused = None if self.paused_until is None else self.paused_until.isoformat()
        return orjson.dumps(
            {"v": _VERSION, "read_to": read_to, "sweep": sweep, "paused_until": paused}
        ).decode()

    @staticmethod
    def load(text: str | None) -> Ga4Cursor:
        """The cursor of ``text``; an empty one for None or text this source did not
        write (the pull then reads ``lookback_days``, and the ledger drops what it has)."""
        if not text:
            return Ga4Cursor()
        try:
            data = orjson.loads(text)
            read_to = None if data["read_to"] is None else date.fromisoformat(data["read_to"])
            sweep = data["sweep"]
            paused = data.get("paused_until")
            return Ga4Cursor(
                read_to,
                None
                if sweep is None
                else Sweep(date.fromisoformat(sweep["start"]), int(sweep["offset"])),
                None if paused is None else datetime.fromisoformat(paused),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return Ga4Cursor()
