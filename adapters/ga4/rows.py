"""Report rows as events: each row's ``eventCount`` becomes that many events.

A row is (date, user key, event name[, page path]) with its count. Its events' ids are
``{property}:{date}:{user key}:{event name}[:{page path}]:{n}`` for n in 1..count, so a
re-read of the day stores only the events past those already stored, and a day is never
counted twice. GA4 gives a day, not a moment: each event happens at 00:00 UTC of its
date (the property's own day).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connector.model import Event, EventKind
from connector.ports import RejectedInput

__all__ = ["NOT_SET", "ReadRows", "RowShape", "read_rows"]

NOT_SET = "(not set)"  # GA4's value for a user the dimension has no value for
# One day's count of one event for one user beyond which a row is not a person's (a bot,
# a tag firing in a loop): the events would be stored one by one, so such a row is set
# aside rather than expanded. It also bounds a page's events in memory.
MAX_COUNT = 1_000
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_RAW_CHARS = 300
# Event ids are stored up to 200 characters: a longer page path is named by its hash.
_MAX_PATH_IN_ID = 100
_MAX_PREFIX = 190  # and the whole id, should the user key be long too


@dataclass(frozen=True, slots=True)
class RowShape:
    """Where each value sits in a row, and what the source's events carry."""

    source: str
    property_id: str
    id_namespace: str
    events: Mapping[str, EventKind]
    page_path: bool


@dataclass
class ReadRows:
    events: list[Event] = field(default_factory=list)
    rejects: list[RejectedInput] = field(default_factory=list)
    skipped: int = 0  # rows of unmapped event names, or of no user key
    latest: str | None = None  # the latest date (YYYYMMDD) of a row read


def _day(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        return None


def _path_in_id(path: str) -> str:
    if len(path) <= _MAX_PATH_IN_ID:
        return path
    return "sha256=" + hashlib.sha256(path.encode()).hexdigest()[:32]


def _reason(shape: RowShape, values: Sequence[str], metrics: Sequence[str]) -> str | None:
    """Why the row cannot be read, or None."""
    expected = 4 if shape.page_path else 3
    if len(values) != expected or not metrics:
        return f"a row with {len(values)} dimension values and {len(metrics)} metrics"
    if _day(values[0]) is None:
        return f"date {values[0][:20]!r} is not YYYYMMDD"
    if _EMAIL.fullmatch(values[1].strip()):
        # Google's terms forbid sending it personal data; the site must set an id.
        return (
            "the user key looks like an e-mail address: GA4's terms forbid personal data "
            "in custom dimensions; have the site set the CRM's contact id instead"
        )
    if not metrics[0].isdigit():
        return f"eventCount {metrics[0][:20]!r} is not a whole number"
    if int(metrics[0]) > MAX_COUNT:
        return f"eventCount {metrics[0]} for one user on one day is not a person's"
    return None


def read_rows(
    rows: Sequence[tuple[Sequence[str], Sequence[str]]],
    shape: RowShape,
    *,
    location: str,
    first_line: int,
) -> ReadRows:
    """The events of ``rows``; a reject for each row that cannot be read. ``first_line``
    is the first row's position in the report (offset + 1), for the rejects."""
    read = ReadRows()
    for line, (values, metrics) in enumerate(rows, start=first_line):
        reason = _reason(shape, values, metrics)
        if reason is not None:
            raw = f"{list(values)} {list(metrics)}"[:_RAW_CHARS]
            read.rejects.append(RejectedInput(shape.source, location, line, reason, raw))
            continue
        date_text, user_key, event_name = values[0], values[1].strip(), values[2]
        read.latest = max(read.latest or date_text, date_text)
        kind = shape.events.get(event_name)
        if kind is None or user_key in ("", NOT_SET):
            read.skipped += 1
            continue
        occurred_at = _day(date_text)
        assert occurred_at is not None  # _reason checked it
        path = values[3] if shape.page_path else None
        prefix = f"{shape.property_id}:{date_text}:{user_key}:{event_name}"
        if path is not None:
            prefix += f":{_path_in_id(path)}"
        if len(prefix) > _MAX_PREFIX:
            prefix = "sha256=" + hashlib.sha256(prefix.encode()).hexdigest()
        url = path if path and path != NOT_SET else None
        ids = {shape.id_namespace: user_key}
        attributes = {"ga4_event": event_name}
        for n in range(1, int(metrics[0]) + 1):
            read.events.append(
                Event(
                    shape.source,
                    f"{prefix}:{n}",
                    kind,
                    occurred_at,
                    None,
                    ids,
                    url,
                    attributes,
                )
            )
    return read
