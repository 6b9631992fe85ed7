"""The funnel: how many contacts reached each stage in the period, and where the
contacts stand now by stage and temperature."""

from __future__ import annotations

import plotly.graph_objects as go

from connector.report._format import label_of_stage
from connector.report._theme import STAGE_COLOURS, TEMPERATURE_COLOURS, Chart, base_figure, chart
from connector.report.shapes import Kpi, Snapshot

__all__ = ["funnel_chart", "stage_temperature_chart"]

FUNNEL_TITLE = "Leads to customers in the period"
STAGE_TEMPERATURE_TITLE = "Contacts now, by stage and temperature"


def funnel_chart(kpi: Kpi) -> Chart:
    """Leads, MQLs, SQLs and customers of the period, each with its share of the step
    before it."""
    steps = [
        ("Leads", kpi.leads, "lead"),
        ("MQLs", kpi.mqls, "mql"),
        ("SQLs", kpi.sqls, "sql"),
        ("Customers", kpi.customers, "customer"),
    ]
    figure = base_figure(FUNNEL_TITLE)
    figure.add_trace(
        go.Funnel(
            y=[name for name, _, _ in steps],
            x=[value for _, value, _ in steps],
            # Each step after the first with its share of the step before: the conversion
            # the key figures give as rates. After an empty step there is no share.
            texttemplate=[
                "%{value:,}"
                if index == 0 or not steps[index - 1][1]
                else "%{value:,} · %{percentPrevious:.0%}"
                for index in range(len(steps))
            ],
            textfont={"size": 13},
            marker={"color": [STAGE_COLOURS[stage] for _, _, stage in steps]},
            connector={"fillcolor": "#eef2ff", "line": {"width": 0}},
            hovertemplate="%{y}: %{x:,}<br>%{percentPrevious:.1%} of the step before"
            "<br>%{percentInitial:.1%} of leads<extra></extra>",
        )
    )
    figure.update_layout(showlegend=False, margin={"l": 90})
    figure.update_xaxes(showgrid=False, showticklabels=False)
    figure.update_yaxes(showgrid=False)
    return chart("chart-funnel", FUNNEL_TITLE, figure)


def stage_temperature_chart(snapshot: Snapshot) -> Chart:
    """Stacked bars: each stage's contacts split by their temperature now."""
    stages = list(snapshot.stage_temperature)
    figure = base_figure(STAGE_TEMPERATURE_TITLE)
    for temperature, colour in TEMPERATURE_COLOURS.items():
        figure.add_trace(
            go.Bar(
                name=temperature,
                x=[label_of_stage(stage) for stage in stages],
                y=[snapshot.stage_temperature[stage].get(temperature, 0) for stage in stages],
                marker={"color": colour},
                hovertemplate=f"%{{x}}, {temperature}: %{{y:,}}<extra></extra>",
            )
        )
    # Stacked bars list their legend top down by default: cold first reads better.
    figure.update_layout(barmode="stack", legend={"traceorder": "normal"})
    figure.update_yaxes(title_text="contacts", rangemode="tozero")
    return chart("chart-stage-temperature", STAGE_TEMPERATURE_TITLE, figure)
