"""The cost of a period (or of one campaign in it) from the costs file, with its basis."""

from __future__ import annotations

import math

from connector.kpi.costs import Costs
from connector.kpi.figures import Figure, amount_text
from connector.kpi.period import Period, month_after

__all__ = ["NO_COSTS_FILE", "cost_of"]

NO_COSTS_FILE = "no costs file: set [kpi] costs to a CSV of campaign,month,cost"


def _listed(values: list[str]) -> str:
    return ", ".join(values)


def _spans(months: list[str]) -> str:
    """Sorted months with each run of consecutive ones as a span: ``2026-01 to 2026-04,
    2026-09``."""
    spans: list[list[str]] = []
    for month in months:
        if spans and month_after(spans[-1][-1]) == month:
            spans[-1].append(month)
        else:
            spans.append([month])
    return ", ".join(span[0] if len(span) == 1 else f"{span[0]} to {span[-1]}" for span in spans)


def cost_of(costs: Costs | None, period: Period, *, campaign: str | None = None) -> Figure:
    """The summed cost of the costs rows whose month the period touches (of ``campaign``
    only, when given). A month counts whole even when the period covers part of it: the
    file knows no finer time."""
    if costs is None:
        return Figure(None, NO_COSTS_FILE)
    rows = costs.in_period(period, campaigns=None if campaign is None else [campaign])
    whose = "" if campaign is None else f" of campaign {campaign!r}"
    if not rows:
        months = period.months()
        span = f"{months[0]} to {months[-1]}" if months else period.text()
        return Figure(None, f"{costs.file} has no row{whose} for the months {span}")
    months = sorted({row.month for row in rows})
    basis = f"{len(rows)} row(s) of {costs.file}{whose} for {_listed(months)}"
    if campaign is None:
        basis += f" (campaigns {_listed(sorted({row.campaign for row in rows}))})"
    partial = [month for month in months if not period.covers_whole_month(month)]
    if partial:
        basis += f"; counted whole though the period covers part of {_listed(partial)}"
    absent = [month for month in period.months() if month not in months]
    if absent:
        basis += f"; no row for {_spans(absent)}, counted as nothing spent"
    total = math.fsum(row.cost for row in rows)
    return Figure(total, f"{amount_text(total)}: {basis}")
