"""The words of the domain as types: events, contacts' scores, temperatures, stages.

``Event`` is a ``NamedTuple`` rather than a pydantic model or a frozen dataclass on
purpose: ingest builds a hundred thousand a second, and those cost 3 to 10 times more to
construct (measured: 3.2 µs for a frozen slotted dataclass, the whole per-event budget
is 10 µs). Events are validated once, where they enter (``connector.canonical``), and
trusted after that.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

__all__ = [
    "ContactScore",
    "Event",
    "EventKind",
    "JsonValue",
    "ProfileValue",
    "Route",
    "RuleTally",
    "ScoreLine",
    "Stage",
    "Temperature",
    "Treatment",
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
    history and the CRM (``connector.lifecycle``).
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
