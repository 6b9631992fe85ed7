"""One contact's observation: its band from its peak before it became a customer, when it
entered that band, and whether the outcome is known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.calibration import Observation, Outcome, observe, outcome_of
from connector.model import ScoreLine, Temperature
from connector.scoring.lifecycle import Bands

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
HORIZON = timedelta(days=30)
BANDS = Bands(warm_from=10, hot_above=20)


def _day(n: int) -> datetime:
    return DAY0 + timedelta(days=n)


def _event(day: int, points: float) -> ScoreLine:
    return ScoreLine("rule", "site_visit", _day(day), points)


def _observe(lines: list[ScoreLine], customer_at: datetime | None) -> Observation | None:
    times = [line.occurred_at for line in lines if line.occurred_at is not None]
    return observe(
        7,
        lines,
        first_event_at=min(times, default=None),
        customer_at=customer_at,
        bands=BANDS,
        as_of=AS_OF,
        horizon=HORIZON,
    )


class TestOutcome:
    def test_a_customer_on_the_last_day_of_the_horizon_converted(self) -> None:
        assert outcome_of(DAY0, DAY0 + HORIZON, as_of=AS_OF, horizon=HORIZON) is (Outcome.CONVERTED)

    def test_a_customer_after_the_horizon_did_not_convert(self) -> None:
        late = DAY0 + HORIZON + timedelta(seconds=1)
        assert outcome_of(DAY0, late, as_of=AS_OF, horizon=HORIZON) is Outcome.NOT_CONVERTED

    def test_no_customer_once_the_horizon_has_passed_did_not_convert(self) -> None:
        """The horizon ending at the very moment of the calibration counts as passed."""
        entered = AS_OF - HORIZON
        assert outcome_of(entered, None, as_of=AS_OF, horizon=HORIZON) is Outcome.NOT_CONVERTED

    def test_no_customer_within_a_horizon_still_running_is_unknown(self) -> None:
        entered = AS_OF - HORIZON + timedelta(seconds=1)
        assert outcome_of(entered, None, as_of=AS_OF, horizon=HORIZON) is Outcome.UNKNOWN

    def test_a_customer_while_the_horizon_still_runs_converted(self) -> None:
        entered = AS_OF - timedelta(days=2)
        customer = AS_OF - timedelta(days=1)
        assert outcome_of(entered, customer, as_of=AS_OF, horizon=HORIZON) is Outcome.CONVERTED


class TestObserve:
    def test_a_hot_contact_entered_its_band_with_the_event_that_took_it_above(self) -> None:
        lines = [_event(0, 15), _event(3, 5), _event(5, 1), _event(9, 4)]
        assert _observe(lines, _day(20)) == Observation(
            7, 25, Temperature.HOT, _day(5), _day(20), Outcome.CONVERTED
        )

    def test_a_score_of_exactly_hot_above_is_warm_entered_on_reaching_warm_from(self) -> None:
        lines = [_event(0, 5), _event(2, 5), _event(4, 10)]
        assert _observe(lines, None) == Observation(
            7, 20, Temperature.WARM, _day(2), None, Outcome.NOT_CONVERTED
        )

    def test_a_cold_contact_entered_with_its_first_event(self) -> None:
        lines = [_event(4, 3), _event(1, 2)]
        assert _observe(lines, None) == Observation(
            7, 5, Temperature.COLD, _day(1), None, Outcome.NOT_CONVERTED
        )

    def test_points_earned_once_a_customer_do_not_count(self) -> None:
        """The peak is the one before the customer move: its band is what sales saw."""
        lines = [_event(0, 12), _event(10, 30)]
        assert _observe(lines, _day(10)) == Observation(
            7, 12, Temperature.WARM, _day(0), _day(10), Outcome.CONVERTED
        )

    def test_a_peak_before_a_fall_sets_the_band(self) -> None:
        lines = [_event(0, 25), _event(1, -20)]
        found = _observe(lines, None)
        assert found is not None
        assert (found.peak, found.band, found.entered_at) == (25, Temperature.HOT, _day(0))

    def test_a_profile_alone_hot_entered_with_the_first_event(self) -> None:
        """A fit line has no time: the band holds from when the contact became a lead."""
        lines = [ScoreLine("cto", "fit", None, 22), _event(6, 1)]
        found = _observe(lines, None)
        assert found is not None
        assert (found.peak, found.band, found.entered_at) == (23, Temperature.HOT, _day(6))

    @pytest.mark.parametrize(
        ("lines", "customer_at"),
        [
            ([], None),  # no event at all
            ([_event(5, 30)], _day(2)),  # a customer before any activity
            ([_event(5, 30)], _day(5)),  # the first event is the customer's own day
        ],
        ids=["no-event", "customer-before-activity", "customer-at-first-event"],
    )
    def test_without_points_before_the_customer_move_there_is_no_observation(
        self, lines: list[ScoreLine], customer_at: datetime | None
    ) -> None:
        assert _observe(lines, customer_at) is None

    def test_hot_reached_lately_is_unknown_until_its_horizon_passes(self) -> None:
        """A contact long warm that turned hot a week ago: its hot horizon runs on."""
        lines = [_event(0, 12), ScoreLine("rule", "quote_request", AS_OF - timedelta(7), 20)]
        found = _observe(lines, None)
        assert found is not None
        assert (found.band, found.entered_at, found.outcome) == (
            Temperature.HOT,
            AS_OF - timedelta(days=7),
            Outcome.UNKNOWN,
        )
