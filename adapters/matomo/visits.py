"""Matomo visits, as ``Live.getLastVisitsDetails`` answers them, as canonical events.

A visit (plugins/Live/VisitorDetails.php, plugins/CoreHome/VisitorDetails.php) carries
``idVisit``, ``visitorId`` (16 hex digits: the browser's key), ``userId`` (what the site
set with ``setUserId``), ``firstActionTimestamp``/``lastActionTimestamp`` (UTC epoch
seconds), ``dimensionN`` for each visit-scoped custom dimension (plugins/CustomDimensions/
VisitorDetails.php) and ``actionDetails``: its actions in order, each with a ``type``
(``action`` for a page view, ``download``, ``outlink``, ``search``, ``event``, ``goal``,
``ecommerceOrder``...) and a ``timestamp``; a goal conversion adds ``goalId``,
``goalName`` and ``revenue`` (plugins/Goals/VisitorDetails.php).

Ids: the visit is ``{site}:{idVisit}``, each action ``{site}:{idVisit}:{position}`` (its
1-based place in ``actionDetails``). A visit still in progress is answered again later
with more actions: the ledger has its first ones already, and stores only the new.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from connector.errors import RejectedRecordError
from connector.ingest.canonical import to_event
from connector.model import Event, EventKind, JsonValue
from connector.ports import RejectedInput

__all__ = ["ReadVisits", "VisitReading", "epoch", "read_visits"]

_MAX_RAW_CHARS = 2_000
# Action types taken, and the kind each is stored as ("goal" is the config's to say).
_ACTION_KINDS = {"action": EventKind.PAGE_VIEW, "download": EventKind.DOCUMENT_DOWNLOAD}
# What a visit says of itself that is worth keeping on its site_visit.
_VISIT_ATTRIBUTES = {
    "visitCount": "visit_count",
    "visitorType": "visitor_type",
    "referrerType": "referrer_type",
    "referrerName": "referrer_name",
}
_NO_ATTRIBUTES: Mapping[str, JsonValue] = {}


@dataclass(frozen=True, slots=True)
class VisitReading:
    """How one source reads its visits: the config's goals and identity keys."""

    source: str
    site_id: int
    goals: Mapping[str, EventKind] = field(default_factory=dict)
    user_dimension: int | None = None
    user_id_namespace: str = "matomo_user"
    visitor_namespace: str = "matomo_visitor"


@dataclass(slots=True)
class ReadVisits:
    """The events of a page of visits, its rejects, the actions left out, and the newest
    last action time in it (UTC epoch seconds)."""

    events: list[Event] = field(default_factory=list)
    rejects: list[RejectedInput] = field(default_factory=list)
    skipped: int = 0
    newest: int | None = None


