"""A contact's score and stage together: the scorer, then the lifecycle machine.

Pure, like both halves: ``rescore`` feeds it stored contacts and persists what it returns,
``explain`` calls it for one contact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from connector.model import (
    ContactOutcome,
    LifecycleState,
    ProfileValue,
    ScoringEvent,
    Stage,
    signals_from_profile,
)
from connector.scoring.lifecycle import ScoreFacts, advance
from connector.scoring.scorer import Scorer

__all__ = ["ContactOutcome", "decide"]

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
) -> ContactOutcome:
    """Score, then move the stage. Lines are built only where they are needed: when asked
    (``explain``) or for a nurtured contact, whose re-qualification counts points since
    its recycle."""
    rules = scorer.rules
    detailed = detailed or previous.stage is Stage.NURTURING
    result = scorer.score(events, profile, email=email, detailed=detailed)
    facts = ScoreFacts(
        result.score,
        result.temperature,
        result.tallies,
        result.lines if detailed else None,
        result.disqualified_by,
    )
    state = advance(
        previous, facts, signals_from_profile(profile), rules.lifecycle, rules.bands, at
    )
    return ContactOutcome(result, state)
