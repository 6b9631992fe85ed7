"""Scoring rules as data: what an event or a profile field must look like to earn points.

Pure and vendor-free. ``connector.scoring.settings`` builds these from ``config.toml``;
``connector.scoring.scorer`` applies them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from connector.model import EventKind, JsonValue, ProfileValue, Route, Treatment
from connector.scoring.lifecycle import Bands, LifecyclePolicy
from connector.scoring.machine import MachineRules

__all__ = [
    "AttributeCondition",
    "BehaviourRule",
    "FitRule",
    "Normalisation",
    "ScoringRules",
    "default_behaviour_rules",
]

_TRUE_TEXT = frozenset({"true", "1", "yes"})
_FALSE_TEXT = frozenset({"false", "0", "no"})


def _glob_regex(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns), re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class AttributeCondition:
    """An event attribute must equal one of ``values``.

    Text values are case-insensitive globs (``"q4*"``); ``true``/``false`` also match the
    texts CSV files write ("true", "1", "yes"...); numbers compare as numbers.
    """

    name: str
    values: tuple[str | bool | float, ...]
    _texts: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        numbers_as_floats = tuple(
            float(value) if isinstance(value, int) and not isinstance(value, bool) else value
            for value in self.values
        )
        object.__setattr__(self, "values", numbers_as_floats)
        texts = tuple(value for value in self.values if isinstance(value, str))
        if texts:
            object.__setattr__(self, "_texts", _glob_regex(texts))

    def matches(self, attributes: dict[str, JsonValue]) -> bool:
        actual = attributes.get(self.name)
        if actual is None:
            return False
        if any(_same_value(expected, actual) for expected in self.values):
            return True
        return (
            self._texts is not None
            and isinstance(actual, str | int | float)
            and self._texts.match(str(actual)) is not None
        )


def _same_value(expected: str | bool | float, actual: JsonValue) -> bool:
    """Booleans and numbers; texts are globs, matched apart."""
    if isinstance(expected, bool):
        if isinstance(actual, bool):
            return actual is expected
        return isinstance(actual, str) and actual.strip().lower() in (
            _TRUE_TEXT if expected else _FALSE_TEXT
        )
    if isinstance(expected, float):
        return (
            isinstance(actual, int | float)
            and not isinstance(actual, bool)
            and float(actual) == expected
        )
    return False


@dataclass(frozen=True, slots=True)
class BehaviourRule:
    """Points for events of one kind, optionally only those matching every condition.

    The first rule (in order) matching an event gives its points; later ones are not tried.
    Caps and time apply per contact: ``max_times`` counts the most recent matching events
    only, ``max_points`` bounds the rule's total (its magnitude, for negative points);
    ``window_days`` ignores older events; ``half_life_days`` halves an event's points every
    that many days.
    """

    name: str
    kind: EventKind
    points: float
    route: str | None = None
    treatment: Treatment | None = None
    url: tuple[str, ...] = ()
    url_regex: str | None = None
    attributes: tuple[AttributeCondition, ...] = ()
    max_times: int | None = None
    max_points: float | None = None
    window_days: float | None = None
    half_life_days: float | None = None
    _url_globs: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    _url_pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.url:
            object.__setattr__(self, "_url_globs", _glob_regex(self.url))
        if self.url_regex is not None:
            object.__setattr__(self, "_url_pattern", re.compile(self.url_regex, re.IGNORECASE))

    @property
    def needs_attributes(self) -> bool:
        return bool(self.attributes)

    def matches(self, url: str | None, attributes: dict[str, JsonValue]) -> bool:
        """Whether an event of this rule's kind with this URL and attributes matches."""
        if self._url_globs is not None and (url is None or not self._url_globs.match(url)):
            return False
        if self._url_pattern is not None and (url is None or not self._url_pattern.search(url)):
            return False
        return all(condition.matches(attributes) for condition in self.attributes)

    def described(self) -> list[Any]:
        return [
            self.name,
            self.kind.value,
            float(self.points),
            self.route,
            self.treatment,
            list(self.url),
            self.url_regex,
            [[c.name, [_hashable(v) for v in c.values]] for c in self.attributes],
            self.max_times,
            None if self.max_points is None else float(self.max_points),
            None if self.window_days is None else float(self.window_days),
            None if self.half_life_days is None else float(self.half_life_days),
        ]


