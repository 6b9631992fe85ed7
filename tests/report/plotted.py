"""What the report handed plotly for one chart: the traces and the layout of its
``Plotly.newPlot("<chart id>", traces, layout, config)`` call, read back as JSON."""

from __future__ import annotations

import json
import re


def plotted(html: str, chart_id: str) -> tuple[list[dict[str, object]], dict[str, object]]:
    call = re.search(r'Plotly\.newPlot\(\s*"' + re.escape(chart_id) + r'",\s*', html)
    assert call is not None, f"no chart {chart_id} in the report"
    decoder = json.JSONDecoder()
    traces, end = decoder.raw_decode(html, call.end())
    layout_start = re.compile(r",\s*").match(html, end)
    assert layout_start is not None
    layout, _ = decoder.raw_decode(html, layout_start.end())
    return traces, layout


def section_ids(html: str) -> list[str]:
    return re.findall(r'<section class="panel" id="([^"]+)">', html)


def chart_ids(html: str) -> list[str]:
    return re.findall(r'<figure class="chart" data-chart="([^"]+)"', html)
