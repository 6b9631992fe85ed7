"""The score distribution with the temperature thresholds drawn on it."""

from __future__ import annotations

import plotly.graph_objects as go

from connector.report._format import score
from connector.report._theme import ACCENT, INK, TEMPERATURE_COLOURS, Chart, base_figure, chart
from connector.report.shapes import Snapshot

__all__ = ["SCORE_AXIS_TITLE", "score_distribution_chart", "shown_high", "threshold_lines"]

# The share of contacts the score axis shows at first: a few very active contacts can
# score ten times the rest, and an axis drawn to them squeezes everyone else into a few
# pixels. The rest stays one drag (or a double click) away.
SHOWN_SHARE = 0.99

DISTRIBUTION_TITLE = "How the scores are spread"
SCORE_AXIS_TITLE = "score"


def score_distribution_chart(snapshot: Snapshot) -> Chart | None:
    """Bars of the contacts per score bin over the cold, warm and hot ranges; None when
    no contact is scored."""
    bins = snapshot.histogram.bins
    if not bins:
        return None
    figure = base_figure(DISTRIBUTION_TITLE, height_px=380)
    figure.add_trace(
        go.Bar(
            x=[(b.from_ + b.to) / 2 for b in bins],
            y=[b.count for b in bins],
            width=[(b.to - b.from_) * 0.9 for b in bins],
            customdata=[[score(b.from_), score(b.to)] for b in bins],
            marker={"color": ACCENT, "opacity": 0.85},
            name="contacts",
            hovertemplate="score %{customdata[0]} to under %{customdata[1]}: "
            "%{y:,} contacts<extra></extra>",
        )
    )
    low = bins[0].from_
    high = shown_high(
        [(b.to, b.count) for b in bins], floor=snapshot.hot_above + 2 * (bins[0].to - low)
    )
    threshold_lines(figure, snapshot.warm_from, snapshot.hot_above, low=low, high=bins[-1].to)
    figure.update_layout(showlegend=False)
    figure.update_xaxes(title_text=SCORE_AXIS_TITLE, range=[low, high])
    # Headroom over the tallest bar for the names of the ranges.
    figure.update_yaxes(title_text="contacts", range=[0, max(b.count for b in bins) * 1.15 or 1])
    return chart("chart-score-distribution", DISTRIBUTION_TITLE, figure)


def shown_high(ends_and_counts: list[tuple[float, int]], *, floor: float) -> float:
    """Where the score axis ends at first: the end of the bin that reaches
    ``SHOWN_SHARE`` of the contacts, and never before ``floor`` (past the thresholds)."""
    total = sum(count for _, count in ends_and_counts)
    last = ends_and_counts[-1][0]
    if total <= 0:
        return last
    running = 0
    for end, count in ends_and_counts:
        running += count
        if running >= total * SHOWN_SHARE:
            return min(max(end, floor), last)
    return last


def threshold_lines(
    figure: go.Figure, warm_from: float, hot_above: float, *, low: float, high: float
) -> None:
    """Tint the cold, warm and hot ranges, name each inside it, and mark the two
    thresholds with their values just above the plot, clear of the bars."""
    ranges = [
        ("cold", min(low, warm_from), warm_from),
        ("warm", warm_from, hot_above),
        ("hot", hot_above, max(high, hot_above)),
    ]
    for temperature, start, end in ranges:
        if end <= start:
            continue
        figure.add_vrect(
            x0=start,
            x1=end,
            fillcolor=TEMPERATURE_COLOURS[temperature],
            opacity=0.1,
            line_width=0,
            layer="below",
        )
        figure.add_annotation(
            x=(max(start, low) + min(end, high)) / 2,
            y=0.97,
            yref="paper",
            yanchor="top",
            text=f"<b>{temperature}</b>",
            showarrow=False,
            font={"color": TEMPERATURE_COLOURS[temperature], "size": 12},
        )
    for value, label, side in (
        (warm_from, f"warm from {score(warm_from)}", "right"),
        (hot_above, f"hot above {score(hot_above)}", "left"),
    ):
        figure.add_vline(x=value, line_dash="dash", line_width=1.5, line_color=INK)
        figure.add_annotation(
            x=value,
            y=1,
            yref="paper",
            yanchor="bottom",
            # The two labels lean away from each other, so close thresholds stay legible.
            xanchor=side,
            text=label,
            showarrow=False,
            font={"size": 11, "color": INK},
        )