def _hashable(value: str | bool | float) -> str | bool | float:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


FitOperator = str  # "equals" | "in" | "contains" | "regex" | "range" | "present"


@dataclass(frozen=True, slots=True)
class FitRule:
    """Points (or disqualification) when a profile field satisfies one test.

    Text tests ignore case. ``range`` is inclusive at both ends and only matches numbers
    (or texts that read as numbers); ``present`` matches a non-empty value (``false``:
    a missing or empty one, for "incomplete contact details"). Every matching fit rule
    counts, once per contact.
    """

    name: str
    field_name: str
    operator: FitOperator
    points: float = 0
    disqualify: bool = False
    equals: ProfileValue = None
    any_of: tuple[str, ...] = ()
    contains: str | None = None
    regex: str | None = None
    low: float | None = None
    high: float | None = None
    present: bool = True
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.regex is not None:
            object.__setattr__(self, "_pattern", re.compile(self.regex, re.IGNORECASE))

    def matches(self, value: ProfileValue) -> bool:
        operator = self.operator
        if operator == "present":
            filled = value is not None and str(value).strip() != ""
            return filled is self.present
        if value is None:
            return False
        if operator == "range":
            number = _as_number(value)
            if number is None:
                return False
            return (self.low is None or number >= self.low) and (
                self.high is None or number <= self.high
            )
        text = _as_text(value)
        if operator == "equals":
            if isinstance(self.equals, bool) or isinstance(value, bool):
                return _as_text(self.equals) == text
            expected = self.equals
            if isinstance(expected, int | float):
                return _as_number(value) == float(expected)
            return text == _as_text(expected)
        if operator == "in":
            return text in self.any_of
        if operator == "contains":
            return self.contains is not None and self.contains in text
        if operator == "regex":
            return self._pattern is not None and self._pattern.search(str(value)) is not None
        raise ValueError(f"unknown fit operator {operator!r}")  # pragma: no cover

    def described(self) -> list[Any]:
        return [
            self.name,
            self.field_name,
            self.operator,
            float(self.points),
            self.disqualify,
            _hashable(self.equals) if isinstance(self.equals, str | bool | int | float) else None,
            list(self.any_of),
            self.contains,
            self.regex,
            self.low,
            self.high,
            self.present,
        ]


def _as_text(value: ProfileValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


def _as_number(value: ProfileValue) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).replace(",", "").strip())
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Normalisation:
    """The optional 0-100 score: ``100 * score / (score + half_at)``, 0 for 0 and below.

    Monotonic, 50 at ``half_at`` points, 75 at three times it, 90 at nine times, never
    100. ``half_at`` defaults to the hot threshold, so "hot" starts at 50.

    Not ``100 * (1 - 0.5 ** (score / half_at))``, its first form: that one reads 99.9 and
    100 from about ten times ``half_at``, so the hottest leads, the ones sales look at, all
    showed 100; this one still tells 10 times the threshold (90.9) from 5 times (83.3).
    """

    enabled: bool = False
    half_at: float | None = None

    # Named in the rules' fingerprint: a store scored with the first form rescores.
    FORMULA = "score/(score+half_at)"

    def of(self, score: float, bands: Bands) -> float | None:
        if not self.enabled:
            return None
        half_at = self.half_at if self.half_at is not None else bands.hot_above
        if half_at <= 0:
            return None
        points = max(score, 0.0)
        return round(100.0 * points / (points + half_at), 1)

    def described(self) -> list[object]:
        if not self.enabled:
            # As before the formula changed: a store that never normalised keeps its scores.
            return [False, self.half_at]
        return [True, self.half_at, self.FORMULA]


