"""The KPI report: the period's funnel counts, conversion rates, cost, margin and ROI, for
the whole period and for each group of one dimension, as the dict `leadsync kpi --json`
prints (and the HTML report draws).

The store's rows come in already cut to the period; this module only counts them, so the
same rows always give the same figures.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypedDict, get_args

from connector.kpi.cost import cost_of
from connector.kpi.costs import Costs
from connector.kpi.figures import Figure, cost_ratio, ratio, return_on
from connector.kpi.margin import MarginPolicy, Profile, margin_of
from connector.kpi.period import Period, month_of
from connector.model import Stage

__all__ = [
    "DIMENSIONS",
    "FUNNEL_STAGES",
    "NO_CAMPAIGN",
    "NO_WEB_ANALYTICS",
    "Conversion",
    "Dimension",
    "Grouping",
    "KpiFigures",
    "KpiReport",
    "KpiRow",
    "LeadStart",
    "StageReach",
    "Visitors",
    "kpi_report",
    "visitors_by_group",
]

Dimension = Literal["month", "source", "campaign", "band"]
DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)
# The stages whose history rows are counted (there is no row for "lead": see LeadStart).
FUNNEL_STAGES = (Stage.MQL, Stage.SQL, Stage.CUSTOMER)
NO_CAMPAIGN = "(none)"
NO_WEB_ANALYTICS = (
    "no web analytics events stored (site_visit or page_view): a Matomo or GA4 source "
    "gives the visitors"
)
_WEB_KINDS = "a site_visit or page_view event"


@dataclass(frozen=True, slots=True)
class LeadStart:
    """A known contact and when it became a lead: its first event (with none, its
    profile's time)."""

    contact_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class StageReach:
    """A stage history row: the contact reached ``stage`` at ``at``."""

    contact_id: int
    stage: Stage
    at: datetime


@dataclass(frozen=True, slots=True)
class Visitors:
    """Distinct visitors of the period, and of each group (by month: of each month)."""

    total: int
    by_group: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Grouping:
    """How contacts fall into the rows of ``--by``: by month of each date, or by the
    contact's group in ``group_of`` (``other`` for a contact not in it)."""

    dimension: Dimension
    group_of: Mapping[int, str] = field(default_factory=dict)
    other: str = NO_CAMPAIGN
    described: str = ""  # what a group holds: "contacts whose first event came from {group}"
    described_other: str = ""  # what ``other`` holds

    def group(self, contact_id: int, at: datetime) -> str:
        if self.dimension == "month":
            return month_of(at)
        return self.group_of.get(contact_id, self.other)


def visitors_by_group(contact_ids: Iterable[int], grouping: Grouping) -> dict[str, int]:
    """How many of the (distinct) visitors ``contact_ids`` fall in each group."""
    return dict(Counter(grouping.group_of.get(cid, grouping.other) for cid in contact_ids))


class Conversion(TypedDict):
    visitor_to_lead: float | None
    lead_to_mql: float | None
    mql_to_sql: float | None
    sql_to_customer: float | None
    lead_to_customer: float | None


class KpiFigures(TypedDict):
    period: dict[str, str | None]
    leads: int
    visitors: int | None
    mqls: int
    sqls: int
    customers: int
    conversion: Conversion
    cost: float | None
    cpl: float | None
    cpa: float | None
    margin: float | None
    roi: float | None
    basis: dict[str, str]


class KpiRow(KpiFigures):
    group: str


class KpiReport(KpiFigures):
    by_dimension: Dimension | None
    by: list[KpiRow]


@dataclass(slots=True)
class _Tally:
    leads: int = 0
    reached: dict[Stage, set[int]] = field(default_factory=lambda: defaultdict(set))

    def count(self, stage: Stage) -> int:
        return len(self.reached.get(stage, ()))


def kpi_report(
    *,
    period: Period,
    leads: Iterable[LeadStart],
    reaches: Iterable[StageReach],
    visitors: Visitors | None,
    customer_profiles: Mapping[int, Profile],
    costs: Costs | None,
    margin_policy: MarginPolicy,
    grouping: Grouping | None = None,
) -> KpiReport:
    """The report of ``period`` (rows per group of ``grouping``, if any).

    Args:
        leads: the lead starts in the period, one per contact.
        reaches: the stage history rows in the period (of FUNNEL_STAGES).
        visitors: the period's visitors; None when the store holds no web analytics
            event at all.
        customer_profiles: the profile of each contact in ``reaches`` that became a
            customer.
        costs: the costs file's rows; None when no file is configured.
    """
    whole = _Tally()
    groups: dict[str, _Tally] = defaultdict(_Tally)
    for lead in leads:
        whole.leads += 1
        if grouping is not None:
            groups[grouping.group(lead.contact_id, lead.at)].leads += 1
    for reach in reaches:
        whole.reached[reach.stage].add(reach.contact_id)
        if grouping is not None:
            groups[grouping.group(reach.contact_id, reach.at)].reached[reach.stage].add(
                reach.contact_id
            )
    report = _figures(
        period,
        whole,
        None if visitors is None else visitors.total,
        cost_of(costs, period),
        customer_profiles,
        margin_policy,
    )
    rows: list[KpiRow] = []
    if grouping is not None:
        seen = set(groups) | set(visitors.by_group if visitors is not None else ())
        for name in _group_names(grouping, period, seen, costs):
            within = period.within_month(name) if grouping.dimension == "month" else period
            figures = _figures(
                within,
                groups.get(name, _Tally()),
                None if visitors is None else visitors.by_group.get(name, 0),
                _group_cost(grouping, name, within, costs),
                customer_profiles,
                margin_policy,
            )
            if grouping.dimension != "month":
                figures["basis"]["group"] = (
                    grouping.described_other
                    if name == grouping.other
                    else grouping.described.format(group=repr(name))
                )
            rows.append(KpiRow(group=name, **figures))
    return KpiReport(
        **report,
        by_dimension=None if grouping is None else grouping.dimension,
        by=rows,
    )


def _group_names(
    grouping: Grouping, period: Period, seen: set[str], costs: Costs | None
) -> list[str]:
    if grouping.dimension == "month":
        # Every month of the period, the quiet ones too: a gap is a figure.
        return period.months() or sorted(seen)
    if grouping.dimension == "campaign" and costs is not None:
        # A campaign that cost money but brought no one is a row too.
        seen = seen | {row.campaign for row in costs.in_period(period)}
    # Named groups first, the catch-all ("(none)", "(unscored)") last.
    return sorted(seen, key=lambda name: (name.startswith("("), name))


def _group_cost(grouping: Grouping, name: str, within: Period, costs: Costs | None) -> Figure:
    if grouping.dimension == "month":
        return cost_of(costs, within)
    if grouping.dimension == "campaign":
        if name == grouping.other:
            return Figure(None, "costs are kept per campaign, and these contacts' events name none")
        return cost_of(costs, within, campaign=name)
    return Figure(None, f"costs are kept per campaign, not per {grouping.dimension}")


def _figures(
    period: Period,
    tally: _Tally,
    visitors: int | None,
    cost: Figure,
    customer_profiles: Mapping[int, Profile],
    margin_policy: MarginPolicy,
) -> KpiFigures:
    when = period.text()
    mqls, sqls = tally.count(Stage.MQL), tally.count(Stage.SQL)
    customers = tally.count(Stage.CUSTOMER)
    profiles = [customer_profiles.get(cid, {}) for cid in sorted(tally.reached[Stage.CUSTOMER])]
    conversion = {
        "visitor_to_lead": ratio(
            tally.leads,
            visitors,
            "leads / visitors",
            empty=NO_WEB_ANALYTICS if visitors is None else "no visitors in the period",
        ),
        "lead_to_mql": ratio(mqls, tally.leads, "mqls / leads", empty="no leads in the period"),
        "mql_to_sql": ratio(sqls, mqls, "sqls / mqls", empty="no mqls in the period"),
        "sql_to_customer": ratio(
            customers, sqls, "customers / sqls", empty="no sqls in the period"
        ),
        "lead_to_customer": ratio(
            customers, tally.leads, "customers / leads", empty="no leads in the period"
        ),
    }
    margin = margin_of(profiles, margin_policy)
    money = {
        "cost": cost,
        "cpl": cost_ratio(cost, tally.leads, "cost / leads", "leads"),
        "cpa": cost_ratio(cost, customers, "cost / customers", "customers"),
        "margin": margin,
        "roi": return_on(margin, cost),
    }
    reached = "distinct contacts with a stage history row to {stage} dated " + when
    basis = {
        "period": f"{when}, whole days in UTC, both ends included",
        "leads": (
            "known contacts (anonymous visitors left out) whose first event, or with none "
            f"their profile, is dated {when}"
        ),
        "visitors": NO_WEB_ANALYTICS
        if visitors is None
        else f"distinct contacts, anonymous visitors included, with {_WEB_KINDS} dated {when}",
        "mqls": reached.format(stage="mql"),
        "sqls": reached.format(stage="sql"),
        "customers": reached.format(stage="customer"),
        **{f"conversion.{key}": figure.basis for key, figure in conversion.items()},
        **{key: figure.basis for key, figure in money.items()},
    }
    return KpiFigures(
        period=period.as_dict(),
        leads=tally.leads,
        visitors=visitors,
        mqls=mqls,
        sqls=sqls,
        customers=customers,
        conversion=Conversion(
            visitor_to_lead=conversion["visitor_to_lead"].value,
            lead_to_mql=conversion["lead_to_mql"].value,
            mql_to_sql=conversion["mql_to_sql"].value,
            sql_to_customer=conversion["sql_to_customer"].value,
            lead_to_customer=conversion["lead_to_customer"].value,
        ),
        cost=money["cost"].value,
        cpl=money["cpl"].value,
        cpa=money["cpa"].value,
        margin=money["margin"].value,
        roi=money["roi"].value,
        basis=basis,
    )
