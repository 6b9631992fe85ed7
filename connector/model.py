"""The words of the domain as types, shared by every package and adapter: events, scores,
temperatures, stages, what sales said, a contact's lifecycle state and its decided outcome.

``Event`` is a ``NamedTuple`` rather than a pydantic model or a frozen dataclass on
purpose: ingest builds a hundred thousand a second, and those cost 3 to 10 times more to
construct (measured: 3.2 µs for a frozen slotted dataclass, the whole per-event budget
is 10 µs). Events are validated once, where they enter (``connector.ingest.canonical``), and
trusted after that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

__all__ = [
    "BANT",
    "BANT_FIELDS",
    "CRM_STAGE_PREFIX",
    "DEAL_AMOUNT_FIELD",
    "DEAL_WON_AT_FIELD",
    "DEAL_WON_FIELD",
    "RESERVED_FIELDS",
    "SALES_CHANGED_AT_FIELD",
    "SALES_READ_AT_FIELD",
    "SALES_STAGE_FIELD",
    "SALES_STATUS_FIELD",
    "ContactOutcome",
    "ContactScore",
    "Event",
    "EventKind",
    "JsonValue",
    "LifecycleState",
    "ProfileValue",
    "Route",
    "RuleTally",
    "SalesSignals",
    "SalesStatus",
    "ScoreLine",
    "ScoringEvent",
    "Stage",
    "StoredScore",
    "Temperature",
    "Transition",
    "Treatment",
    "crm_stage_field",
    "is_crm_owned",
    "profile_fields_of",
    "signals_from_profile",
]

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
ProfileValue = str | int | float | bool | None


class EventKind(StrEnum):
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    SITE_VISIT = "site_visit"
    PAGE_VIEW = "page_view"
    GOAL = "goal"
    FORM_SUBMIT = "form_submit"
    DOCUMENT_DOWNLOAD = "document_download"
    WEBINAR_REGISTERED = "webinar_registered"
    WEBINAR_ATTENDED = "webinar_attended"
    CALLBACK_REQUEST = "callback_request"
    QUOTE_REQUEST = "quote_request"
    UNSUBSCRIBE = "unsubscribe"
    BOUNCE = "bounce"
    SPAM_REPORT = "spam_report"
    # What an e-mail router says of a message on its way: they score nothing by default,
    # and the machine-activity rules read them (a click seconds after delivery is a
    # scanner's).
    EMAIL_SENT = "email_sent"
    EMAIL_DELIVERED = "email_delivered"
    EMAIL_DEFERRED = "email_deferred"
    EMAIL_DROPPED = "email_dropped"


class Temperature(StrEnum):
    COLD = "cold"
    WARM = "warm"
    HOT = "hot"


class Stage(StrEnum):
    LEAD = "lead"
    MQL = "mql"
    SQL = "sql"
    CUSTOMER = "customer"
    NURTURING = "nurturing"
    DISQUALIFIED = "disqualified"


class Route(StrEnum):
    """Who a lead is handed to."""

    TELEMARKETING = "telemarketing"
    SALES = "sales"


class Treatment(StrEnum):
    """What the team it is handed to does with it."""

    PROJECT_DETECTION = "project_detection"
    APPOINTMENT = "appointment"


_NOTHING: Mapping[str, str] = MappingProxyType({})


class Event(NamedTuple):
    """One interaction of one person, in canonical form.

    ``occurred_at`` is timezone-aware UTC. ``email`` is trimmed and lower-cased.
    ``ids`` maps an identity namespace (``hubspot``, ``matomo_visitor``…) to a key.
    """

    source: str
    source_event_id: str
    kind: EventKind
    occurred_at: datetime
    email: str | None
    ids: Mapping[str, str] = _NOTHING
    url: str | None = None
    attributes: Mapping[str, JsonValue] = MappingProxyType({})
    profile: Mapping[str, ProfileValue] = MappingProxyType({})


class ScoreLine(NamedTuple):
    """One reason for points: a rule applied to an event, or a fit rule to the profile.

    ``kind`` is the event kind, or ``"fit"``; ``note`` says what changed the rule's points
    (decay, a cap, the window) or, for fit, which value matched.
    """

    rule: str
    kind: str
    occurred_at: datetime | None
    points: float
    source: str | None = None
    url: str | None = None
    route: str | None = None
    treatment: Treatment | None = None
    note: str | None = None


class RuleTally(NamedTuple):
    """What one behaviour rule earned a contact: how often, how much, how recently."""

    rule: str
    kind: str
    route: str | None
    treatment: Treatment | None
    base_points: float
    times: int  # events that earned points (not those capped to 0 or out of the window)
    points: float
    latest_at: datetime | None  # the most recent event that earned points


class ContactScore(NamedTuple):
    """A contact's score with what derives from it and the lines that add up to it.

    ``score`` is the sum of the lines' points: ``behaviour_score`` (event lines) plus
    ``fit_score`` (fit lines). The stage is not here: it also depends on the contact's
    history and the CRM (``connector.scoring.lifecycle``).
    """

    score: float
    behaviour_score: float
    fit_score: float
    temperature: Temperature
    route: str | None
    treatment: Treatment | None
    reasons: str
    lines: tuple[ScoreLine, ...]
    normalised_score: float | None = None
    disqualified_by: str | None = None
    # Per behaviour rule; always there, even when ``lines`` were not asked for.
    tallies: tuple[RuleTally, ...] = ()
    # When time alone (a window, decay) will change the score: rescore then.
    rescore_after: datetime | None = None


class ScoringEvent(NamedTuple):
    """What scoring needs of a stored event.

    Plain tuples in the same order work too (the store hands its rows over as they come).
    ``occurred_at`` may be the naive UTC text SQLite returns: it is parsed only where a
    line or a tally needs it. ``attributes`` may be the JSON text the store holds: it is
    parsed only when a rule has conditions on attributes and the URL/attributes pair was
    not seen before.
    """

    kind: str
    occurred_at: datetime | str
    url: str | None
    attributes: Mapping[str, JsonValue] | str | None
    source: str | None = None  # None where a pass did not read it (no line shows it)
    source_event_id: str | None = None


BANT = ("budget", "authority", "need", "timing")


class SalesStatus(StrEnum):
    """What sales answered, in our words (mapping files translate the CRM's statuses)."""

    OPEN = "open"
    REJECTED = "rejected"
    NOT_NOW = "not_now"


@dataclass(frozen=True, slots=True)
class SalesSignals:
    """What the CRM says of a contact: read through the CRM port, never guessed."""

    stage: Stage | None = None  # the stage sales set in the CRM, if any
    status: SalesStatus | None = None
    bant: frozenset[str] = frozenset()  # the confirmed ones among BANT
    won: bool = False
    # When the CRM says the stage or status last changed (a stage's own date field), and
    # when the read that brought these signals happened: a stage move caused by a signal
    # is dated by the first, else the second (``connector.scoring.lifecycle``).
    changed_at: datetime | None = None
    read_at: datetime | None = None
    # The won deal's close date and amount, where the CRM gives them (KPIs: margin, ROI).
    won_at: datetime | None = None
    won_amount: float | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A stage move. ``at`` is in event time: when the event (or the CRM's change) that
    caused it happened; ``recorded_at`` is when the scoring pass that made it ran."""

    at: datetime
    from_stage: Stage
    to_stage: Stage
    reason: str
    recorded_at: datetime | None = None


class LifecycleState(NamedTuple):
    """A contact's stage and what the machine remembers to take the next step.

    (A NamedTuple, as are the other per-contact results: a pass builds 100,000 of each,
    and a frozen dataclass costs several times more to build.)
    """

    stage: Stage = Stage.LEAD
    since: datetime | None = None
    recycled_at: datetime | None = None
    # The CRM signals already acted on (edge-triggering).
    seen_status: str | None = None
    seen_sales_stage: str | None = None
    seen_bant_complete: bool = False
    transitions: tuple[Transition, ...] = ()  # taken in the step that made this state


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


@dataclass(frozen=True, slots=True)
class StoredScore:
    contact_id: int
    email: str | None
    score: float
    behaviour_score: float
    fit_score: float
    normalised_score: float | None
    temperature: str
    stage: str
    route: str | None
    treatment: str | None
    reasons: str
    scored_at: datetime

    def as_contract(self) -> dict[str, object]:
        """The object `leadsync contacts --json` prints; other tools rely on these keys."""
        return {
            "email": self.email,
            "score": self.score,
            "behaviour_score": self.behaviour_score,
            "fit_score": self.fit_score,
            "normalised_score": self.normalised_score,
            "temperature": self.temperature,
            "stage": self.stage,
            "route": self.route,
            "treatment": self.treatment,
            "reasons": self.reasons,
            "scored_at": self.scored_at,
            "contact_id": self.contact_id,
        }


# What sales said, kept in the contact's profile under reserved field names: CRM readers
# bring it (``connector.ports.ProfileSnapshot``), the store keeps it with the other profile
# fields, so a change bumps the contact for rescoring like any profile change, and the
# lifecycle machine reads it back with ``signals_from_profile``.

SALES_STAGE_FIELD = "sales_stage"
SALES_STATUS_FIELD = "sales_status"
DEAL_WON_FIELD = "deal_won"
# Times as ISO 8601 text and the amount as a number; written only when the CRM gave them.
SALES_CHANGED_AT_FIELD = "sales_changed_at"
SALES_READ_AT_FIELD = "sales_read_at"
DEAL_WON_AT_FIELD = "deal_won_at"
DEAL_AMOUNT_FIELD = "deal_amount"
_SIGNAL_TIME_FIELDS = (SALES_CHANGED_AT_FIELD, SALES_READ_AT_FIELD, DEAL_WON_AT_FIELD)
BANT_FIELDS = {answer: f"bant_{answer}" for answer in BANT}
# "crm_stage:hubspot": the stage value the CRM held when last read (what pushes compare
# with, so a stage is never moved over one sales set, nor backward without a clear).
CRM_STAGE_PREFIX = "crm_stage:"
RESERVED_FIELDS = frozenset(
    {
        SALES_STAGE_FIELD,
        SALES_STATUS_FIELD,
        DEAL_WON_FIELD,
        DEAL_AMOUNT_FIELD,
        *_SIGNAL_TIME_FIELDS,
        *BANT_FIELDS.values(),
    }
)
_TRUE_TEXT = frozenset({"true", "1", "yes", "y"})


def _truthy(value: ProfileValue) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return isinstance(value, str) and value.strip().lower() in _TRUE_TEXT


_NOTHING_SAID = SalesSignals()
_STAGES = {stage.value: stage for stage in Stage}
_STATUSES = {status.value: status for status in SalesStatus}


def signals_from_profile(profile: Mapping[str, ProfileValue]) -> SalesSignals:
    """The signals in a stored profile; unknown values count as "nothing said"."""
    if RESERVED_FIELDS.isdisjoint(profile):
        return _NOTHING_SAID
    stage_text = profile.get(SALES_STAGE_FIELD)
    status_text = profile.get(SALES_STATUS_FIELD)
    stage = _STAGES.get(str(stage_text).strip().lower()) if stage_text is not None else None
    status = _STATUSES.get(str(status_text).strip().lower()) if status_text is not None else None
    return SalesSignals(
        stage=stage,
        status=status,
        bant=frozenset(
            answer for answer, name in BANT_FIELDS.items() if _truthy(profile.get(name))
        ),
        won=_truthy(profile.get(DEAL_WON_FIELD)),
        changed_at=_time_of(profile.get(SALES_CHANGED_AT_FIELD)),
        read_at=_time_of(profile.get(SALES_READ_AT_FIELD)),
        won_at=_time_of(profile.get(DEAL_WON_AT_FIELD)),
        won_amount=_amount_of(profile.get(DEAL_AMOUNT_FIELD)),
    )


def _time_of(value: ProfileValue) -> datetime | None:
    """A stored signal time; a value that is not one counts as not given."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _amount_of(value: ProfileValue) -> float | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        return None


def profile_fields_of(signals: SalesSignals) -> dict[str, ProfileValue]:
    """The reserved profile fields that carry ``signals`` (the inverse of the above)."""
    fields: dict[str, ProfileValue] = {
        SALES_STAGE_FIELD: None if signals.stage is None else signals.stage.value,
        SALES_STATUS_FIELD: None if signals.status is None else signals.status.value,
        DEAL_WON_FIELD: signals.won,
    }
    for answer, name in BANT_FIELDS.items():
        fields[name] = answer in signals.bant
    # Only what was given: a later read without a close date keeps the one stored.
    for name, moment in (
        (SALES_CHANGED_AT_FIELD, signals.changed_at),
        (SALES_READ_AT_FIELD, signals.read_at),
        (DEAL_WON_AT_FIELD, signals.won_at),
    ):
        if moment is not None:
            fields[name] = moment.astimezone(UTC).isoformat()
    if signals.won_amount is not None:
        fields[DEAL_AMOUNT_FIELD] = signals.won_amount
    return fields


def crm_stage_field(crm: str) -> str:
    return f"{CRM_STAGE_PREFIX}{crm}"


def is_crm_owned(field: str) -> bool:
    """Fields only a CRM read may set (events' profiles cannot)."""
    return field in RESERVED_FIELDS or field.startswith(CRM_STAGE_PREFIX)
