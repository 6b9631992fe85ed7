"""KPIs over time: ``leadsync kpi --by month`` rows as counts per month and, where costs
are known, cost per lead and per acquisition."""

from __future__ import annotations

import plotly.graph_objects as go

from connector.report._theme import STAGE_COLOURS, Chart, base_figure, chart
from connector.report.shapes import Kpi

__all__ = ["cost_by_month_chart", "counts_by_month_chart", "is_by_month"]

COUNTS_TITLE = "Leads, MQLs, SQLs and customers per month"
COST_TITLE = "Cost per lead and per acquisition, per month"


def is_by_month(kpi: Kpi) -> bool:
    return kpi.by_dimension == "month" and bool(kpi.by)


def counts_by_month_chart(kpi: Kpi) -> Chart:
    """Grouped bars: each month's leads, MQLs, SQLs and customers (the contacts that
    reached each stage in that month)."""
    months = [row.group for row in kpi.by]
    figure = base_figure(COUNTS_TITLE)
    for name, stage, values in (
        ("Leads", "lead", [row.leads for row in kpi.by]),
        ("MQLs", "mql", [row.mqls for row in kpi.by]),
        ("SQLs", "sql", [row.sqls for row in kpi.by]),
        ("Customers", "customer", [row.customers for row in kpi.by]),
    ):
        figure.add_trace(
            go.Bar(
                name=name,
                x=months,
                y=values,
                marker={"color": STAGE_COLOURS[stage]},
                hovertemplate=f"%{{x}}: %{{y:,}} {name.lower()}<extra></extra>",
            )
        )
    figure.update_layout(barmode="group", bargroupgap=0.05)
    figure.update_xaxes(title_text="month", type="category")
    figure.update_yaxes(title_text="contacts", rangemode="tozero")
    return chart("chart-kpi-by-month", COUNTS_TITLE, figure)


def cost_by_month_chart(kpi: Kpi) -> Chart | None:
    """Lines of CPL and CPA per month, gaps where a month's figure is null; None when
    no month has either."""
    cpl = [row.cpl for row in kpi.by]
    cpa = [row.cpa for row in kpi.by]
    if all(value is None for value in [*cpl, *cpa]):
        return None
    months = [row.group for row in kpi.by]
    # One panel each: an acquisition costs tens of leads, so on one axis the cost per
    # lead would lie flat along the bottom.
    figure = base_figure(COST_TITLE)
    figure.set_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12)
    for row, name, values, colour in (
        (1, "cost per lead", cpl, STAGE_COLOURS["mql"]),
        (2, "cost per acquisition", cpa, STAGE_COLOURS["customer"]),
    ):
        figure.add_trace(
            go.Scatter(
                name=name,
                x=months,
                y=values,
                mode="lines+markers",
                line={"color": colour, "width": 2.5},
                marker={"size": 7},
                # A month whose figure cannot be computed is a gap, not a fall to 0.
                connectgaps=False,
                hovertemplate=f"%{{x}}: {name} %{{y:,.2f}}<extra></extra>",
            ),
            row=row,
            col=1,
        )
        figure.update_yaxes(
            title_text="per lead" if row == 1 else "per customer",
            rangemode="tozero",
            tickformat=",.0f",
            row=row,
            col=1,
        )
    figure.update_xaxes(type="category")
    figure.update_xaxes(title_text="month", row=2, col=1)
    return chart("chart-cost-by-month", COST_TITLE, figure)
