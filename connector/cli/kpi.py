"""`leadsync kpi`: the funnel's counts, conversion rates, costs, margin and ROI of a period,
as a table or (``--json``) the dict ``connector.runners.kpi.kpi_of`` returns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated

import structlog
import typer

from connector.cli.html_report import HtmlOption, write_html_report
from connector.cli.render import print_json, print_listing, stdout
from connector.cli.state import state_of
from connector.config import scoring_rules
from connector.kpi.report import Dimension, KpiFigures, KpiReport, KpiRow
from connector.runners.kpi import KpiAsked, kpi_of

__all__ = ["app", "parsed_day"]

app = typer.Typer()

log = structlog.get_logger("leadsync")

_DAY_CHARS = len("2026-11-02")
NOT_COMPUTED = "—"


class By(StrEnum):
    MONTH = "month"
    SOURCE = "source"
    CAMPAIGN = "campaign"
    BAND = "band"


def parsed_day(text: str | None, option: str) -> date | None:
    """``--since``/``--until``: a day written YYYY-MM-DD.

    Raises:
        typer.BadParameter: anything else (a usage error, exit 2).
    """
    if text is None:
        return None
    stripped = text.strip()
    try:
        if len(stripped) != _DAY_CHARS:
            raise ValueError(stripped)
        return date.fromisoformat(stripped)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a day; write it as YYYY-MM-DD, like 2026-09-01",
            param_hint=option,
        ) from None


@app.command()
def kpi(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATE",
            help="First day of the period, YYYY-MM-DD (UTC; default: the first event's day).",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="DATE",
            help="Last day of the period, included, YYYY-MM-DD (UTC; default: today).",
        ),
    ] = None,
    by: Annotated[
        By | None,
        typer.Option(
            "--by",
            help="Also a row per calendar month, first source, first campaign or current "
            "temperature band.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The figures and what each was computed from.")
    ] = False,
    html: HtmlOption = None,
) -> None:
    """Leads, MQLs, SQLs and customers of a period, the conversion between them, cost per
    lead and per acquisition, the new customers' margin and the ROI."""
    first, last = parsed_day(since, "--since"), parsed_day(until, "--until")
    today = datetime.now(UTC).date()
    if first is not None and first > (last or today):
        raise typer.BadParameter(
            f"{first} is after the period's last day ({last or f'today, {today}'})",
            param_hint="--since",
        )
    state = state_of(ctx)
    settings = state.load()
    dimension: Dimension | None = None if by is None else by.value
    engine = state.store()
    with engine.connect() as connection:
        report = kpi_of(connection, settings, KpiAsked(first, last, dimension), today=today)
    if html is not None:
        write_html_report(
            engine,
            html,
            command="kpi",
            bands=scoring_rules(settings).bands,
            title="Leads, funnel and KPIs",
            quiet=as_json,
            kpi=report,
        )
    if as_json:
        print_json(report)
        return
    print_report(report)


def _percent(value: float | None) -> str:
    return NOT_COMPUTED if value is None else f"{value:.1%}"


def _money(value: float | None) -> str:
    return NOT_COMPUTED if value is None else f"{value:,.2f}"


def _count(value: int | None) -> str:
    return NOT_COMPUTED if value is None else f"{value:,}"


def _ratio(value: float | None) -> str:
    return NOT_COMPUTED if value is None else f"{value:.2f}"


def _lines(figures: KpiFigures) -> list[tuple[str, str, str]]:
    """(figure, value, basis) for each figure of the report."""
    conversion = figures["conversion"]
    basis = figures["basis"]
    return [
        ("leads", _count(figures["leads"]), basis["leads"]),
        ("visitors", _count(figures["visitors"]), basis["visitors"]),
        ("mqls", _count(figures["mqls"]), basis["mqls"]),
        ("sqls", _count(figures["sqls"]), basis["sqls"]),
        ("customers", _count(figures["customers"]), basis["customers"]),
        *(
            (
                name.replace("_to_", " → "),
                _percent(value),
                basis[f"conversion.{name}"],
            )
            for name, value in conversion.items()
            if isinstance(value, float | None)
        ),
        ("cost", _money(figures["cost"]), basis["cost"]),
        ("cost per lead", _money(figures["cpl"]), basis["cpl"]),
        ("cost per customer", _money(figures["cpa"]), basis["cpa"]),
        ("margin", _money(figures["margin"]), basis["margin"]),
        ("roi", _ratio(figures["roi"]), basis["roi"]),
    ]


_ROW_HEADERS = (
    "leads",
    "visitors",
    "mqls",
    "sqls",
    "customers",
    "lead → customer",
    "cost",
    "cpl",
    "cpa",
    "margin",
    "roi",
)


def _row_cells(row: KpiRow) -> list[str]:
    return [
        row["group"],
        _count(row["leads"]),
        _count(row["visitors"]),
        _count(row["mqls"]),
        _count(row["sqls"]),
        _count(row["customers"]),
        _percent(row["conversion"]["lead_to_customer"]),
        _money(row["cost"]),
        _money(row["cpl"]),
        _money(row["cpa"]),
        _money(row["margin"]),
        _ratio(row["roi"]),
    ]


def print_report(report: KpiReport) -> None:
    """The whole period's figures with their basis, then the rows of ``--by``."""
    period = report["period"]
    stdout.print(f"KPIs from {period['since'] or 'the beginning'} to {period['until']}")
    print_listing(
        ["figure", "value", "what it is computed from"],
        _lines(report),
        cut=("what it is computed from",),
    )
    rows: Sequence[KpiRow] = report["by"]
    if report["by_dimension"] is None:
        return
    stdout.print("")
    if not rows:
        stdout.print(f"no rows by {report['by_dimension']}: nothing happened in the period")
        return
    print_listing([report["by_dimension"], *_ROW_HEADERS], [_row_cells(row) for row in rows])
    stdout.print(f"{NOT_COMPUTED}: cannot be computed; --json says why for each row")
