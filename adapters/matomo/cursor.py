"""The matomo source's cursor, as JSON text.

Between pulls it holds ``since``, the ``minTimestamp`` the next pull starts from (the
newest last action time seen less the lag, UTC epoch seconds), and ``newest`` itself.
Mid-pull it also holds the read in progress (``Sweep``): the ``minTimestamp`` and
``filter_offset`` of the next call, the visits read so far, and when the read began.
Each page commits it, so a killed pull reads at most one page again.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

__all__ = ["PullCursor", "Sweep"]

_VERSION = 1


@dataclass(frozen=True, slots=True)
class Sweep:
    """One pull's read in progress."""

    since: int  # the next call's minTimestamp
    offset: int  # the next call's filter_offset
    read: int  # visits read so far in this pull (the next reject's line less one)
    started: int  # when the pull began: visits whose last action is later wait for the next


@dataclass(frozen=True, slots=True)
class PullCursor:
    since: int | None = None
    newest: int | None = None
    sweep: Sweep | None = None

    def dump(self) -> str:
        sweep = self.sweep
        return orjson.dumps(
            {
                "v": _VERSION,
                "since": self.since,
                "newest": self.newest,
                "sweep": None
                if sweep is None
                else {
                    "since": sweep.since,
                    "offset": sweep.offset,
                    "read": sweep.read,
                    "started": sweep.started,
                },
            }
        ).decode()

    @staticmethod
    def load(text: str | None) -> PullCursor:
        """The cursor of ``text``; an empty one for None or text this source did not
        write (the pull then starts ``lookback_days`` back, and the ledger drops what it
        already has)."""
        if not text:
            return PullCursor()
        try:
            data = orjson.loads(text)
            if data["v"] != _VERSION:
                return PullCursor()
            sweep = data["sweep"]
            return PullCursor(
                _whole(data["since"]),
                _whole(data["newest"]),
                None
                if sweep is None
                else Sweep(
                    int(sweep["since"]),
                    int(sweep["offset"]),
                    int(sweep["read"]),
                    int(sweep["started"]),
                ),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return PullCursor()


def _whole(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError("not an integer")
