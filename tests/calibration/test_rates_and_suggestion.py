"""Rates per band and bucket from observations, never a rate for too few outcomes, and
the thresholds the buckets suggest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.calibration import (
    BucketRate,
    Observation,
    Outcome,
    Rate,
    Targets,
    band_rates,
    bucket_of,
    bucket_rates,
    rate_of,
    suggest,
    tally,
)
from connector.model import Temperature

MOMENT = datetime(2026, 6, 1, tzinfo=UTC)


def _seen(peak: float, band: Temperature, outcome: Outcome) -> Observation:
    return Observation(1, peak, band, MOMENT, None, outcome)


def _many(count: int, peak: float, band: Temperature, outcome: Outcome) -> list[Observation]:
    return [_seen(peak, band, outcome) for _ in range(count)]


class TestRateOf:
    def test_enough_outcomes_give_the_rate_and_its_interval(self) -> None:
        found = rate_of(5, 10, min_outcomes=10)
        assert found == Rate(
            10, 5, 0.5, pytest.approx(0.2366, abs=5e-5), pytest.approx(0.7634, abs=5e-5), None
        )

    def test_too_few_outcomes_give_a_note_and_no_rate(self) -> None:
        assert rate_of(7, 12, min_outcomes=30) == Rate(
            12, 7, None, None, None, "too few outcomes (12 < 30)"
        )

    def test_no_outcome_is_too_few_even_when_one_would_do(self) -> None:
        assert rate_of(0, 0, min_outcomes=0).note == "too few outcomes (0 < 1)"


class TestBuckets:
    @pytest.mark.parametrize(
        ("peak", "low"), [(0, 0), (4.99, 0), (5, 5), (12.5, 10), (-0.5, -5), (-5, -5), (-5.01, -10)]
    )
    def test_a_bucket_holds_its_lower_bound_and_not_its_upper(self, peak: float, low: int) -> None:
        assert bucket_of(peak, 5) == low

    def test_buckets_run_without_holes_from_the_lowest_to_the_highest(self) -> None:
        counted = tally(
            [
                _seen(-3, Temperature.COLD, Outcome.NOT_CONVERTED),
                _seen(11, Temperature.WARM, Outcome.CONVERTED),
                _seen(12, Temperature.WARM, Outcome.NOT_CONVERTED),
                _seen(40, Temperature.HOT, Outcome.UNKNOWN),  # no known outcome: no bucket
            ],
            width=5,
        )
        assert [
            (row.low, row.high, row.rate.outcomes, row.rate.customers)
            for row in bucket_rates(counted, min_outcomes=1)
        ] == [
            (-5, 0, 1, 0),
            (0, 5, 0, 0),
            (5, 10, 0, 0),
            (10, 15, 2, 1),
        ]
        assert (counted.observed, counted.unknown) == (4, 1)

    def test_no_known_outcome_gives_no_bucket(self) -> None:
        counted = tally([_seen(3, Temperature.COLD, Outcome.UNKNOWN)], width=5)
        assert bucket_rates(counted, min_outcomes=1) == []

    def test_a_bucket_narrower_than_a_point_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least 1 point wide, got 0"):
            tally([], width=0)


class TestBandRates:
    def test_each_band_counts_its_known_outcomes_beside_its_expected_rate(self) -> None:
        counted = tally(
            [
                *_many(3, 2, Temperature.COLD, Outcome.NOT_CONVERTED),
                *_many(1, 12, Temperature.WARM, Outcome.CONVERTED),
                *_many(3, 14, Temperature.WARM, Outcome.NOT_CONVERTED),
                *_many(2, 30, Temperature.HOT, Outcome.CONVERTED),
                *_many(5, 30, Temperature.HOT, Outcome.UNKNOWN),
            ],
            width=5,
        )
        found = band_rates(counted, min_outcomes=3)
        assert [
            (
                row.band,
                row.rate.outcomes,
                row.rate.customers,
                row.rate.rate,
                row.rate.note,
                row.expected,
            )
            for row in found
        ] == [
            (Temperature.COLD, 3, 0, 0.0, None, 0.05),
            (Temperature.WARM, 4, 1, 0.25, None, 0.25),
            (Temperature.HOT, 2, 2, None, "too few outcomes (2 < 3)", 0.5),
        ]


def _bucket(low: int, customers: int, outcomes: int, *, min_outcomes: int = 10) -> BucketRate:
    return BucketRate(low, low + 5, rate_of(customers, outcomes, min_outcomes=min_outcomes))


class TestSuggest:
    def test_the_lowest_bucket_reaching_each_target_sets_its_threshold(self) -> None:
        buckets = [
            _bucket(0, 1, 40),
            _bucket(5, 3, 20),  # 0.15
            _bucket(10, 9, 30),  # 0.30: the lowest to reach 0.25
            _bucket(15, 1, 4),  # too few outcomes: passed over, though 0.25
            _bucket(20, 10, 20),  # 0.50: the lowest to reach 0.5
            _bucket(25, 12, 20),
        ]
        found = suggest(buckets, Targets(warm=0.25, hot=0.5))
        assert (found.warm_from, found.hot_above) == (10, 20)
        assert found.warm_basis == (
            "bucket [10, 15) converts at 0.3 (9 of 30), the lowest to reach 0.25; "
            "warm is score >= warm_from, so warm_from = 10"
        )
        assert found.hot_basis == (
            "bucket [20, 25) converts at 0.5 (10 of 20), the lowest to reach 0.5; "
            "hot is score > hot_above, so hot_above = 20 (a score of exactly 20 stays warm)"
        )

    def test_one_bucket_reaching_both_targets_sets_both_to_its_bound(self) -> None:
        found = suggest([_bucket(0, 0, 30), _bucket(5, 20, 30)], Targets(warm=0.25, hot=0.5))
        assert (found.warm_from, found.hot_above) == (5, 5)

    def test_no_bucket_reaching_a_target_gives_none_and_the_best_there_is(self) -> None:
        found = suggest([_bucket(0, 1, 30), _bucket(5, 9, 30)], Targets(warm=0.25, hot=0.5))
        assert (found.warm_from, found.hot_above) == (5, None)
        assert found.hot_basis == "no bucket with a rate reaches 0.5 (the best: [5, 10) at 0.3)"

    def test_a_rate_in_a_basis_reads_to_four_decimals(self) -> None:
        found = suggest([_bucket(0, 1, 30), _bucket(5, 2, 30)], Targets(warm=0.25, hot=0.5))
        assert (
            found.warm_basis == "no bucket with a rate reaches 0.25 (the best: [5, 10) at 0.0667)"
        )

    def test_no_bucket_with_enough_outcomes_gives_none_and_says_so(self) -> None:
        found = suggest([_bucket(0, 3, 5)])
        assert (found.warm_from, found.hot_above) == (None, None)
        assert (
            found.warm_basis
            == found.hot_basis
            == ("no bucket has enough known outcomes for a rate")
        )


class TestTargets:
    @pytest.mark.parametrize("rate", [0, -0.1, 1.5])
    def test_a_target_outside_zero_to_one_is_refused(self, rate: float) -> None:
        with pytest.raises(ValueError, match=r"the hot target must be a fraction in \(0, 1\]"):
            Targets(warm=0.01, hot=rate)

    def test_a_warm_target_above_the_hot_one_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"the warm target \(0\.6\) is above the hot one"):
            Targets(warm=0.6, hot=0.5)
