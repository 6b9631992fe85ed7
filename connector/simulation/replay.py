"""One contact replayed under a set of rules, from the stage its rules did not decide.

The stored stage is partly the rules' doing (an MQL by score or hand-raiser, an MQL again
after a recycle) and partly sales' (SQL, customer, a recycle into nurturing). A replay
starts from the stored state with the rules' last move undone: an MQL goes back to where
it came from (lead, or nurturing with its recycle moment); every other stage stays, with
the CRM signals already acted on (so a replay never acts on them twice). The lifecycle
machine then takes its step under the rules given. Both sides of a simulation replay the
same way, so the same rules give the same outcome and a difference is the rules' alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import NamedTuple

from connector.model import (
    ContactOutcome,
    ContactScore,
    LifecycleState,
    ProfileValue,
    ScoreLine,
    ScoringEvent,
    Stage,
    Transition,
)
from connector.scoring.decide import lines_when_asked, step
from connector.scoring.rules import ScoringRules
from connector.scoring.scorer import Scorer, as_utc_time

__all__ = [
    "Side",
    "StartingPoint",
    "replay",
    "replay_candidate",
    "same_behaviour",
    "starting_point",
    "stored_side",
]


class StartingPoint(NamedTuple):
    """The state a replay starts from, and the stored moves that still stand (those
    before it): the MQL moves among them count in ``mql_per_week`` on both sides."""

    state: LifecycleState
    kept: tuple[Transition, ...]


class Side(NamedTuple):
    """A contact under one set of rules: what a simulation compares."""

    score: float
    temperature: str
    stage: str
    # Every move into MQL: the stored ones that stand and the replay's.
    mql_dates: tuple[datetime, ...]


def _side(start: StartingPoint, outcome: ContactOutcome) -> Side:
    mql = [move.at for move in start.kept if move.to_stage is Stage.MQL]
    mql += [move.at for move in outcome.lifecycle.transitions if move.to_stage is Stage.MQL]
    return Side(
        outcome.score.score, outcome.score.temperature.value, outcome.stage.value, tuple(mql)
    )


_OCCURRED_AT = itemgetter(1)


def _undated_at(
    events: Sequence[ScoringEvent],
    result: ContactScore,
    start: StartingPoint,
    profile_at: datetime | None,
    counted_from: datetime,
) -> datetime | None:
    """A date for a move to MQL when its exact date cannot matter: everything that can
    date it (its events, its profile, the stage it leaves) is before ``counted_from``,
    the first week the simulation counts. None: it must be dated exactly."""
    if not events:
        return None
    moments = [as_utc_time(max(map(_OCCURRED_AT, events)))]
    if result.fit_score:
        if profile_at is None:
            return None
        moments.append(profile_at)
    if start.state.since is not None:
        moments.append(start.state.since)
    latest = max(moments)
    return latest if latest < counted_from else None


def stored_side(
    stored: tuple[float, str], state: LifecycleState, history: Sequence[Transition]
) -> Side:
    """A contact as the store holds it, scored by the last pass (current rules)."""
    mql = tuple(move.at for move in history if move.to_stage is Stage.MQL)
    return Side(stored[0], stored[1], state.stage.value, mql)


def replay_candidate(
    after: Scorer,
    events: Sequence[ScoringEvent],
    profile: Mapping[str, ProfileValue],
    start: StartingPoint,
    *,
    email: str | None,
    at: datetime,
    profile_at: datetime | None,
    was_mql: bool,
    counted_from: datetime,
) -> Side:
    """The contact under the candidate's rules, from ``start``, beside its stored state
    (``stored_side``): one scoring. ``was_mql``: the stored stage is an MQL that ``start``
    undid, so, as for the pass that made it one, going above the threshold at any event
    makes it one again, not only where its score ends."""
    detailed = start.state.stage is Stage.NURTURING
    result = after.score(events, profile, email=email, detailed=detailed)
    outcome = step(
        after.rules,
        result,
        profile,
        start.state,
        at=at,
        detailed=detailed,
        lines_of=lines_when_asked(after, events, profile, email=email),
        profile_at=profile_at,
        ever_above=was_mql,
        undated_at=_undated_at(events, result, start, profile_at, counted_from),
    )
    return _side(start, outcome)


def starting_point(
    stored: LifecycleState, history: Sequence[Transition], *, as_of: datetime | None = None
) -> StartingPoint:
    """Where a replay of this contact starts. With ``as_of``, from the history as it
    stood then (moves after it left out), as ``explain --as-of`` reads it."""
    if as_of is not None:
        history = [step for step in history if step.at <= as_of]
        stored = _state_after(stored, history)
    if stored.stage is not Stage.MQL or not history or history[-1].to_stage is not Stage.MQL:
        return StartingPoint(stored._replace(transitions=()), tuple(history))
    undone, kept = history[-1], tuple(history[:-1])
    came_from = undone.from_stage
    since = kept[-1].at if kept else None
    recycled = None
    if came_from in (Stage.NURTURING, Stage.DISQUALIFIED):
        recycled = next(
            (step.at for step in reversed(kept) if step.to_stage is Stage.NURTURING), None
        )
    state = stored._replace(stage=came_from, since=since, recycled_at=recycled, transitions=())
    return StartingPoint(state, kept)


def _state_after(stored: LifecycleState, history: Sequence[Transition]) -> LifecycleState:
    if not history:
        return stored._replace(stage=Stage.LEAD, since=None, recycled_at=None)
    last = history[-1]
    recycled = next(
        (step.at for step in reversed(history) if step.to_stage is Stage.NURTURING), None
    )
    keeps_recycle = last.to_stage in (Stage.NURTURING, Stage.DISQUALIFIED)
    return stored._replace(
        stage=last.to_stage, since=last.at, recycled_at=recycled if keeps_recycle else None
    )


def same_behaviour(current: ScoringRules, candidate: ScoringRules) -> bool:
    """Whether the candidate scores events as the current rules do (it changes only fit
    rules, bands, normalisation or the lifecycle): one reading of the events then serves
    both sides."""
    return [rule.described() for rule in current.behaviour] == [
        rule.described() for rule in candidate.behaviour
    ] and current.machine.described() == candidate.machine.described()


def replay(
    before: Scorer,
    after: Scorer,
    events: Sequence[ScoringEvent],
    profile: Mapping[str, ProfileValue],
    start: StartingPoint,
    *,
    email: str | None,
    at: datetime,
    profile_at: datetime | None,
    shared: bool,
    counted_from: datetime,
) -> tuple[Side, Side]:
    """The contact under ``before``'s rules and under ``after``'s, from ``start``. With
    ``shared`` (``same_behaviour``), the events are scored once, and so are their lines
    when a move must be dated."""
    detailed = start.state.stage is Stage.NURTURING
    was = before.score(events, profile, email=email, detailed=detailed)
    now = (
        after.finish_with(was, profile, email=email, detailed=detailed)
        if shared
        else after.score(events, profile, email=email, detailed=detailed)
    )
    found: dict[str, ContactScore] = {}

    def detailed_before() -> ContactScore:
        if "before" not in found:
            found["before"] = before.score(events, profile, email=email, detailed=True)
        return found["before"]

    def lines_before() -> Sequence[ScoreLine]:
        return detailed_before().lines

    def lines_after() -> Sequence[ScoreLine]:
        if "after" not in found:
            found["after"] = (
                after.finish_with(detailed_before(), profile, email=email, detailed=True)
                if shared
                else after.score(events, profile, email=email, detailed=True)
            )
        return found["after"].lines

    sides = [
        _side(
            start,
            step(
                scorer.rules,
                result,
                profile,
                start.state,
                at=at,
                detailed=detailed,
                lines_of=lines_of,
                profile_at=profile_at,
                undated_at=_undated_at(events, result, start, profile_at, counted_from),
            ),
        )
        for scorer, result, lines_of in ((before, was, lines_before), (after, now, lines_after))
    ]
    return sides[0], sides[1]
