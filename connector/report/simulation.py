"""A simulation's before and after (``leadsync simulate``): band and stage counts under
the current and the candidate rules, and the MQLs each would have made per week."""

from __future__ import annotations

import plotly.graph_objects as go

from connector.report._format import label_of_stage
from connector.report._theme import AFTER, BEFORE, Chart, base_figure, chart
from connector.report.shapes import Simulation

__all__ = ["mqls_per_week_chart", "stage_before_after_chart", "temperature_before_after_chart"]

TEMPERATURE_TITLE = "Contacts by temperature, current rules and candidate"
STAGE_TITLE = "Contacts by stage, current rules and candidate"
MQLS_TITLE = "New MQLs per week, current rules and candidate"
BEFORE_NAME = "current rules"
AFTER_NAME = "candidate"


def _before_after_bars(
    chart_id: str, title: str, labels: list[str], before: list[int], after: list[int]
) -> Chart:
    figure = base_figure(title)
    for name, values, colour in ((BEFORE_NAME, before, BEFORE), (AFTER_NAME, after, AFTER)):
        figure.add_trace(
            go.Bar(
                name=name,
                x=labels,
                y=values,
                marker={"color": colour},
                text=[f"{value:,}" for value in values],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"%{{x}}, {name}: %{{y:,}}<extra></extra>",
            )
        )
    figure.update_layout(barmode="group", bargroupgap=0.08)
    figure.update_yaxes(title_text="contacts", rangemode="tozero")
    return chart(chart_id, title, figure)


def temperature_before_after_chart(simulation: Simulation) -> Chart:
    names = _keys_in_order(simulation.before.temperature, simulation.after.temperature)
    return _before_after_bars(
        "chart-simulation-temperature",
        TEMPERATURE_TITLE,
        names,
        [simulation.before.temperature.get(name, 0) for name in names],
        [simulation.after.temperature.get(name, 0) for name in names],
    )


def stage_before_after_chart(simulation: Simulation) -> Chart:
    names = _keys_in_order(simulation.before.stage, simulation.after.stage)
    return _before_after_bars(
        "chart-simulation-stage",
        STAGE_TITLE,
        [label_of_stage(name) for name in names],
        [simulation.before.stage.get(name, 0) for name in names],
        [simulation.after.stage.get(name, 0) for name in names],
    )


def mqls_per_week_chart(simulation: Simulation) -> Chart | None:
    """Two lines over the weeks simulated; None when the simulation gave no weeks."""
    weeks = simulation.mql_per_week
    if not weeks:
        return None
    figure = base_figure(MQLS_TITLE)
    for name, values, colour, dash in (
        (BEFORE_NAME, [week.before for week in weeks], BEFORE, "solid"),
        (AFTER_NAME, [week.after for week in weeks], AFTER, "solid"),
    ):
        figure.add_trace(
            go.Scatter(
                name=name,
                x=[week.start for week in weeks],
                y=values,
                customdata=[week.week for week in weeks],
                mode="lines+markers",
                line={"color": colour, "width": 2.5, "dash": dash},
                marker={"size": 7},
                hovertemplate=f"%{{customdata}} (from %{{x|%d %b}}): %{{y:,}} MQLs, {name}"
                "<extra></extra>",
            )
        )
    figure.update_xaxes(title_text="week starting", type="date", tickformat="%d %b")
    figure.update_yaxes(title_text="new MQLs", rangemode="tozero")
    return chart("chart-simulation-mqls", MQLS_TITLE, figure)


def _keys_in_order(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """Before's order, then any key only the candidate has."""
    return [*before, *(key for key in after if key not in before)]
