"""Why a contact has its score and its stage: every line, the transitions, the hand-over.

The lines are recomputed from the stored events with the current rules, as of a moment
(now, or ``--as-of``), so they always add up to the score shown; the stage history is
what the scoring passes recorded. Pure: ``connector.runners.explain`` reads the contact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from connector.model import (
    ContactOutcome,
    LifecycleState,
    ProfileValue,
    ScoringEvent,
    Stage,
    Transition,
)
from connector.scoring.decide import decide
from connector.scoring.machine import MachineRule
from connector.scoring.rules import ScoringRules
from connector.scoring.scorer import Scorer

__all__ = ["ContactToExplain", "Explanation", "VisitorJoined", "explain"]

_MACHINE_RULES = frozenset(rule.value for rule in MachineRule)


@dataclass(frozen=True, slots=True)
class ContactToExplain:
    """What the store holds of the contact to explain."""

    wanted: str  # the e-mail asked for, normalised
    contact_id: int
    email: str | None
    events: Sequence[ScoringEvent]
    profile: Mapping[str, ProfileValue]
    state: LifecycleState
    history: tuple[Transition, ...]
    profile_at: datetime | None = None


def _transition_dict(step: Transition, *, recorded: bool) -> dict[str, object]:
    return {
        # In event time: when the event (or the CRM's change) that caused it happened.
        "at": step.at,
        # When the scoring pass that made it ran (None: not recorded yet).
        "recorded_at": step.recorded_at if recorded else None,
        "from": step.from_stage.value,
        "to": step.to_stage.value,
        "reason": step.reason,
        # False: the next `leadsync score` will record it (events not scored yet).
        "recorded": recorded,
    }


@dataclass(frozen=True, slots=True)
class VisitorJoined:
    """An anonymous visitor whose events count for the contact: the key an event tied
    to the contact, that event, when; or, ``unlinked_at``, a join someone undid."""

    visitor_id: int
    key: str  # "namespace:value"
    source: str
    source_event_id: str
    joined_at: datetime
    unlinked_at: datetime | None
    events: int

    def as_dict(self) -> dict[str, object]:
        return {
            "visitor_contact_id": self.visitor_id,
            "key": self.key,
            "tied_by": {"source": self.source, "event_id": self.source_event_id},
            "joined_at": self.joined_at,
            "unlinked_at": self.unlinked_at,
            "events": self.events,
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    email: str
    contact_id: int
    as_of: datetime
    outcome: ContactOutcome
    history: tuple[Transition, ...]
    joined: tuple[VisitorJoined, ...] = ()

    @property
    def pending(self) -> tuple[Transition, ...]:
        """Transitions this explanation found that no scoring pass has recorded yet."""
        return self.outcome.lifecycle.transitions

    @property
    def machine_activity(self) -> dict[str, int]:
        """The events set aside as machine activity, counted by the rule that caught them
        (their lines give 0 points and say why)."""
        caught: dict[str, int] = {}
        for line in self.outcome.score.lines:
            if line.rule in _MACHINE_RULES:
                caught[line.rule] = caught.get(line.rule, 0) + 1
        return dict(sorted(caught.items()))

    def stage_set_by(self) -> Transition | None:
        steps = (*self.history, *self.pending)
        return steps[-1] if steps else None

    def as_dict(self) -> dict[str, object]:
        result = self.outcome.score
        set_by = self.stage_set_by()
        treatment = self.outcome.treatment
        return {
            "email": self.email,
            "contact_id": self.contact_id,
            "as_of": self.as_of,
            "score": result.score,
            "behaviour_score": result.behaviour_score,
            "fit_score": result.fit_score,
            "normalised_score": result.normalised_score,
            "temperature": result.temperature.value,
            "stage": self.outcome.stage.value,
            "stage_set_by": None
            if set_by is None
            else _transition_dict(set_by, recorded=set_by in self.history),
            "stage_history": [
                *(_transition_dict(step, recorded=True) for step in self.history),
                *(_transition_dict(step, recorded=False) for step in self.pending),
            ],
            "disqualified_by": result.disqualified_by,
            "route": self.outcome.route,
            "treatment": None if treatment is None else treatment.value,
            "reasons": result.reasons,
            "machine_activity": self.machine_activity,
            "joined_visitors": [join.as_dict() for join in self.joined],
            "lines": [
                {
                    "rule": line.rule,
                    "kind": line.kind,
                    "occurred_at": line.occurred_at,
                    "source": line.source,
                    "url": line.url,
                    "points": line.points,
                    "note": line.note,
                    "route": line.route,
                    "treatment": None if line.treatment is None else line.treatment.value,
                }
                for line in result.lines
            ],
        }


def explain(
    rules: ScoringRules,
    contact: ContactToExplain,
    *,
    now: datetime,
    as_of: datetime | None = None,
) -> Explanation:
    """Explain ``contact`` as of ``now``, with the stage transitions the next pass would
    record; or as it stood at ``as_of`` (later events and transitions left out)."""
    history = contact.history
    if as_of is not None:
        # As it stood then: the score from the events up to that time, the stage the
        # recorded history had reached by then (the machine is not run again).
        then = tuple(step for step in history if step.at <= as_of)
        scored = Scorer(rules, as_of=as_of, strict=True).score(
            contact.events, contact.profile, email=contact.email
        )
        stage = then[-1].to_stage if then else Stage.LEAD
        outcome = ContactOutcome(scored, LifecycleState(stage=stage))
        return Explanation(contact.wanted, contact.contact_id, as_of, outcome, then)
    outcome = decide(
        Scorer(rules, as_of=now),
        contact.events,
        contact.profile,
        contact.state,
        email=contact.email,
        at=now,
        detailed=True,
        profile_at=contact.profile_at,
    )
    return Explanation(contact.wanted, contact.contact_id, now, outcome, history)
