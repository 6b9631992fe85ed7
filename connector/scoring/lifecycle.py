"""Temperature from bands, the hand-over from the score's lines, and the stage machine.

Pure: the machine takes the contact's previous ``LifecycleState``, its new score and what
the CRM says (``SalesSignals``), and returns the next state with the transitions taken,
each with its reason. Time is passed in.

    lead ──(hot, or a hand-raiser)──> mql ──(BANT confirmed, or sales set SQL)──> sql
      │                                │                                        │
      └────────────(sales rejected: "rejected" or "not now")──> nurturing <─────┘
                                                          │
        mql <──(points earned since the recycle > MQL threshold, or a hand-raiser)┘
    any stage but customer ──(won deal, or sales set customer)──> customer
    lead, mql, nurturing ──(a disqualify fit rule matches)──> disqualified
    disqualified ──(no rule matches any more)──> lead, or nurturing if it came from there
    disqualified ──(BANT confirmed, or sales set SQL)──> sql

Stages never move backward except through the recycle into nurturing. CRM signals are
edge-triggered: a status or a BANT answer acts when it changes, so a lead recycled
while its old BANT answers still sit in the CRM does not bounce straight back to SQL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from connector.model import (
    BANT,
    LifecycleState,
    Route,
    RuleTally,
    SalesSignals,
    SalesStatus,
    ScoreLine,
    Stage,
    Temperature,
    Transition,
    Treatment,
)

__all__ = [
    "BANT",
    "Bands",
    "Handover",
    "LifecyclePolicy",
    "LifecycleState",
    "SalesSignals",
    "SalesStatus",
    "ScoreFacts",
    "Transition",
    "advance",
    "derive_handover",
    "temperature_for",
]

_SALES = Route.SALES.value
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Bands:
    """Cold under ``warm_from``; warm from ``warm_from`` up to ``hot_above``; hot above."""

    warm_from: float = 10
    hot_above: float = 20


def temperature_for(score: float, bands: Bands) -> Temperature:
    if score > bands.hot_above:
        return Temperature.HOT
    if score >= bands.warm_from:
        return Temperature.WARM
    return Temperature.COLD


@dataclass(frozen=True, slots=True)
class Handover:
    route: str | None
    treatment: Treatment | None


def _strength(tally: RuleTally) -> tuple[object, ...]:
    # Highest points per event, then most recent; the rest only makes the order total.
    return (
        tally.base_points,
        tally.latest_at or _EPOCH,
        tally.rule,
        tally.route or "",
        tally.treatment or "",
    )


def derive_handover(temperature: Temperature, tallies: Sequence[RuleTally]) -> Handover:
    """Sales on a sales event or once hot; else the route of the strongest routed rule.

    A hot lead goes to sales even if it never asked: at that score half of them buy.
    """
    sales = _SALES
    routed = [tally for tally in tallies if tally.route is not None and tally.points > 0]
    to_sales = [tally for tally in routed if tally.route == sales]
    if to_sales:
        best = max(to_sales, key=_strength)
        return Handover(sales, best.treatment or Treatment.APPOINTMENT)
    if temperature is Temperature.HOT:
        return Handover(sales, Treatment.APPOINTMENT)
    if routed:
        best = max(routed, key=_strength)
        return Handover(best.route, best.treatment)
    return Handover(None, None)


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    """What the machine needs besides the score: which BANT answers make an SQL."""

    bant_required: frozenset[str] = frozenset(BANT)

    def described(self) -> list[str]:
        return sorted(self.bant_required)


class ScoreFacts(NamedTuple):
    """What the machine needs of a contact's score. ``lines`` (one per event) are needed
    only for a contact in nurturing: its re-qualification counts points since a moment."""

    score: float
    temperature: Temperature
    tallies: Sequence[RuleTally]
    lines: Sequence[ScoreLine] | None = None
    disqualified_by: str | None = None


def _hand_raiser(tallies: Sequence[RuleTally], after: datetime | None) -> RuleTally | None:
    """The most recent sales-routed rule that earned points (after ``after``, if given)."""
    raised = [
        tally
        for tally in tallies
        if tally.route == _SALES
        and tally.points > 0
        and tally.latest_at is not None
        and (after is None or tally.latest_at > after)
    ]
    return max(raised, key=_strength) if raised else None


def _points_since(lines: Sequence[ScoreLine] | None, moment: datetime) -> float:
    if lines is None:
        raise ValueError("re-qualifying a nurtured contact needs its score lines (detailed)")
    return round(
        math.fsum(
            line.points
            for line in lines
            if line.occurred_at is not None and line.occurred_at > moment
        ),
        2,
    )


def advance(
    state: LifecycleState,
    facts: ScoreFacts,
    signals: SalesSignals,
    policy: LifecyclePolicy,
    bands: Bands,
    at: datetime,
) -> LifecycleState:
    """The next state, with the transitions taken in this step (in order)."""
    taken: list[Transition] = []
    current = state

    def move(to: Stage, reason: str, *, recycle: bool = False) -> None:
        nonlocal current
        taken.append(Transition(at, current.stage, to, reason))
        # The recycle moment matters only while nurtured (or disqualified from there).
        kept = current.recycled_at if to in (Stage.NURTURING, Stage.DISQUALIFIED) else None
        current = current._replace(stage=to, since=at, recycled_at=at if recycle else kept)

    bant_complete = bool(policy.bant_required) and policy.bant_required <= signals.bant
    status = None if signals.status is None else signals.status.value
    sales_stage = None if signals.stage is None else signals.stage.value
    new_status = status != current.seen_status
    new_sales_stage = sales_stage != current.seen_sales_stage
    new_bant = bant_complete and not current.seen_bant_complete

    if current.stage is not Stage.CUSTOMER:
        if signals.won:
            move(Stage.CUSTOMER, "the CRM shows a won deal")
        elif signals.stage is Stage.CUSTOMER:
            move(Stage.CUSTOMER, "sales set the stage to customer")

    if current.stage is Stage.DISQUALIFIED and facts.disqualified_by is None:
        # Back where it was: a nurtured contact must still earn new points to return.
        back = Stage.NURTURING if current.recycled_at is not None else Stage.LEAD
        move(back, "no disqualify rule matches any more")
    if facts.disqualified_by is not None and current.stage in (
        Stage.LEAD,
        Stage.MQL,
        Stage.NURTURING,
    ):
        move(Stage.DISQUALIFIED, f"fit rule {facts.disqualified_by} disqualifies")

    if (
        current.stage in (Stage.LEAD, Stage.MQL, Stage.SQL)
        and new_status
        and signals.status
        in (
            SalesStatus.REJECTED,
            SalesStatus.NOT_NOW,
        )
    ):
        move(Stage.NURTURING, f"sales answered {status!r}", recycle=True)

    # Sales know better than a fit rule: their SQL lifts a disqualification too.
    if current.stage in (Stage.LEAD, Stage.MQL, Stage.NURTURING, Stage.DISQUALIFIED):
        if new_bant:
            move(Stage.SQL, "sales confirmed " + ", ".join(sorted(policy.bant_required)).upper())
        elif signals.stage is Stage.SQL and new_sales_stage:
            move(Stage.SQL, "sales set the stage to sql")

    threshold = bands.hot_above
    if current.stage is Stage.LEAD:
        raiser = _hand_raiser(facts.tallies, None)
        if facts.temperature is Temperature.HOT:
            move(Stage.MQL, f"score {facts.score:g} is above {threshold:g} (hot)")
        elif raiser is not None:
            move(Stage.MQL, f"hand-raiser: {raiser.rule} on {_day(raiser.latest_at)}")
    elif (
        current.stage is Stage.NURTURING
        and state.stage is Stage.NURTURING  # not recycled in this very step
        and current.recycled_at is not None
    ):
        earned = _points_since(facts.lines, current.recycled_at)
        raiser = _hand_raiser(facts.tallies, current.recycled_at)
        since = _day(current.recycled_at)
        if earned > threshold:
            move(
                Stage.MQL,
                f"re-qualified: {earned:g} points earned since recycled on {since} "
                f"(above {threshold:g})",
            )
        elif raiser is not None:
            move(
                Stage.MQL,
                f"re-qualified: hand-raiser {raiser.rule} on {_day(raiser.latest_at)} "
                f"after recycled on {since}",
            )

    if (
        not taken
        and not current.transitions
        and (status, sales_stage, bant_complete)
        == (current.seen_status, current.seen_sales_stage, current.seen_bant_complete)
    ):
        return current  # the usual case in a pass: nothing moved, nothing to copy
    return current._replace(
        seen_status=status,
        seen_sales_stage=sales_stage,
        seen_bant_complete=bant_complete,
        transitions=tuple(taken),
    )


def _day(moment: datetime | None) -> str:
    return "?" if moment is None else moment.date().isoformat()
