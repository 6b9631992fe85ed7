"""The sections drawn from ``leadsync kpi`` and the store's snapshot: the key figures,
the funnel, KPIs over time and the score distribution."""

from __future__ import annotations

from collections.abc import Callable

from connector.report import _format as fmt
from connector.report.distribution import score_distribution_chart
from connector.report.funnel import funnel_chart, stage_temperature_chart
from connector.report.page import Card, CardGroup, Cell, Section, Table
from connector.report.shapes import Kpi, KpiFigures, Period, Snapshot
from connector.report.trend import cost_by_month_chart, counts_by_month_chart, is_by_month

__all__ = [
    "distribution_section",
    "funnel_section",
    "key_figures_section",
    "period_text",
    "trend_section",
]

NO_BASIS = "not computed; the kpi command gave no reason"
DIMENSION_NAMES = {"month": "Month", "source": "Source", "campaign": "Campaign", "band": "Band"}
# What a row counts, as `leadsync kpi --by` defines it.
ROW_MEANINGS = {
    "month": ": a contact counts in the month it reached each stage",
    "source": ": a contact counts under the source of its first event",
    "campaign": ": a contact counts under the first campaign it came from",
    "band": ": a contact counts under its temperature now",
}
# A --by table longer than this starts folded under its chart or heading.
FOLD_ROWS = 12


def period_text(period: Period) -> str:
    since = fmt.moment(period.since) if period.since else "the first event"
    until = fmt.moment(period.until) if period.until else "now"
    return f"{since} to {until}"


def _sentence(text: str) -> str:
    return f"{text[:1].upper()}{text[1:]}."


def _basis(figures: KpiFigures, key: str) -> str | None:
    for name in (key, f"conversion.{key}"):
        text = figures.basis.get(name)
        if text:
            return text
    return None


def _card(
    figures: KpiFigures,
    label: str,
    key: str,
    value: float | int | None,
    shown: Callable[[float | None], str],
) -> Card:
    basis = _basis(figures, key)
    if value is None:
        return Card(label, fmt.MISSING, basis or NO_BASIS, is_missing=True)
    return Card(label, shown(value), basis)


def _count(value: float | None) -> str:
    return fmt.count(None if value is None else int(value))


def key_figures_section(kpi: Kpi) -> Section:
    conversion = kpi.conversion
    volumes = [
        _card(kpi, "Leads", "leads", kpi.leads, _count),
        _card(kpi, "Visitors", "visitors", kpi.visitors, _count),
        _card(kpi, "MQLs", "mqls", kpi.mqls, _count),
        _card(kpi, "SQLs", "sqls", kpi.sqls, _count),
        _card(kpi, "Customers", "customers", kpi.customers, _count),
    ]
    rates = [
        _card(kpi, "Visitor → lead", "visitor_to_lead", conversion.visitor_to_lead, fmt.rate),
        _card(kpi, "Lead → MQL", "lead_to_mql", conversion.lead_to_mql, fmt.rate),
        _card(kpi, "MQL → SQL", "mql_to_sql", conversion.mql_to_sql, fmt.rate),
        _card(kpi, "SQL → customer", "sql_to_customer", conversion.sql_to_customer, fmt.rate),
        _card(kpi, "Lead → customer", "lead_to_customer", conversion.lead_to_customer, fmt.rate),
    ]
    money = [
        _card(kpi, "Cost", "cost", kpi.cost, fmt.money),
        _card(kpi, "Cost per lead", "cpl", kpi.cpl, fmt.money),
        _card(kpi, "Cost per acquisition", "cpa", kpi.cpa, fmt.money),
        _card(kpi, "Gross margin", "margin", kpi.margin, fmt.money),
        _card(kpi, "ROI", "roi", kpi.roi, fmt.rate),
    ]
    return Section(
        id="key-figures",
        title="Key figures",
        intro=f"{period_text(kpi.period)}. Each figure says what it was computed from; "
        "a figure that cannot be computed shows a dash and why.",
        card_groups=[
            CardGroup("Contacts", volumes),
            CardGroup("Conversion", rates),
            CardGroup("Money", money),
        ],
    )


