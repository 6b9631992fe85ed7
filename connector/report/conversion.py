"""Conversion by band against the expected rates, and by score bucket, each with its
95 % interval (``leadsync calibrate``)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import plotly.graph_objects as go

from connector.report._format import rate, score
from connector.report._theme import (
    ACCENT,
    INK,
    MUTED,
    TEMPERATURE_COLOURS,
    Chart,
    base_figure,
    chart,
)
from connector.report.distribution import SCORE_AXIS_TITLE, shown_high, threshold_lines
from connector.report.shapes import BandRate, BucketRate, Calibration

__all__ = ["band_chart", "bucket_chart"]

BAND_TITLE = "Conversion to customer by band, against the expected rate"
BUCKET_TITLE = "Conversion to customer by score"
RATE_AXIS_TITLE = "became customers"
NOTE_WIDTH_CHARS = 26


def _error_bars(rows: Sequence[BandRate | BucketRate]) -> dict[str, object]:
    """The 95 % interval as error bars around each rate (none where there is no rate)."""
    return {
        "type": "data",
        "symmetric": False,
        "array": [_gap(row.high, row.rate) for row in rows],
        "arrayminus": [_gap(row.rate, row.low) for row in rows],
        "color": INK,
        "thickness": 1.5,
        "width": 6,
    }


def _gap(upper: float | None, lower: float | None) -> float | None:
    return None if upper is None or lower is None else max(upper - lower, 0.0)


def _rate_axis_top(values: Sequence[float | None]) -> float:
    known = [value for value in values if value is not None]
    return min(1.0, max([*known, 0.1]) * 1.2)


def band_chart(calibration: Calibration) -> Chart:
    """One bar per band with its interval and the expected rate as a marker; a band with
    too few outcomes shows why in place of its bar."""
    bands = calibration.bands
    names = [band.band for band in bands]
    figure = base_figure(BAND_TITLE, height_px=400)
    figure.add_trace(
        go.Bar(
            name="observed",
            showlegend=False,
            x=names,
            y=[band.rate for band in bands],
            marker={"color": [TEMPERATURE_COLOURS.get(name, ACCENT) for name in names]},
            error_y=_error_bars(bands),
            customdata=[
                [band.customers, band.outcomes, rate(band.low), rate(band.high)] for band in bands
            ],
            hovertemplate="%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]})"
            "<br>95 % interval %{customdata[2]} to %{customdata[3]}<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            name="expected rate",
            x=names,
            y=[band.expected for band in bands],
            mode="markers",
            marker={"symbol": "line-ew", "size": 44, "line": {"width": 3, "color": INK}},
            hovertemplate="%{x}: expected %{y:.0%}<extra></extra>",
        )
    )
    top = _rate_axis_top([v for band in bands for v in (band.high, band.rate, band.expected)])
    for band in bands:
        if band.rate is None:
            figure.add_annotation(
                x=band.band,
                y=0,
                yanchor="bottom",
                text="<br>".join(
                    textwrap.wrap(band.note or "no rate", NOTE_WIDTH_CHARS) or ["no rate"]
                ),
                showarrow=False,
                font={"size": 11, "color": MUTED},
                bgcolor="#f3f4f6",
                borderpad=6,
            )
    figure.update_xaxes(
        tickvals=names,
        ticktext=[
            f"<b>{band.band}</b><br><span style='font-size:11px'>"
            f"{band.customers:,} of {band.outcomes:,}</span>"
            for band in bands
        ],
    )
    figure.update_yaxes(title_text=RATE_AXIS_TITLE, tickformat=".0%", range=[0, top])
    return chart("chart-band-conversion", BAND_TITLE, figure)


def bucket_chart(calibration: Calibration) -> Chart | None:
    """The rate per score bucket with its interval, over the current thresholds (and the
    suggested ones, dotted); None when there are no buckets."""
    buckets = calibration.buckets
    if not buckets:
        return None
    figure = base_figure(BUCKET_TITLE, height_px=380)
    figure.add_trace(
        go.Bar(
            name="observed",
            x=[(b.from_ + b.to) / 2 for b in buckets],
            y=[b.rate for b in buckets],
            width=[(b.to - b.from_) * 0.8 for b in buckets],
            marker={"color": ACCENT, "opacity": 0.85},
            error_y=_error_bars(buckets),
            customdata=[
                [score(b.from_), score(b.to), b.customers, b.outcomes, rate(b.low), rate(b.high)]
                for b in buckets
            ],
            hovertemplate="score %{customdata[0]} to under %{customdata[1]}: %{y:.1%} "
            "(%{customdata[2]} of %{customdata[3]})<br>95 % interval %{customdata[4]} to "
            "%{customdata[5]}<extra></extra>",
        )
    )
    unrated = [b for b in buckets if b.rate is None]
    if unrated:
        figure.add_trace(
            go.Scatter(
                name="too few outcomes",
                x=[(b.from_ + b.to) / 2 for b in unrated],
                y=[0] * len(unrated),
                mode="markers",
                marker={"symbol": "x-thin", "size": 9, "line": {"width": 2, "color": MUTED}},
                cliponaxis=False,
                customdata=[[b.note or "no rate", b.outcomes] for b in unrated],
                hovertemplate="%{customdata[0]}<extra></extra>",
            )
        )
    low, last = buckets[0].from_, buckets[-1].to
    current = calibration.current
    past_thresholds = max(
        value
        for value in (current.hot_above, calibration.suggested.hot_above, low)
        if value is not None
    ) + 2 * (buckets[0].to - low)
    high = shown_high([(b.to, b.outcomes) for b in buckets], floor=past_thresholds)
    if current.warm_from is not None and current.hot_above is not None:
        threshold_lines(figure, current.warm_from, current.hot_above, low=low, high=last)
    suggested = calibration.suggested
    for value, label in ((suggested.warm_from, "warm_from"), (suggested.hot_above, "hot_above")):
        if value is not None:
            figure.add_vline(x=value, line_dash="dot", line_width=2, line_color=ACCENT)
            figure.add_annotation(
                x=value,
                y=0.86,
                yref="paper",
                xanchor="left",
                text=f" suggested {label} {score(value)}",
                showarrow=False,
                font={"size": 11, "color": ACCENT},
                bgcolor="rgba(255,255,255,0.8)",
            )
    top = _rate_axis_top([v for b in buckets for v in (b.high, b.rate)])
    figure.update_xaxes(title_text=SCORE_AXIS_TITLE, range=[low, high])
    figure.update_yaxes(title_text=RATE_AXIS_TITLE, tickformat=".0%", range=[0, top])
    # The legend goes under the plot: above it sit the thresholds' labels.
    figure.update_layout(
        legend={"y": -0.2, "yanchor": "top", "x": 0, "xanchor": "left"},
        margin={"b": 80},
    )
    return chart("chart-bucket-conversion", BUCKET_TITLE, figure)
