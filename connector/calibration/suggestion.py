"""Suggested ``warm_from`` and ``hot_above``: the lowest score whose bucket converts at
the band's target rate.

Pure. A bucket qualifies when it has a rate (enough known outcomes) and that rate is the
target or more; the point estimate decides, the interval is shown beside it. How a
bucket's lower bound ``b`` (the bucket is [b, b + width)) becomes a threshold follows the
bands' own rules:

- warm is ``score >= warm_from``, so ``warm_from = b``: every score of the bucket is warm;
- hot is ``score > hot_above``, so ``hot_above = b``: every score above ``b`` is hot, and a
  score of exactly ``b`` stays warm (the bound itself is the one score of the bucket left
  out, which keeps ``warm_from <= hot_above`` when one bucket qualifies for both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connector.calibration.rates import BucketRate

__all__ = ["DEFAULT_TARGETS", "Suggestion", "Targets", "suggest"]


@dataclass(frozen=True, slots=True)
class Targets:
    """The conversion rate a band should reach (fractions, 0 < rate <= 1)."""

    warm: float = 0.25
    hot: float = 0.5

    def __post_init__(self) -> None:
        for band, rate in (("warm", self.warm), ("hot", self.hot)):
            if not 0 < rate <= 1:
                raise ValueError(f"the {band} target must be a fraction in (0, 1], got {rate:g}")
        # Any bucket reaching the hot target then reaches the warm one too, so the
        # suggested warm_from is never above hot_above (which the config refuses).
        if self.warm > self.hot:
            raise ValueError(f"the warm target ({self.warm:g}) is above the hot one ({self.hot:g})")


DEFAULT_TARGETS = Targets()


@dataclass(frozen=True, slots=True)
class Suggestion:
    warm_from: int | None
    hot_above: int | None
    targets: Targets
    warm_basis: str
    hot_basis: str


def _shown(rate: float | None) -> str:
    return "none" if rate is None else f"{round(rate, 4):g}"


def _range(bucket: BucketRate) -> str:
    return f"[{bucket.low}, {bucket.high})"


def _lowest_reaching(buckets: Sequence[BucketRate], target: float) -> tuple[BucketRate | None, str]:
    rated = [bucket for bucket in buckets if bucket.rate.rate is not None]
    for bucket in rated:  # lowest first
        if bucket.rate.rate is not None and bucket.rate.rate >= target:
            return bucket, (
                f"bucket {_range(bucket)} converts at {_shown(bucket.rate.rate)} "
                f"({bucket.rate.customers} of {bucket.rate.outcomes}), the lowest to reach "
                f"{target:g}"
            )
    if not rated:
        return None, "no bucket has enough known outcomes for a rate"
    best = max(rated, key=lambda bucket: (bucket.rate.rate or 0.0, -bucket.low))
    return None, (
        f"no bucket with a rate reaches {target:g} "
        f"(the best: {_range(best)} at {_shown(best.rate.rate)})"
    )


def suggest(buckets: Sequence[BucketRate], targets: Targets = DEFAULT_TARGETS) -> Suggestion:
    """The thresholds the buckets (lowest first, as ``bucket_rates`` gives them) suggest,
    each with what it rests on or why there is none."""
    warm, warm_basis = _lowest_reaching(buckets, targets.warm)
    hot, hot_basis = _lowest_reaching(buckets, targets.hot)
    if warm is not None:
        warm_basis += f"; warm is score >= warm_from, so warm_from = {warm.low}"
    if hot is not None:
        hot_basis += (
            f"; hot is score > hot_above, so hot_above = {hot.low} "
            f"(a score of exactly {hot.low} stays warm)"
        )
    return Suggestion(
        None if warm is None else warm.low,
        None if hot is None else hot.low,
        targets,
        warm_basis,
        hot_basis,
    )
