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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

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
from connector.scoring.trajectory import first_above

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
    """What the machine needs of a contact's score.

    ``lines`` (one per event) date a move by the event that caused it and count a nurtured
    contact's points since its recycle; a pass scores without them, so ``lines_of`` builds
    them when a move needs them (rare: most passes move no one). ``profile_at`` is when the
    profile the fit rules read was observed (it dates a disqualification)."""

    score: float
    temperature: Temperature
    tallies: Sequence[RuleTally]
    lines: Sequence[ScoreLine] | None = None
    disqualified_by: str | None = None
    lines_of: Callable[[], Sequence[ScoreLine]] | None = None
    profile_at: datetime | None = None
    # A replay of a contact that is an MQL (`leadsync simulate`): going above the
    # threshold at any event counts, not only where the score ends, as it did for the
    # pass that made it an MQL back then (stages never move backward).
    ever_above: bool = False
    # Set where the exact date of a move to MQL matters to no one (a simulation's move
    # that falls before the weeks it counts): the move is given this date instead of
    # building the lines to find its event.
    undated_at: datetime | None = None

    def detailed(self) -> Sequence[ScoreLine]:
        if self.lines is not None:
            return self.lines
        if self.lines_of is None:
            raise ValueError("dating a stage move needs the contact's score lines (detailed)")
        return self.lines_of()


def _raised_hand(lines: Sequence[ScoreLine], after: datetime | None) -> ScoreLine | None:
    """The first event (after ``after``, if given) of a sales-routed rule that earned
    points: when the contact asked for sales."""
    raised = [
        line
        for line in lines
        if line.route == _SALES
        and line.points > 0
        and line.occurred_at is not None
        and (after is None or line.occurred_at > after)
    ]
    return min(raised, key=_line_moment) if raised else None


def _line_moment(line: ScoreLine) -> tuple[datetime, str]:
    return line.occurred_at or _EPOCH, line.rule


def _has_raised_hand(tallies: Sequence[RuleTally], after: datetime | None) -> bool:
    return any(
        tally.route == _SALES
        and tally.points > 0
        and tally.latest_at is not None
        and (after is None or tally.latest_at > after)
        for tally in tallies
    )


def _may_have_gone_above(facts: ScoreFacts, threshold: float) -> bool:
    """Whether the score can have gone above ``threshold`` at some event: not if all its
    positive points together (those of the fit rules too) do not reach it."""
    behaviour = math.fsum(tally.points for tally in facts.tallies)
    gained = math.fsum(tally.points for tally in facts.tallies if tally.points > 0)
    return gained + max(facts.score - behaviour, 0.0) > threshold


