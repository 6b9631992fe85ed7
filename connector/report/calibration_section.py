"""The calibration section: conversion by band and by score bucket, the suggested
thresholds and the drift since the last calibration (``leadsync calibrate``)."""

from __future__ import annotations

from connector.report import _format as fmt
from connector.report.conversion import band_chart, bucket_chart
from connector.report.page import Card, CardGroup, Cell, Section, Table
from connector.report.shapes import Calibration

__all__ = ["calibration_section"]


def _threshold_card(
    name: str, current: float | None, suggested: float | None, basis: str | None
) -> Card:
    label = f"{name}, now {fmt.score(current)}"
    if suggested is None:
        return Card(label, fmt.MISSING, basis or "no suggestion", is_missing=True)
    return Card(label, f"→ {fmt.score(suggested)}", basis)


def _bucket_table(calibration: Calibration) -> Table:
    return Table(
        title="Every score bucket",
        headers=["Score", "Outcomes", "Customers", "Rate", "95 % interval", "Note"],
        rows=[
            [
                Cell.of(f"{fmt.score(b.from_)} to under {fmt.score(b.to)}"),
                Cell.of(fmt.count(b.outcomes)),
                Cell.of(fmt.count(b.customers)),
                Cell.of(fmt.rate(b.rate)),
                Cell.of(
                    fmt.MISSING
                    if b.low is None or b.high is None
                    else f"{fmt.rate(b.low)} to {fmt.rate(b.high)}"
                ),
                Cell.of(b.note or ""),
            ]
            for b in calibration.buckets
        ],
        numeric=frozenset({1, 2, 3}),
        is_folded=True,
    )


def _drift_table(calibration: Calibration) -> Table | None:
    drift = calibration.drift
    if drift is None:
        return None
    rows = [
        [Cell.of(f"{band} rate"), Cell.of(fmt.signed_rate(change))]
        for band, change in drift.bands.items()
    ]
    rows += [
        [Cell.of("suggested warm_from"), Cell.of(_signed_score(drift.warm_from))],
        [Cell.of("suggested hot_above"), Cell.of(_signed_score(drift.hot_above))],
    ]
    return Table(
        title=f"Drift since the calibration of {fmt.moment(drift.since)}",
        headers=["Figure", "Change"],
        rows=rows,
        numeric=frozenset({1}),
        note="A dash: the figure could not be computed then or now.",
        is_narrow=True,
    )


def _signed_score(value: float | None) -> str:
    return fmt.MISSING if value is None else f"{value:+g} points"


def calibration_section(calibration: Calibration) -> Section:
    current, suggested = calibration.current, calibration.suggested
    known = sum(band.outcomes for band in calibration.bands)
    customers = sum(band.customers for band in calibration.bands)
    targets = ", ".join(
        f"{band} {fmt.rate(target, digits=0)}" for band, target in suggested.targets.items()
    )
    groups = [
        CardGroup(
            "Thresholds",
            [
                _threshold_card(
                    "warm_from",
                    current.warm_from,
                    suggested.warm_from,
                    suggested.basis.get("warm_from"),
                ),
                _threshold_card(
                    "hot_above",
                    current.hot_above,
                    suggested.hot_above,
                    suggested.basis.get("hot_above"),
                ),
            ],
        ),
        CardGroup(
            "Outcomes",
            [
                Card(
                    "Known outcomes",
                    fmt.count(known),
                    f"within {calibration.horizon_days} days of entering a band",
                ),
                Card("Became customers", fmt.count(customers), None),
                Card(
                    "Outcome not known yet",
                    fmt.count(calibration.unknown_outcomes),
                    "their horizon has not passed and they are not customers",
                ),
            ],
        ),
    ]
    charts = [band_chart(calibration)]
    tables = []
    bucket = bucket_chart(calibration)
    if bucket is not None:
        charts.append(bucket)
        tables.append(_bucket_table(calibration))
    drift = _drift_table(calibration)
    if drift is not None:
        tables.append(drift)
    return Section(
        id="calibration",
        title="Conversion by band",
        intro=f"As of {fmt.moment(calibration.as_of)}: of the contacts whose outcome is "
        f"known, the share that became customers within {calibration.horizon_days} days, "
        "with its 95 % interval (Wilson); a rate needs at least "
        f"{calibration.min_outcomes} outcomes. Suggested thresholds: the lowest score whose "
        f"conversion reaches the target ({targets or 'no targets given'}).",
        card_groups=groups,
        charts=charts,
        tables=tables,
    )