def funnel_section(kpi: Kpi | None, snapshot: Snapshot | None) -> Section:
    """The period's funnel (kpi) beside where the contacts stand now (snapshot)."""
    charts = []
    if kpi is not None:
        charts.append(funnel_chart(kpi))
    if snapshot is not None:
        charts.append(stage_temperature_chart(snapshot))
    parts = []
    if kpi is not None:
        parts.append(
            "the contacts that reached each stage in the period, with the share of the step before"
        )
    if snapshot is not None:
        parts.append(
            f"every scored lead's stage and temperature as of {fmt.moment(snapshot.as_of)}"
        )
    return Section(
        id="funnel",
        title="Funnel",
        intro=_sentence("; ".join(parts)),
        charts=charts,
    )


def trend_section(kpi: Kpi) -> Section | None:
    """Charts of ``--by month`` rows; a table of the rows for any dimension."""
    if not kpi.by or kpi.by_dimension is None:
        return None
    charts = []
    notes = []
    if is_by_month(kpi):
        charts.append(counts_by_month_chart(kpi))
        cost_chart = cost_by_month_chart(kpi)
        if cost_chart is None:
            notes.append(
                "Cost per lead and per acquisition: no month has them "
                f"({_basis(kpi, 'cpl') or 'no costs known'})."
            )
        else:
            charts.append(cost_chart)
    dimension = DIMENSION_NAMES.get(kpi.by_dimension, kpi.by_dimension.capitalize())
    table = Table(
        title=f"Figures by {dimension.lower()}",
        headers=[
            dimension,
            "Leads",
            "MQLs",
            "SQLs",
            "Customers",
            "Lead → MQL",
            "Lead → customer",
            "Cost",
            "CPL",
            "CPA",
            "ROI",
        ],
        rows=[
            [
                Cell.of(row.group),
                Cell.of(fmt.count(row.leads)),
                Cell.of(fmt.count(row.mqls)),
                Cell.of(fmt.count(row.sqls)),
                Cell.of(fmt.count(row.customers)),
                Cell.of(fmt.rate(row.conversion.lead_to_mql)),
                Cell.of(fmt.rate(row.conversion.lead_to_customer)),
                Cell.of(fmt.money(row.cost)),
                Cell.of(fmt.money(row.cpl)),
                Cell.of(fmt.money(row.cpa)),
                Cell.of(fmt.rate(row.roi)),
            ]
            for row in kpi.by
        ],
        numeric=frozenset(range(1, 11)),
        note="A dash is a figure that cannot be computed for that row.",
        is_folded=bool(charts) or len(kpi.by) > FOLD_ROWS,
    )
    title = "KPIs over time" if is_by_month(kpi) else f"KPIs by {dimension.lower()}"
    return Section(
        id="over-time" if is_by_month(kpi) else "by-group",
        title=title,
        intro=f"{period_text(kpi.period)}, one row per {dimension.lower()}"
        f"{ROW_MEANINGS.get(kpi.by_dimension, '')}.",
        charts=charts,
        tables=[table],
        notes=notes,
    )


def distribution_section(snapshot: Snapshot) -> Section:
    histogram_chart = score_distribution_chart(snapshot)
    return Section(
        id="distribution",
        title="Score distribution",
        intro=f"Scored leads per score bin of {fmt.score(snapshot.histogram.width)} points as "
        f"of {fmt.moment(snapshot.as_of)}: cold below {fmt.score(snapshot.warm_from)}, warm "
        f"from {fmt.score(snapshot.warm_from)} up to {fmt.score(snapshot.hot_above)}, hot "
        "above.",
        charts=[] if histogram_chart is None else [histogram_chart],
        notes=[] if histogram_chart else ["No contact is scored yet."],
    )