def _points_since(lines: Sequence[ScoreLine], moment: datetime) -> float:
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
    """The next state, with the transitions taken in this step (in order).

    ``at`` is the pass's moment: each transition records it as ``recorded_at``, and is
    itself dated in event time: the event that crossed the threshold or raised a hand,
    the CRM's own date of a change (else when it was read), the profile's observation for
    a fit rule. A move is never dated before the stage it leaves began, nor after ``at``.
    """
    taken: list[Transition] = []
    current = state

    def move(to: Stage, reason: str, when: datetime | None, *, recycle: bool = False) -> None:
        nonlocal current
        moment = at if when is None else min(when, at)
        if current.since is not None and moment < current.since:
            moment = current.since
        taken.append(Transition(moment, current.stage, to, reason, at))
        # The recycle moment matters only while nurtured (or disqualified from there).
        kept = current.recycled_at if to in (Stage.NURTURING, Stage.DISQUALIFIED) else None
        current = current._replace(stage=to, since=moment, recycled_at=moment if recycle else kept)

    read_at = signals.read_at
    changed_at = signals.changed_at or read_at
    bant_complete = bool(policy.bant_required) and policy.bant_required <= signals.bant
    status = None if signals.status is None else signals.status.value
    sales_stage = None if signals.stage is None else signals.stage.value
    new_status = status != current.seen_status
    new_sales_stage = sales_stage != current.seen_sales_stage
    new_bant = bant_complete and not current.seen_bant_complete

    if current.stage is not Stage.CUSTOMER:
        if signals.won:
            move(Stage.CUSTOMER, "the CRM shows a won deal", signals.won_at or changed_at)
        elif signals.stage is Stage.CUSTOMER:
            move(Stage.CUSTOMER, "sales set the stage to customer", changed_at)

    if current.stage is Stage.DISQUALIFIED and facts.disqualified_by is None:
        # Back where it was: a nurtured contact must still earn new points to return.
        back = Stage.NURTURING if current.recycled_at is not None else Stage.LEAD
        move(back, "no disqualify rule matches any more", facts.profile_at)
    if facts.disqualified_by is not None and current.stage in (
        Stage.LEAD,
        Stage.MQL,
        Stage.NURTURING,
    ):
        move(Stage.DISQUALIFIED, f"fit rule {facts.disqualified_by} disqualifies", facts.profile_at)

    if (
        current.stage in (Stage.LEAD, Stage.MQL, Stage.SQL)
        and new_status
        and signals.status
        in (
            SalesStatus.REJECTED,
            SalesStatus.NOT_NOW,
        )
    ):
        move(Stage.NURTURING, f"sales answered {status!r}", changed_at, recycle=True)

    # Sales know better than a fit rule: their SQL lifts a disqualification too.
    if current.stage in (Stage.LEAD, Stage.MQL, Stage.NURTURING, Stage.DISQUALIFIED):
        if new_bant:
            move(
                Stage.SQL,
                "sales confirmed " + ", ".join(sorted(policy.bant_required)).upper(),
                read_at,
            )
        elif signals.stage is Stage.SQL and new_sales_stage:
            move(Stage.SQL, "sales set the stage to sql", changed_at)

    threshold = bands.hot_above
    if current.stage is Stage.LEAD:
        hot = facts.temperature is Temperature.HOT or (
            facts.ever_above
            and _may_have_gone_above(facts, threshold)
            and first_above(facts.detailed(), threshold) is not None
        )
        if hot or _has_raised_hand(facts.tallies, None):
            _qualify(move, facts, threshold, after=None, hot=hot)
    elif (
        current.stage is Stage.NURTURING
        and state.stage is Stage.NURTURING  # not recycled in this very step
        and current.recycled_at is not None
    ):
        since = current.recycled_at
        lines = facts.detailed()
        crossed = _points_since(lines, since) > threshold or (
            facts.ever_above and first_above(lines, threshold, after=since) is not None
        )
        if crossed or _has_raised_hand(facts.tallies, since):
            _qualify(move, facts, threshold, after=since, hot=crossed)

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


class _Move(Protocol):
    def __call__(self, to: Stage, reason: str, when: datetime | None) -> None: ...


def _qualify(
    move: _Move, facts: ScoreFacts, threshold: float, *, after: datetime | None, hot: bool
) -> None:
    """To MQL, dated by whichever came first: the event with which the score (or, after a
    recycle, the points earned since) went above the threshold, or the first hand raised."""
    if facts.undated_at is not None:
        move(Stage.MQL, "above the threshold or a hand-raiser (not dated)", facts.undated_at)
        return
    lines = facts.detailed()
    crossed = first_above(lines, threshold, after=after) if hot else None
    raised = _raised_hand(lines, after)
    if crossed is not None and (
        raised is None or (crossed.occurred_at or _EPOCH) <= (raised.occurred_at or _EPOCH)
    ):
        when = crossed.occurred_at or facts.profile_at
        if after is None:
            reason = f"score {facts.score:g} is above {threshold:g} (hot)"
        else:
            earned = _points_since(lines, after)
            reason = (
                f"re-qualified: {earned:g} points earned since recycled on {_day(after)} "
                f"(above {threshold:g})"
            )
        move(Stage.MQL, reason, when)
    elif raised is not None:
        when = raised.occurred_at
        reason = f"hand-raiser: {raised.rule} on {_day(when)}"
        if after is not None:
            reason = f"re-qualified: hand-raiser {raised.rule} on {_day(when)} after recycled on "
            reason += _day(after)
        move(Stage.MQL, reason, when)
    else:  # pragma: no cover - a hot score crossed its threshold at some event
        move(Stage.MQL, f"score {facts.score:g} is above {threshold:g} (hot)", None)


def _day(moment: datetime | None) -> str:
    return "?" if moment is None else moment.date().isoformat()
