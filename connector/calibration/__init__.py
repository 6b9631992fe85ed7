"""Calibration of the bands from history: how often contacts of each band, and of each
score bucket, became customers within a horizon, with 95 % intervals; the thresholds that
would reach target rates; and the drift since the last calibration.

Pure: observations in, figures out. ``connector.runners.calibrate`` reads the store.
"""

from __future__ import annotations

from connector.calibration.drift import Drift, StoredCalibration, drift_since
from connector.calibration.observations import Observation, Outcome, observe, outcome_of
from connector.calibration.rates import (
    EXPECTED_RATES,
    BandRate,
    BucketRate,
    Rate,
    Tally,
    band_rates,
    bucket_of,
    bucket_rates,
    rate_of,
    tally,
)
from connector.calibration.report import Calibration, CalibrationOptions, calibrate
from connector.calibration.suggestion import DEFAULT_TARGETS, Suggestion, Targets, suggest
from connector.calibration.wilson import Z_95, wilson_interval

__all__ = [
    "DEFAULT_TARGETS",
    "EXPECTED_RATES",
    "Z_95",
    "BandRate",
    "BucketRate",
    "Calibration",
    "CalibrationOptions",
    "Drift",
    "Observation",
    "Outcome",
    "Rate",
    "StoredCalibration",
    "Suggestion",
    "Tally",
    "Targets",
    "band_rates",
    "bucket_of",
    "bucket_rates",
    "calibrate",
    "drift_since",
    "observe",
    "outcome_of",
    "rate_of",
    "suggest",
    "tally",
    "wilson_interval",
]
