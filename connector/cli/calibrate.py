"""`leadsync calibrate`: do the bands still convert at the rates they stand for?"""

from __future__ import annotations

from typing import Annotated

import structlog
import typer

from connector.calibration import (
    DEFAULT_TARGETS,
    Calibration,
    CalibrationOptions,
    Rate,
    Targets,
)
from connector.cli.html_report import HtmlOption, write_html_report
from connector.cli.render import print_json, print_listing, progress_bar, shown_time, stdout
from connector.cli.state import state_of
from connector.config import scoring_rules
from connector.runners.calibrate import calibrate_store

__all__ = ["app", "parsed_targets", "print_calibration"]

app = typer.Typer()

log = structlog.get_logger("leadsync")

_TARGET_FORM = "BAND=RATE, BAND warm or hot and RATE a fraction, e.g. --target hot=0.5"


def parsed_targets(texts: list[str]) -> Targets:
    """``--target`` values over the defaults (warm 0.25, hot 0.5).

    Raises:
        typer.BadParameter: not BAND=RATE, an unknown band, a rate outside (0, 1], or a
            warm target above the hot one (a usage error, exit 2).
    """
    wanted = {"warm": DEFAULT_TARGETS.warm, "hot": DEFAULT_TARGETS.hot}
    for text in texts:
        band, equals, value = text.partition("=")
        band = band.strip().lower()
        if not equals or band not in wanted:
            raise typer.BadParameter(f"{text!r} is not {_TARGET_FORM}", param_hint="--target")
        try:
            wanted[band] = float(value)
        except ValueError:
            raise typer.BadParameter(
                f"{value.strip()!r} is not a number; write {_TARGET_FORM}", param_hint="--target"
            ) from None
    try:
        return Targets(warm=wanted["warm"], hot=wanted["hot"])
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--target") from None


@app.command()
def calibrate(
    ctx: typer.Context,
    horizon_days: Annotated[
        int,
        typer.Option(
            "--horizon-days",
            min=1,
            metavar="DAYS",
            help="A contact converted if it became a customer within this many days after "
            "entering its band; its outcome is known once they have passed.",
        ),
    ] = 180,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            metavar="BAND=RATE",
            help="The conversion rate the suggested threshold of a band must reach "
            "(warm=0.25 and hot=0.5 unless given; repeat for both).",
        ),
    ] = None,
    bucket: Annotated[
        int,
        typer.Option("--bucket", min=1, metavar="POINTS", help="Width of the score buckets."),
    ] = 5,
    min_outcomes: Annotated[
        int,
        typer.Option(
            "--min-outcomes",
            min=1,
            metavar="N",
            help="Known outcomes a band or bucket needs for a rate (fewer: no rate, a note).",
        ),
    ] = 30,
    as_json: Annotated[
        bool, typer.Option("--json", help="The calibration as one JSON object.")
    ] = False,
    html: HtmlOption = None,
) -> None:
    """Conversion per band and per score bucket against the expected 5 / 25 / 50 %, with
    95 % intervals; the thresholds that would reach the targets; the drift since the last
    calibration (which this one replaces)."""
    options = CalibrationOptions(
        horizon_days=horizon_days,
        bucket=bucket,
        min_outcomes=min_outcomes,
        targets=parsed_targets(target or []),
    )
    state = state_of(ctx)
    rules = scoring_rules(state.load())
    engine = state.store()
    with progress_bar("calibrate", None) as bar:
        found = calibrate_store(
            engine, rules, options, on_progress=lambda done, total: bar.update(done, total)
        )
    if html is not None:
        write_html_report(
            engine,
            html,
            command="calibrate",
            bands=rules.bands,
            title="Calibration of the bands",
            quiet=as_json,
            calibration=found.as_contract(),
        )
    if as_json:
        print_json(found.as_contract())
        return
    print_calibration(found)


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _interval(rate: Rate) -> str:
    if rate.low is None or rate.high is None:
        return ""
    return f"{rate.low:.1%} - {rate.high:.1%}"


def _signed(value: float | None, *, share: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:+.1f} pts" if share else f"{value:+g}"


def print_calibration(found: Calibration) -> None:
    """The bands, the buckets, the suggestion and the drift, for people."""
    options = found.options
    known = sum(row.rate.outcomes for row in found.bands)
    stdout.print(
        f"calibration as of {shown_time(found.as_of)} UTC: {known:,} known outcome(s) "
        f"within {options.horizon_days} days ({found.unknown_outcomes:,} not known yet); "
        f"a rate needs {options.min_outcomes} outcomes"
    )
    print_listing(
        ["band", "outcomes", "customers", "rate", "95 % interval", "expected", "note"],
        [
            [
                row.band.value,
                f"{row.rate.outcomes:,}",
                f"{row.rate.customers:,}",
                _share(row.rate.rate),
                _interval(row.rate),
                _share(row.expected),
                row.rate.note,
            ]
            for row in found.bands
        ],
    )
    # The table leaves out buckets no contact peaked in (a few very active contacts spread
    # the scores over hundreds of them); --json lists every one.
    with_outcomes = [row for row in found.buckets if row.rate.outcomes]
    if with_outcomes:
        stdout.print("")
        print_listing(
            ["peak score", "outcomes", "customers", "rate", "95 % interval", "note"],
            [
                [
                    f"[{row.low}, {row.high})",
                    f"{row.rate.outcomes:,}",
                    f"{row.rate.customers:,}",
                    _share(row.rate.rate),
                    _interval(row.rate),
                    row.rate.note,
                ]
                for row in with_outcomes
            ],
        )
        if len(with_outcomes) < len(found.buckets):
            stdout.print(
                f"({len(found.buckets) - len(with_outcomes):,} bucket(s) with no known outcome not "
                "shown; --json lists them)"
            )
    suggested, current = found.suggested, found.current
    stdout.print("")
    for name, value, now, basis, target in (
        ("warm_from", suggested.warm_from, current.warm_from, suggested.warm_basis, "warm"),
        ("hot_above", suggested.hot_above, current.hot_above, suggested.hot_basis, "hot"),
    ):
        shown = "none" if value is None else f"{value:g}"
        rate = suggested.targets.warm if target == "warm" else suggested.targets.hot
        stdout.print(
            f"suggested {name} {shown} (now {now:g}, target {rate:g}): {basis}", markup=False
        )
    drift = found.drift
    if drift is not None:
        bands = ", ".join(
            f"{band.value} {_signed(change, share=True)}" for band, change in drift.rates.items()
        )
        stdout.print(
            f"drift since {shown_time(drift.since)} UTC: {bands}; suggested warm_from "
            f"{_signed(drift.warm_from)}, hot_above {_signed(drift.hot_above)}",
            markup=False,
        )
    elif found.drift_note is not None:
        stdout.print(f"no drift: {found.drift_note}", markup=False)
    else:
        stdout.print("no drift: this is the first calibration of this store")
