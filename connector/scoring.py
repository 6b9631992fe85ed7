"""Rules -> points, per contact, with every point's reason kept for ``explain``.

Pure: takes events and rules, returns a ``ContactScore``; no store, no clock, no network.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import orjson

from connector.lifecycle import Bands, derive_handover, derive_stage, temperature_for
from connector.model import (
    ContactScore,
    EventKind,
    JsonValue,
    ProfileValue,
    Route,
    ScoreLine,
    Treatment,
)

__all__ = [
    "BehaviourRule",
    "Scorer",
    "ScoringEvent",
    "ScoringRules",
    "default_behaviour_rules",
    "score_contact",
    "top_reasons",
]

_TRUE_TEXT = frozenset({"true", "1", "yes"})


class ScoringEvent(NamedTuple):
    """What scoring needs of a stored event."""

    kind: str
    occurred_at: datetime
    source: str
    url: str | None
    attributes: Mapping[str, JsonValue]


@dataclass(frozen=True, slots=True)
class BehaviourRule:
    """Points for events of one kind, optionally only those matching conditions.

    ``url_patterns`` are case-insensitive globs (any one matches); ``attributes`` must all
    be equal (``true`` also matches the texts "true", "1" and "yes", as CSVs write them).
    The first rule matching an event gives its points; later rules are not tried.
    """

    name: str
    kind: EventKind
    points: float
    route: Route | None = None
    treatment: Treatment | None = None
    url_patterns: tuple[str, ...] = ()
    attributes: tuple[tuple[str, JsonValue], ...] = ()
    _url_regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.url_patterns:
            combined = "|".join(f"(?:{fnmatch.translate(p)})" for p in self.url_patterns)
            object.__setattr__(self, "_url_regex", re.compile(combined, re.IGNORECASE))

    def matches(self, event: ScoringEvent) -> bool:
        if event.kind != self.kind:
            return False
        if self._url_regex is not None and (
            event.url is None or self._url_regex.match(event.url) is None
        ):
            return False
        for name, expected in self.attributes:
            actual = event.attributes.get(name)
            if actual == expected:
                continue
            if expected is True and isinstance(actual, str) and actual.lower() in _TRUE_TEXT:
                continue
            return False
        return True


def default_behaviour_rules(strong_click_patterns: Sequence[str]) -> tuple[BehaviourRule, ...]:
    """The reference points table (DOMAIN.md): weak click 1, strong click 3, visit 1,
    download 5, callback request 10, quote request 20."""
    telemarketing, sales = Route.TELEMARKETING, Route.SALES
    detection, appointment = Treatment.PROJECT_DETECTION, Treatment.APPOINTMENT
    return (
        BehaviourRule(
            "strong_email_click",
            EventKind.EMAIL_CLICK,
            3,
            telemarketing,
            detection,
            attributes=(("strong", True),),
        ),
        BehaviourRule(
            "strong_email_click",
            EventKind.EMAIL_CLICK,
            3,
            telemarketing,
            detection,
            url_patterns=tuple(strong_click_patterns),
        ),
        BehaviourRule("weak_email_click", EventKind.EMAIL_CLICK, 1),
        BehaviourRule("site_visit", EventKind.SITE_VISIT, 1),
        BehaviourRule(
            "document_download", EventKind.DOCUMENT_DOWNLOAD, 5, telemarketing, detection
        ),
        BehaviourRule(
            "callback_request", EventKind.CALLBACK_REQUEST, 10, telemarketing, appointment
        ),
        BehaviourRule("quote_request", EventKind.QUOTE_REQUEST, 20, sales, appointment),
    )


@dataclass(frozen=True, slots=True)
class ScoringRules:
    behaviour: tuple[BehaviourRule, ...]
    bands: Bands = field(default_factory=Bands)

    def fingerprint(self) -> str:
        """A hash of everything that decides a score: a change means a full rescore."""
        described = [
            [
                rule.name,
                rule.kind.value,
                float(rule.points),
                rule.route,
                rule.treatment,
                list(rule.url_patterns),
                [list(pair) for pair in rule.attributes],
            ]
            for rule in self.behaviour
        ]
        content = orjson.dumps(
            {
                "behaviour": described,
                # Floats, so that 10 from the defaults and 10.0 from a file hash alike.
                "bands": [float(self.bands.warm_from), float(self.bands.hot_above)],
            }
        )
        return hashlib.sha256(content).hexdigest()


def _rules_by_kind(rules: ScoringRules) -> dict[str, tuple[BehaviourRule, ...]]:
    by_kind: dict[str, list[BehaviourRule]] = {}
    for rule in rules.behaviour:
        by_kind.setdefault(rule.kind.value, []).append(rule)
    return {kind: tuple(found) for kind, found in by_kind.items()}


def _format_points(points: float) -> str:
    return f"{points:+g}"


def top_reasons(lines: Sequence[ScoreLine], *, limit: int = 3) -> str:
    """A short text for a CRM field: the rules that brought the most points."""
    totals: dict[str, tuple[int, float]] = {}
    for line in lines:
        count, points = totals.get(line.rule, (0, 0.0))
        totals[line.rule] = (count + 1, points + line.points)
    ranked = sorted(totals.items(), key=lambda item: (-abs(item[1][1]), item[0]))
    parts = [
        f"{rule} ×{count} ({_format_points(points)})" for rule, (count, points) in ranked[:limit]
    ]
    if len(ranked) > limit:
        parts.append(f"+{len(ranked) - limit} more")
    return "; ".join(parts) if parts else "no scored activity"


def _line_order(line: ScoreLine) -> tuple[object, ...]:
    return (line.occurred_at, line.kind, line.rule, line.source or "", line.url or "")


class Scorer:
    """Caches the rules by kind; one per scoring pass."""

    def __init__(self, rules: ScoringRules) -> None:
        self.rules = rules
        self.by_kind = _rules_by_kind(rules)

    def score(
        self, events: Iterable[ScoringEvent], profile: Mapping[str, ProfileValue]
    ) -> ContactScore:
        del profile  # fit rules read it; they come with the full rules engine
        lines: list[ScoreLine] = []
        behaviour = 0.0
        by_kind = self.by_kind
        for event in events:
            for rule in by_kind.get(event.kind, ()):
                if rule.matches(event):
                    lines.append(
                        ScoreLine(
                            rule.name,
                            event.kind,
                            event.occurred_at,
                            rule.points,
                            event.source,
                            event.url,
                            rule.route,
                            rule.treatment,
                        )
                    )
                    behaviour += rule.points
                    break
        # A total order, so the result does not depend on the order events arrived in.
        lines.sort(key=_line_order)
        fit = 0.0
        total = behaviour + fit
        temperature = temperature_for(total, self.rules.bands)
        handover = derive_handover(temperature, lines)
        return ContactScore(
            score=total,
            behaviour_score=behaviour,
            fit_score=fit,
            temperature=temperature,
            stage=derive_stage(temperature, handover),
            route=handover.route,
            treatment=handover.treatment,
            reasons=top_reasons(lines),
            lines=tuple(lines),
        )


def score_contact(
    events: Iterable[ScoringEvent],
    rules: ScoringRules,
    profile: Mapping[str, ProfileValue] | None = None,
) -> ContactScore:
    return Scorer(rules).score(events, profile or {})
