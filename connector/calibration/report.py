"""A whole calibration: the figures of one run, and the JSON object tools and the HTML
report read (``as_contract``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from connector.calibration.drift import Drift, StoredCalibration, drift_since
from connector.calibration.observations import Observation
from connector.calibration.rates import (
    BandRate,
    BucketRate,
    Rate,
    band_rates,
    bucket_rates,
    tally,
)
from connector.calibration.suggestion import DEFAULT_TARGETS, Suggestion, Targets, suggest
from connector.model import Temperature
from connector.scoring.lifecycle import Bands

__all__ = ["SHOWN_DIGITS", "Calibration", "CalibrationOptions", "calibrate", "shown_share"]

SHOWN_DIGITS = 4


@dataclass(frozen=True, slots=True)
class CalibrationOptions:
    horizon_days: int = 180
    bucket: int = 5
    min_outcomes: int = 30
    targets: Targets = DEFAULT_TARGETS

    def __post_init__(self) -> None:
        for name, value in (
            ("horizon_days", self.horizon_days),
            ("bucket", self.bucket),
            ("min_outcomes", self.min_outcomes),
        ):
            if value < 1:
                raise ValueError(f"{name} must be 1 or more, got {value}")

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.horizon_days)


@dataclass(frozen=True, slots=True)
class Calibration:
    as_of: datetime
    options: CalibrationOptions
    current: Bands
    bands: list[BandRate]
    buckets: list[BucketRate]
    suggested: Suggestion
    observed: int
    unknown_outcomes: int
    drift: Drift | None
    # Why there is no drift though a calibration was stored (None: none was, or there is).
    drift_note: str | None = None

    def stored(self) -> StoredCalibration:
        """What the next run compares with."""
        return StoredCalibration(
            as_of=self.as_of,
            horizon_days=self.options.horizon_days,
            bucket=self.options.bucket,
            rates={row.band: row.rate.rate for row in self.bands},
            warm_from=self.suggested.warm_from,
            hot_above=self.suggested.hot_above,
        )

    def compared_with(self, previous: StoredCalibration | None) -> Calibration:
        """This calibration with its drift since ``previous`` (None: the first one)."""
        if previous is None:
            return self
        drift, note = drift_since(previous, self.stored())
        return replace(self, drift=drift, drift_note=note)

    def as_contract(self) -> dict[str, object]:
        """The object `leadsync calibrate --json` prints (and the report draws)."""
        suggested = self.suggested
        return {
            "as_of": _iso(self.as_of),
            "horizon_days": self.options.horizon_days,
            "min_outcomes": self.options.min_outcomes,
            "current": {
                "warm_from": self.current.warm_from,
                "hot_above": self.current.hot_above,
            },
            "bands": [
                {
                    "band": row.band.value,
                    **_rate(row.rate, expected=row.expected),
                    "note": row.rate.note,
                }
                for row in self.bands
            ],
            "buckets": [
                {"from": row.low, "to": row.high, **_rate(row.rate), "note": row.rate.note}
                for row in self.buckets
            ],
            "suggested": {
                "warm_from": suggested.warm_from,
                "hot_above": suggested.hot_above,
                "targets": {"warm": suggested.targets.warm, "hot": suggested.targets.hot},
                "basis": {"warm_from": suggested.warm_basis, "hot_above": suggested.hot_basis},
            },
            "unknown_outcomes": self.unknown_outcomes,
            "drift": None if self.drift is None else _drift(self.drift),
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _rate(rate: Rate, **after: object) -> dict[str, object]:
    # The contract's order: outcomes, customers, rate, low, high, then ``after`` (a
    # band's expected rate); the caller adds the note last.
    return {
        "outcomes": rate.outcomes,
        "customers": rate.customers,
        "rate": shown_share(rate.rate),
        "low": shown_share(rate.low),
        "high": shown_share(rate.high),
        **after,
    }


def shown_share(value: float | None) -> float | None:
    """A rate as the contract gives it: four decimals, enough to compare runs."""
    return None if value is None else round(value, SHOWN_DIGITS)


def _drift(drift: Drift) -> dict[str, object]:
    return {
        "since": _iso(drift.since),
        "bands": {band.value: drift.rates[band] for band in Temperature},
        "warm_from": drift.warm_from,
        "hot_above": drift.hot_above,
    }


def calibrate(
    observations: Iterable[Observation],
    *,
    current: Bands,
    options: CalibrationOptions,
    as_of: datetime,
) -> Calibration:
    """Rates per band and bucket, and the thresholds they suggest, from ``observations``
    (read once); no drift yet (``compared_with`` adds it)."""
    counted = tally(observations, width=options.bucket)
    buckets = bucket_rates(counted, min_outcomes=options.min_outcomes)
    return Calibration(
        as_of,
        options,
        current,
        band_rates(counted, min_outcomes=options.min_outcomes),
        buckets,
        suggest(buckets, options.targets),
        counted.observed,
        counted.unknown,
        None,
    )
