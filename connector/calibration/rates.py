"""Conversion rates with their 95 % intervals, per band and per bucket of the peak score.

Pure. Only observations whose outcome is known count; a group with fewer than
``min_outcomes`` of them gets no rate (and no interval) but a note saying so: a rate of
2 of 3 would read as a fact it is not.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from connector.calibration.observations import Observation, Outcome
from connector.calibration.wilson import wilson_interval
from connector.model import Temperature

__all__ = [
    "EXPECTED_RATES",
    "BandRate",
    "BucketRate",
    "Rate",
    "Tally",
    "band_rates",
    "bucket_of",
    "bucket_rates",
    "rate_of",
    "tally",
]

# What each band is meant to convert at, the rule of thumb the default bands are drawn
# from (a hot lead goes to sales because about half of them buy).
EXPECTED_RATES: dict[Temperature, float] = {
    Temperature.COLD: 0.05,
    Temperature.WARM: 0.25,
    Temperature.HOT: 0.5,
}


@dataclass(frozen=True, slots=True)
class Rate:
    """Exact figures: the contract rounds them, a drift subtracts them first."""

    outcomes: int
    customers: int
    rate: float | None
    low: float | None
    high: float | None
    note: str | None


def rate_of(customers: int, outcomes: int, *, min_outcomes: int) -> Rate:
    """The rate of ``customers`` among ``outcomes`` with its Wilson interval, or none
    (with the reason) below ``min_outcomes``."""
    if outcomes == 0 or outcomes < min_outcomes:
        note = f"too few outcomes ({outcomes} < {max(min_outcomes, 1)})"
        return Rate(outcomes, customers, None, None, None, note)
    low, high = wilson_interval(customers, outcomes)
    return Rate(outcomes, customers, customers / outcomes, low, high, None)


@dataclass(frozen=True, slots=True)
class BandRate:
    band: Temperature
    rate: Rate
    expected: float


@dataclass(frozen=True, slots=True)
class BucketRate:
    low: int  # the bucket is [low, high): a peak of ``low`` is in it, one of ``high`` not
    high: int
    rate: Rate


def bucket_of(peak: float, width: int) -> int:
    """The lower bound of the bucket of ``peak``: buckets are [0, w), [w, 2w), … and
    [-w, 0), … below zero."""
    return math.floor(peak / width) * width


@dataclass(slots=True)
class Tally:
    """Known outcomes counted by band and by bucket, in one pass over the observations."""

    width: int
    outcomes_by_band: Counter[Temperature] = field(default_factory=Counter)
    customers_by_band: Counter[Temperature] = field(default_factory=Counter)
    outcomes_by_bucket: Counter[int] = field(default_factory=Counter)
    customers_by_bucket: Counter[int] = field(default_factory=Counter)
    unknown: int = 0
    observed: int = 0

    def add(self, observation: Observation) -> None:
        self.observed += 1
        if observation.outcome is Outcome.UNKNOWN:
            self.unknown += 1
            return
        bucket = bucket_of(observation.peak, self.width)
        self.outcomes_by_band[observation.band] += 1
        self.outcomes_by_bucket[bucket] += 1
        if observation.outcome is Outcome.CONVERTED:
            self.customers_by_band[observation.band] += 1
            self.customers_by_bucket[bucket] += 1


def tally(observations: Iterable[Observation], *, width: int) -> Tally:
    """Count ``observations`` (read once: a generator over the store is fine).

    Raises:
        ValueError: a bucket width under 1.
    """
    if width < 1:
        raise ValueError(f"a bucket must be at least 1 point wide, got {width}")
    counted = Tally(width)
    for observation in observations:
        counted.add(observation)
    return counted


def band_rates(counted: Tally, *, min_outcomes: int) -> list[BandRate]:
    """Cold, warm and hot, in that order, each beside its expected rate."""
    return [
        BandRate(
            band,
            rate_of(
                counted.customers_by_band[band],
                counted.outcomes_by_band[band],
                min_outcomes=min_outcomes,
            ),
            expected,
        )
        for band, expected in EXPECTED_RATES.items()
    ]


def bucket_rates(counted: Tally, *, min_outcomes: int) -> list[BucketRate]:
    """Every bucket from the lowest to the highest with an outcome, empty ones between
    included (so a chart's axis has no holes), lowest first."""
    if not counted.outcomes_by_bucket:
        return []
    width = counted.width
    lowest, highest = min(counted.outcomes_by_bucket), max(counted.outcomes_by_bucket)
    return [
        BucketRate(
            low,
            low + width,
            rate_of(
                counted.customers_by_bucket[low],
                counted.outcomes_by_bucket[low],
                min_outcomes=min_outcomes,
            ),
        )
        for low in range(lowest, highest + width, width)
    ]
