"""A contact's score and stage together: the scorer, then the lifecycle machine.

Pure, like both halves: ``rescore`` feeds it stored contacts and persists what it returns,
``explain`` calls it for one contact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from connector.model import (
    ContactOutcome,
    ContactScore,
    LifecycleState,
    ProfileValue,
    ScoreLine,
    ScoringEvent,
    Stage,
    signals_from_profile,
)
from connector.scoring.lifecycle import ScoreFacts, advance
from connector.scoring.rules import ScoringRules
from connector.scoring.scorer import Scorer

__all__ = ["ContactOutcome", "decide", "lines_when_asked", "step"]

# Nobody works a lead sales sent back or one that is out of our market.


def decide(
    scorer: Scorer,
    events: Iterable[ScoringEvent],
    profile: Mapping[str, ProfileValue],
    previous: LifecycleState,
    *,
    email: str | None,
    at: datetime,
    detailed: bool = False,
    profile_at: datetime | None = None,
) -> ContactOutcome:
    """Score, then move the stage. Lines are built only where they are needed: when asked
    (``explain``), for a nurtured contact, whose re-qualification counts points since its
    recycle, and for a contact that moves to MQL (scored again, detailed, to date the move
    by the event that caused it).

    ``at`` is the pass's moment (the transitions' ``recorded_at``); ``profile_at`` when the
    profile was observed."""
    detailed = detailed or previous.stage is Stage.NURTURING
    events = events if isinstance(events, list | tuple) else list(events)
    result = scorer.score(events, profile, email=email, detailed=detailed)
    return step(
        scorer.rules,
        result,
        profile,
        previous,
        at=at,
        detailed=detailed,
        lines_of=lines_when_asked(scorer, events, profile, email=email),
        profile_at=profile_at,
    )


def lines_when_asked(
    scorer: Scorer,
    events: Sequence[ScoringEvent],
    profile: Mapping[str, ProfileValue],
    *,
    email: str | None,
) -> Callable[[], Sequence[ScoreLine]]:
    """The contact's detailed lines, scored the first time they are asked for (a move
    to date), then kept."""
    found: list[Sequence[ScoreLine]] = []

    def lines_of() -> Sequence[ScoreLine]:
        if not found:
            found.append(scorer.score(events, profile, email=email, detailed=True).lines)
        return found[0]

    return lines_of


def step(
    rules: ScoringRules,
    result: ContactScore,
    profile: Mapping[str, ProfileValue],
    previous: LifecycleState,
    *,
    at: datetime,
    detailed: bool,
    lines_of: Callable[[], Sequence[ScoreLine]],
    profile_at: datetime | None = None,
    ever_above: bool = False,
    undated_at: datetime | None = None,
) -> ContactOutcome:
    """The lifecycle step after a score: ``result`` (its lines if ``detailed``, else
    ``lines_of`` builds them when a move needs them)."""
    facts = ScoreFacts(
        result.score,
        result.temperature,
        result.tallies,
        result.lines if detailed else None,
        result.disqualified_by,
        lines_of,
        profile_at,
        ever_above,
        undated_at,
    )
    state = advance(
        previous, facts, signals_from_profile(profile), rules.lifecycle, rules.bands, at
    )
    return ContactOutcome(result, state)