@dataclass(frozen=True, slots=True)
class ScoringRules:
    behaviour: tuple[BehaviourRule, ...]
    fit: tuple[FitRule, ...] = ()
    bands: Bands = field(default_factory=Bands)
    normalisation: Normalisation = field(default_factory=Normalisation)
    lifecycle: LifecyclePolicy = field(default_factory=LifecyclePolicy)
    machine: MachineRules = field(default_factory=MachineRules)

    def fingerprint(self) -> str:
        """A hash of everything that decides a score or a stage: a change means a full
        rescore."""
        content = orjson.dumps(
            {
                "behaviour": [rule.described() for rule in self.behaviour],
                "fit": [rule.described() for rule in self.fit],
                # Floats, so that 10 from the defaults and 10.0 from a file hash alike.
                "bands": [float(self.bands.warm_from), float(self.bands.hot_above)],
                "normalisation": self.normalisation.described(),
                "lifecycle": self.lifecycle.described(),
                "machine": self.machine.described(),
            }
        )
        return hashlib.sha256(content).hexdigest()


def default_behaviour_rules(strong_click_patterns: tuple[str, ...]) -> tuple[BehaviourRule, ...]:
    """The trade's reference points table (README, "Built-in behaviour rules") plus
    documented defaults for the other kinds.

    Weak click 1, strong click 3, site visit 1, download 5, callback request 10, quote
    request 20; pricing page 3, product pages 1, other pages nothing (the visit already
    counted); form 5; webinar
    registration 3, attendance 8; unsubscribe -10, hard bounce -5, spam report -20.
    Opens and goals earn nothing by default: opens are inflated by mail privacy proxies,
    and goals differ per site (add a rule per goal).
    """
    telemarketing, sales = Route.TELEMARKETING.value, Route.SALES.value
    detection, appointment = Treatment.PROJECT_DETECTION, Treatment.APPOINTMENT
    strong = AttributeCondition("strong", (True,))
    hard = AttributeCondition("type", ("hard",))
    kinds = EventKind
    return (
        BehaviourRule(
            "strong_email_click",
            kinds.EMAIL_CLICK,
            3,
            telemarketing,
            detection,
            attributes=(strong,),
        ),
        BehaviourRule(
            "strong_email_click",
            kinds.EMAIL_CLICK,
            3,
            telemarketing,
            detection,
            url=tuple(strong_click_patterns),
        ),
        BehaviourRule("weak_email_click", kinds.EMAIL_CLICK, 1),
        BehaviourRule("site_visit", kinds.SITE_VISIT, 1),
        BehaviourRule("pricing_page", kinds.PAGE_VIEW, 3, url=("*/pricing*", "*/tarifs*")),
        BehaviourRule("product_page", kinds.PAGE_VIEW, 1, url=("*/product*",)),
        BehaviourRule("form_submit", kinds.FORM_SUBMIT, 5),
        BehaviourRule("document_download", kinds.DOCUMENT_DOWNLOAD, 5, telemarketing, detection),
        BehaviourRule("webinar_registered", kinds.WEBINAR_REGISTERED, 3),
        BehaviourRule("webinar_attended", kinds.WEBINAR_ATTENDED, 8, telemarketing, detection),
        BehaviourRule("callback_request", kinds.CALLBACK_REQUEST, 10, telemarketing, appointment),
        BehaviourRule("quote_request", kinds.QUOTE_REQUEST, 20, sales, appointment),
        BehaviourRule("unsubscribe", kinds.UNSUBSCRIBE, -10),
        BehaviourRule("hard_bounce", kinds.BOUNCE, -5, attributes=(hard,)),
        BehaviourRule("spam_report", kinds.SPAM_REPORT, -20),
    )
