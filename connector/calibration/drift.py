"""The last calibration as it is kept in the store, and the drift since it.

Pure: the store keeps the text (``store_meta``, key ``calibration``); this reads and
writes it and compares two calibrations. Rates and thresholds move between runs as
customers arrive and rules change; the drift is the new figure minus the old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pydantic

from connector.model import Temperature

__all__ = ["Drift", "StoredCalibration", "drift_since"]

_DIGITS = 4


class StoredCalibration(pydantic.BaseModel):
    """What a run keeps for the next one to compare with."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    as_of: pydantic.AwareDatetime
    horizon_days: int
    bucket: int
    rates: dict[Temperature, float | None]
    warm_from: float | None
    hot_above: float | None

    def dumps(self) -> str:
        return self.model_dump_json()

    @classmethod
    def loads(cls, text: str) -> StoredCalibration:
        """The calibration kept in ``text``.

        Raises:
            ValueError: the text is not a stored calibration (pydantic's
                ValidationError is one).
        """
        return cls.model_validate_json(text)


@dataclass(frozen=True, slots=True)
class Drift:
    since: datetime
    rates: dict[Temperature, float | None]
    warm_from: float | None
    hot_above: float | None


def _difference(new: float | None, old: float | None) -> float | None:
    return None if new is None or old is None else round(new - old, _DIGITS)


def drift_since(
    previous: StoredCalibration, current: StoredCalibration
) -> tuple[Drift | None, str | None]:
    """The change from ``previous`` to ``current`` (a figure missing on either side has
    no change), or None with the reason when the two are not measured alike."""
    if (previous.horizon_days, previous.bucket) != (current.horizon_days, current.bucket):
        return None, (
            f"the last calibration ({previous.as_of:%Y-%m-%d %H:%M}) used a "
            f"{previous.horizon_days}-day horizon and {previous.bucket}-point buckets, "
            f"this one {current.horizon_days} and {current.bucket}: not comparable"
        )
    return (
        Drift(
            previous.as_of,
            {
                band: _difference(current.rates.get(band), previous.rates.get(band))
                for band in Temperature
            },
            _difference(current.warm_from, previous.warm_from),
            _difference(current.hot_above, previous.hot_above),
        ),
        None,
    )
