"""`leadsync kpi`: read the period's rows from the store and the costs file, then the pure
report (connector.kpi.report). ``kpi_of`` returns the dict the CLI prints, dumps as JSON
or hands to the HTML report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from connector.config import KeyLines, Settings
from connector.errors import ConfigError
from connector.kpi.costs import Costs, read_costs
from connector.kpi.margin import MarginPolicy
from connector.kpi.period import Period
from connector.kpi.report import (
    NO_CAMPAIGN,
    Dimension,
    Grouping,
    KpiReport,
    Visitors,
    kpi_report,
    visitors_by_group,
)
from connector.store.kpi_rows import (
    customer_profiles,
    first_campaigns,
    first_event_at,
    first_sources,
    has_web_events,
    lead_starts,
    stage_reaches,
    temperatures,
    visitor_count,
    visitor_ids,
    visitors_by_month,
)

__all__ = ["KpiAsked", "costs_of", "kpi_of", "period_of"]

UNSCORED = "(unscored)"
# What a group holds, for the basis of each row ({group}: its name, quoted), and what the
# catch-all group holds.
_GROUP_WORDS: dict[Dimension, tuple[str, str]] = {
    "campaign": (
        "contacts whose first event naming a campaign names {group} (first touch)",
        "contacts none of whose events names a campaign",
    ),
    "source": ("contacts whose first event came from the source {group}", "contacts with no event"),
    "band": (
        "contacts whose temperature is {group} now (the last scoring pass)",
        "contacts not scored yet",
    ),
}


@dataclass(frozen=True, slots=True)
class KpiAsked:
    """What `leadsync kpi` was asked: days (None: from the first event; until today)."""

    since: date | None = None
    until: date | None = None
    by: Dimension | None = None


def costs_of(settings: Settings) -> Costs | None:
    """The costs file ``[kpi] costs`` names, read and checked (None: none named).

    Raises:
        ConfigError: the file does not exist (naming the key and the path), cannot be
            read, or a line of it is wrong (naming the file and the line).
    """
    if settings.kpi.costs is None:
        return None
    path = settings.resolve(settings.kpi.costs)
    if not path.is_file():
        config = settings.config_file
        text = config.read_text(encoding="utf-8") if config is not None else ""
        raise ConfigError(
            f"names {str(path)!r}, which is not a file",
            file=str(config) if config is not None else None,
            line=KeyLines(text).line_of(["kpi", "costs"]),
            key="kpi.costs",
            hint="write the CSV there (header campaign,month,cost) or fix the path; a "
            "relative path starts at the config file's folder",
        )
    return read_costs(path)


def period_of(connection: sa.Connection, asked: KpiAsked, *, today: date) -> Period:
    """The period asked, its open ends filled: from the first event's day, until today.

    Raises:
        ValueError: ``since`` is after ``until``.
    """
    until = asked.until or today
    since = asked.since
    if since is None:
        first = first_event_at(connection)
        since = None if first is None else min(first.date(), until)
    return Period(since, until)


def kpi_of(
    connection: sa.Connection, settings: Settings, asked: KpiAsked, *, today: date
) -> KpiReport:
    """The KPI report of the period asked, with rows ``by`` a dimension if asked.

    Raises:
        ConfigError: the costs file is missing or wrong (``costs_of``).
        ValueError: ``since`` is after ``until``.
    """
    costs = costs_of(settings)
    period = period_of(connection, asked, today=today)
    start, end = period.start, period.end
    grouping = _grouping(connection, asked.by)
    visitors: Visitors | None = None
    if has_web_events(connection):
        if grouping is None:
            by_group: dict[str, int] = {}
        elif grouping.dimension == "month":
            by_group = visitors_by_month(connection, start, end)
        else:
            by_group = visitors_by_group(visitor_ids(connection, start, end), grouping)
        visitors = Visitors(visitor_count(connection, start, end), by_group)
    return kpi_report(
        period=period,
        leads=lead_starts(connection, start, end),
        reaches=stage_reaches(connection, start, end),
        visitors=visitors,
        customer_profiles=customer_profiles(connection, start, end),
        costs=costs,
        margin_policy=MarginPolicy(settings.kpi.margin_rate, settings.kpi.margin_field),
        grouping=grouping,
    )


def _grouping(connection: sa.Connection, by: Dimension | None) -> Grouping | None:
    if by is None:
        return None
    if by == "month":
        return Grouping("month")
    if by == "campaign":
        return Grouping(by, first_campaigns(connection), NO_CAMPAIGN, *_GROUP_WORDS[by])
    if by == "source":
        return Grouping(by, first_sources(connection), NO_CAMPAIGN, *_GROUP_WORDS[by])
    return Grouping(by, temperatures(connection), UNSCORED, *_GROUP_WORDS[by])
