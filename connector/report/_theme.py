"""The report's look: one palette, one font stack, and the plotly layout every chart
starts from, so the page reads as one piece."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import Markup

__all__ = [
    "ACCENT",
    "AFTER",
    "BEFORE",
    "FONT_STACK",
    "INK",
    "MUTED",
    "STAGE_COLOURS",
    "TEMPERATURE_COLOURS",
    "Chart",
    "base_figure",
    "chart",
]

# The system's own fonts: the report loads nothing, so it looks the same offline.
FONT_STACK = (
    '-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, '
    '"Noto Sans", "Liberation Sans", sans-serif'
)
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
ACCENT = "#4f46e5"
BEFORE = "#a5b4c8"
AFTER = ACCENT
TEMPERATURE_COLOURS = {"cold": "#60a5fa", "warm": "#f59e0b", "hot": "#ef4444"}
# The funnel's stages darken as they narrow; nurturing and disqualified stand aside.
STAGE_COLOURS = {
    "lead": "#a5b4fc",
    "mql": "#818cf8",
    "sql": "#6366f1",
    "customer": "#4338ca",
    "nurturing": "#2dd4bf",
    "disqualified": "#9ca3af",
}
CHART_HEIGHT_PX = 360

# No toolbar: its icons cluttered every chart (and a screenshot of the page); dragging
# still zooms, a double click resets, hovering shows the figures.
_CONFIG: dict[str, object] = {"displayModeBar": False, "displaylogo": False, "responsive": True}


@dataclass(frozen=True, slots=True)
class Chart:
    """One drawn chart: its element id, the title set on it, its HTML (no plotly.js)."""

    id: str
    title: str
    html: Markup


def base_figure(title: str, *, height_px: int = CHART_HEIGHT_PX) -> Any:
    """An empty figure in the report's style, titled."""
    figure = go.Figure()
    figure.update_layout(
        template="plotly_white",
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 15, "color": INK}},
        font={"family": FONT_STACK, "size": 12, "color": INK},
        height=height_px,
        margin={"l": 56, "r": 20, "t": 64, "b": 52},
        paper_bgcolor="white",
        plot_bgcolor="white",
        legend={
            "orientation": "h",
            "x": 1,
            "xanchor": "right",
            "y": 1.02,
            "yanchor": "bottom",
            "font": {"size": 12},
        },
        hoverlabel={"font": {"family": FONT_STACK}},
        bargap=0.25,
    )
    figure.update_xaxes(gridcolor=GRID, linecolor=GRID, zerolinecolor=GRID, automargin=True)
    figure.update_yaxes(gridcolor=GRID, linecolor=GRID, zerolinecolor=GRID, automargin=True)
    return figure


def chart(chart_id: str, title: str, figure: Any) -> Chart:
    """The figure as an HTML fragment for the page, which loads plotly.js once itself."""
    html = pio.to_html(
        figure,
        config=_CONFIG,
        include_plotlyjs=False,
        full_html=False,
        div_id=chart_id,
        default_width="100%",
    )
    # plotly writes the fragment: its own markup and a JSON literal it has escaped.
    return Chart(chart_id, title, Markup(html))  # noqa: S704
