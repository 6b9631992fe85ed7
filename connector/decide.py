"""A contact's score and stage together: the scorer, then the lifecycle machine.

Pure, like both halves: ``rescore`` feeds it stored contacts and persists what it returns,
``explain`` calls it for one contact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import NamedTuple

from connector.lifecycle import LifecycleState, ScoreFacts, advance
from connector.model import ContactScore, ProfileValue, Stage, Treatment
from connector.sales_signals import signals_from_profile
from connector.scoring import Scorer, ScoringEvent

__all__ = ["ContactOutcome", "decide"]

# Nobody works a lead sales sent back or one that is out of our market.
_NOT_HANDED_OVER = frozenset({Stage.NURTURING, Stage.DISQUALIFIED})


class ContactOutcome(NamedTuple):
    score: ContactScore
    lifecycle: LifecycleState

    @property
    def stage(self) -> Stage:
        return self.lifecycle.stage

    @property
    def route(self) -> str | None:
        return None if self.stage in _NOT_HANDED_OVER else self.score.route

    @property
    def treatment(self) -> Treatment | None:
        return None if self.stage in _NOT_HANDED_OVER else self.score.treatment


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
