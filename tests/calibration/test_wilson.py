"""The Wilson interval against published values and against its own definition."""

from __future__ import annotations

import math

import pytest

from connector.calibration import Z_95, wilson_interval


def _score_statistic(rate: float, successes: int, trials: int) -> float:
    """|p̂ - p| / sqrt(p(1 - p)/n): the Wilson interval is where this is at most z."""
    return abs(successes / trials - rate) / math.sqrt(rate * (1 - rate) / trials)


class TestWilsonInterval:
    @pytest.mark.parametrize(
        ("successes", "trials", "low", "high"),
        [
            # Brown, Cai and DasGupta (2001) and the usual tables: 0 of 10, 5 of 10.
            (0, 10, 0.0, 0.2775),
            (5, 10, 0.2366, 0.7634),
            (10, 10, 0.7225, 1.0),
            # Newcombe (1998), "Two-sided confidence intervals for the single proportion",
            # Statistics in Medicine 17, table I, method 3: 81 of 263, 15 of 148, 0 of 20.
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
        ],
    )
    def test_matches_published_values(
        self, successes: int, trials: int, low: float, high: float
    ) -> None:
        """Four decimals of the published interval."""
        found = wilson_interval(successes, trials)
        assert (round(found[0], 4), round(found[1], 4)) == (low, high)

    @pytest.mark.parametrize(("successes", "trials"), [(1, 3), (7, 40), (29, 30), (2, 4)])
    def test_its_bounds_are_where_the_score_statistic_equals_z(
        self, successes: int, trials: int
    ) -> None:
        """Each inner bound solves |p̂ - p| = z·sqrt(p(1 - p)/n), the definition."""
        low, high = wilson_interval(successes, trials)
        assert _score_statistic(low, successes, trials) == pytest.approx(Z_95)
        assert _score_statistic(high, successes, trials) == pytest.approx(Z_95)
        assert low < successes / trials < high

    def test_no_trials_has_no_interval(self) -> None:
        with pytest.raises(ValueError, match="at least one trial, got 0"):
            wilson_interval(0, 0)

    def test_more_successes_than_trials_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"successes must lie in 0\.\.3, got 4"):
            wilson_interval(4, 3)
