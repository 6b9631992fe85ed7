"""A whole calibration as the JSON contract, what it stores, and the drift between two."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.calibration import (
    CalibrationOptions,
    Observation,
    Outcome,
    StoredCalibration,
    Targets,
    calibrate,
)
from connector.model import Temperature
from connector.report.shapes import Calibration as ReportCalibration
from connector.report.shapes import parse_shape
from connector.scoring.lifecycle import Bands

FIRST = datetime(2026, 11, 1, tzinfo=UTC)
SECOND = datetime(2026, 12, 1, tzinfo=UTC)
OPTIONS = CalibrationOptions(horizon_days=30, bucket=5, min_outcomes=2, targets=Targets(0.25, 0.5))


def _seen(peak: float, band: Temperature, outcome: Outcome) -> Observation:
    return Observation(1, peak, band, FIRST, None, outcome)


OBSERVED = [
    _seen(1, Temperature.COLD, Outcome.NOT_CONVERTED),
    _seen(12, Temperature.WARM, Outcome.CONVERTED),
    _seen(13, Temperature.WARM, Outcome.NOT_CONVERTED),
    _seen(22, Temperature.HOT, Outcome.CONVERTED),
    _seen(23, Temperature.HOT, Outcome.CONVERTED),
    _seen(24, Temperature.HOT, Outcome.UNKNOWN),
]


class TestContract:
    def test_the_json_object_has_every_figure_in_the_shape_tools_read(self) -> None:
        found = calibrate(OBSERVED, current=Bands(10, 20), options=OPTIONS, as_of=FIRST)
        assert found.as_contract() == {
            "as_of": "2026-11-01T00:00:00Z",
            "horizon_days": 30,
            "min_outcomes": 2,
            "current": {"warm_from": 10, "hot_above": 20},
            "bands": [
                {
                    "band": "cold",
                    "outcomes": 1,
                    "customers": 0,
                    "rate": None,
                    "low": None,
                    "high": None,
                    "expected": 0.05,
                    "note": "too few outcomes (1 < 2)",
                },
                {
                    "band": "warm",
                    "outcomes": 2,
                    "customers": 1,
                    "rate": 0.5,
                    "low": 0.0945,
                    "high": 0.9055,
                    "expected": 0.25,
                    "note": None,
                },
                {
                    "band": "hot",
                    "outcomes": 2,
                    "customers": 2,
                    "rate": 1.0,
                    "low": 0.3424,
                    "high": 1.0,
                    "expected": 0.5,
                    "note": None,
                },
            ],
            "buckets": [
                {
                    "from": 0,
                    "to": 5,
                    "outcomes": 1,
                    "customers": 0,
                    "rate": None,
                    "low": None,
                    "high": None,
                    "note": "too few outcomes (1 < 2)",
                },
                {
                    "from": 5,
                    "to": 10,
                    "outcomes": 0,
                    "customers": 0,
                    "rate": None,
                    "low": None,
                    "high": None,
                    "note": "too few outcomes (0 < 2)",
                },
                {
                    "from": 10,
                    "to": 15,
                    "outcomes": 2,
                    "customers": 1,
                    "rate": 0.5,
                    "low": 0.0945,
                    "high": 0.9055,
                    "note": None,
                },
                {
                    "from": 15,
                    "to": 20,
                    "outcomes": 0,
                    "customers": 0,
                    "rate": None,
                    "low": None,
                    "high": None,
                    "note": "too few outcomes (0 < 2)",
                },
                {
                    "from": 20,
                    "to": 25,
                    "outcomes": 2,
                    "customers": 2,
                    "rate": 1.0,
                    "low": 0.3424,
                    "high": 1.0,
                    "note": None,
                },
            ],
            "suggested": {
                "warm_from": 10,
                "hot_above": 10,
                "targets": {"warm": 0.25, "hot": 0.5},
                "basis": {
                    "warm_from": "bucket [10, 15) converts at 0.5 (1 of 2), the lowest to "
                    "reach 0.25; warm is score >= warm_from, so warm_from = 10",
                    "hot_above": "bucket [10, 15) converts at 0.5 (1 of 2), the lowest to "
                    "reach 0.5; hot is score > hot_above, so hot_above = 10 (a score of "
                    "exactly 10 stays warm)",
                },
            },
            "unknown_outcomes": 1,
            "drift": None,
        }


class TestDrift:
    def test_the_second_calibration_gives_each_change_since_the_first(self) -> None:
        first = calibrate(OBSERVED, current=Bands(10, 20), options=OPTIONS, as_of=FIRST)
        stored = StoredCalibration.loads(first.stored().dumps())
        later = [
            *OBSERVED[:-1],
            _seen(13, Temperature.WARM, Outcome.NOT_CONVERTED),
            _seen(14, Temperature.WARM, Outcome.NOT_CONVERTED),
            _seen(24, Temperature.HOT, Outcome.NOT_CONVERTED),
        ]
        second = calibrate(later, current=Bands(10, 20), options=OPTIONS, as_of=SECOND)
        drift = second.compared_with(stored).as_contract()["drift"]
        # warm 1 of 4 (0.25) after 1 of 2; hot 2 of 3 after 2 of 2; cold too few both
        # times; [10, 15) at 0.25 still reaches warm's target, no longer hot's, which
        # [20, 25) reaches at 2 of 3.
        assert drift == {
            "since": "2026-11-01T00:00:00Z",
            "bands": {"cold": None, "warm": -0.25, "hot": -0.3333},
            "warm_from": 0,
            "hot_above": 10,
        }

    def test_calibrations_of_other_horizons_are_not_compared(self) -> None:
        first = calibrate(OBSERVED, current=Bands(10, 20), options=OPTIONS, as_of=FIRST)
        other = CalibrationOptions(horizon_days=90, bucket=5, min_outcomes=2)
        second = calibrate(OBSERVED, current=Bands(10, 20), options=other, as_of=SECOND)
        compared = second.compared_with(first.stored())
        assert compared.drift is None
        assert compared.drift_note == (
            "the last calibration (2026-11-01 00:00) used a 30-day horizon and 5-point "
            "buckets, this one 90 and 5: not comparable"
        )

    def test_what_is_stored_reads_back_as_it_was(self) -> None:
        first = calibrate(OBSERVED, current=Bands(10, 20), options=OPTIONS, as_of=FIRST)
        assert StoredCalibration.loads(first.stored().dumps()) == StoredCalibration(
            as_of=FIRST,
            horizon_days=30,
            bucket=5,
            rates={Temperature.COLD: None, Temperature.WARM: 0.5, Temperature.HOT: 1.0},
            warm_from=10,
            hot_above=10,
        )

    @pytest.mark.parametrize("text", ["not json", '{"as_of": "2026-11-01T00:00:00Z"}'])
    def test_a_stored_text_that_is_no_calibration_is_refused(self, text: str) -> None:
        with pytest.raises(ValueError):
            StoredCalibration.loads(text)


class TestOptions:
    def test_a_horizon_under_one_day_is_refused(self) -> None:
        with pytest.raises(ValueError, match="horizon_days must be 1 or more, got 0"):
            CalibrationOptions(horizon_days=0)


class TestTheReportReadsIt:
    def test_the_report_takes_the_contract_of_a_first_and_a_second_calibration(self) -> None:
        """The HTML report reads this very object: a key renamed on either side fails."""
        first = calibrate(OBSERVED, current=Bands(10, 20), options=OPTIONS, as_of=FIRST)
        second = calibrate(OBSERVED, current=Bands(10, 20), options=OPTIONS, as_of=SECOND)
        for found in (first, second.compared_with(first.stored())):
            read = parse_shape(ReportCalibration, found.as_contract(), what="calibrate")
            assert read.model_dump(by_alias=True) == found.as_contract()