def epoch(value: object) -> int | None:
    """A Matomo timestamp (an int, or digits in a string) as an int; None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _raw(record: object) -> str:
    try:
        return orjson.dumps(record).decode()[:_MAX_RAW_CHARS]
    except TypeError:
        return repr(record)[:_MAX_RAW_CHARS]


def _text(value: object) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def read_visits(visits: Iterable[object], reading: VisitReading, *, first_line: int) -> ReadVisits:
    """Events of ``visits`` (one page of ``Live.getLastVisitsDetails``).

    Args:
        first_line: the first visit's 1-based position in the read, for rejects.
    """
    read = ReadVisits()
    location = f"matomo site {reading.site_id}"
    for line, visit in enumerate(visits, start=first_line):
        try:
            if not isinstance(visit, Mapping):
                raise RejectedRecordError(f"a visit is a {type(visit).__name__}, not an object")
            last = epoch(visit.get("lastActionTimestamp"))
            if last is not None and (read.newest is None or last > read.newest):
                read.newest = last
            visit_event = _visit_event(visit, reading)
        except RejectedRecordError as exc:
            read.rejects.append(
                RejectedInput(reading.source, location, line, exc.reason, _raw(visit))
            )
            continue
        read.events.append(visit_event)
        actions = visit.get("actionDetails")
        if not isinstance(actions, list):
            continue
        for position, action in enumerate(actions, start=1):
            # One bad action is set aside alone: the visit's other actions are read.
            try:
                event = _action_event(action, position, visit_event, reading)
            except RejectedRecordError as exc:
                read.rejects.append(
                    RejectedInput(reading.source, location, line, exc.reason, _raw(action))
                )
                continue
            if event is None:
                read.skipped += 1
            else:
                read.events.append(event)
    return read


def _person(visit: Mapping[str, Any], reading: VisitReading) -> str | None:
    if reading.user_dimension is None:
        return _text(visit.get("userId"))
    return _text(visit.get(f"dimension{reading.user_dimension}"))


def _visit_event(visit: Mapping[str, Any], reading: VisitReading) -> Event:
    visit_id = _text(visit.get("idVisit"))
    if visit_id is None:
        raise RejectedRecordError("a visit without idVisit")
    visitor = _text(visit.get("visitorId"))
    if visitor is None:
        raise RejectedRecordError(
            f"visit {visit_id} has no visitorId (the browser's key every visit has)"
        )
    started = epoch(visit.get("firstActionTimestamp"))
    if started is None:
        started = epoch(visit.get("lastActionTimestamp"))
    if started is None:
        raise RejectedRecordError(f"visit {visit_id} has no firstActionTimestamp")
    attributes: dict[str, object] = {"visit_id": visit_id}
    for theirs, ours in _VISIT_ATTRIBUTES.items():
        value = visit.get(theirs)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
            attributes[ours] = value
    record: dict[str, object] = {
        "id": f"{reading.site_id}:{visit_id}",
        "kind": EventKind.SITE_VISIT.value,
        "occurred_at": datetime.fromtimestamp(started, UTC).isoformat(),
        "ids": {reading.visitor_namespace: visitor},
        "attributes": attributes,
    }
    person = _person(visit, reading)
    if person is not None and "@" in person:
        try:
            return to_event({**record, "email": person}, default_source=reading.source)
        except RejectedRecordError as exc:
            if not exc.reason.startswith("invalid e-mail"):
                raise
            # Not an address after all ("crm@42"): a user id like any other.
    if person is not None:
        record["ids"] = {reading.visitor_namespace: visitor, reading.user_id_namespace: person}
    return to_event(record, default_source=reading.source)


def _action_event(
    action: object, position: int, visit: Event, reading: VisitReading
) -> Event | None:
    """The event of one action; None for a type leadsync does not take."""
    if not isinstance(action, Mapping):
        raise RejectedRecordError(f"an action is a {type(action).__name__}, not an object")
    kind_name = action.get("type")
    attributes: Mapping[str, JsonValue] = _NO_ATTRIBUTES
    if kind_name == "goal":
        kind, attributes = _goal(action, reading)
    else:
        found = _ACTION_KINDS.get(kind_name) if isinstance(kind_name, str) else None
        if found is None:
            return None
        kind = found
        title = action.get("pageTitle")
        if kind is EventKind.PAGE_VIEW and isinstance(title, str) and title:
            attributes = {"title": title}
    moment = epoch(action.get("timestamp"))
    if moment is None:
        raise RejectedRecordError(
            f"action {position} of visit {visit.attributes['visit_id']} has no timestamp"
        )
    url = action.get("url")
    return Event(
        visit.source,
        f"{visit.source_event_id}:{position}",
        kind,
        datetime.fromtimestamp(moment, UTC),
        visit.email,
        visit.ids,
        url if isinstance(url, str) and url else None,
        attributes,
    )


def _goal(
    action: Mapping[str, Any], reading: VisitReading
) -> tuple[EventKind, dict[str, JsonValue]]:
    name = _text(action.get("goalName"))
    goal_id = _text(action.get("goalId"))
    kind = (reading.goals.get(name) if name else None) or (
        reading.goals.get(goal_id) if goal_id else None
    )
    attributes: dict[str, JsonValue] = {}
    if goal_id is not None:
        attributes["goal_id"] = goal_id
    if name is not None:
        attributes["goal_name"] = name
    revenue = action.get("revenue")
    try:
        amount = float(revenue) if revenue not in (None, "", False) else 0.0
    except (TypeError, ValueError):
        amount = 0.0
    if amount:
        attributes["revenue"] = amount
    return kind or EventKind.GOAL, attributes
