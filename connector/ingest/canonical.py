"""Validate a raw record (parsed JSON, a CSV row) into a canonical ``Event``.

Each check raises ``RejectedRecordError`` with a reason an admin can act on. Validation is
hand-written rather than a pydantic model because it runs once per event on the ingest
hot path (a few microseconds each), and because the reasons must speak the admin's words
("missing kind"). The common case, a well-formed record, takes the straight path; the
helpers below it only run to explain a problem.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import cast

import orjson

from connector.errors import RejectedRecordError
from connector.ingest.identity import is_valid_email, normalize_email, valid_namespace
from connector.model import Event, EventKind, JsonValue, ProfileValue

__all__ = [
    "CANONICAL_FIELDS",
    "EARLIEST_TIME",
    "LATEST_TIME",
    "derive_event_id",
    "dumps_exact",
    "loads_exact",
    "to_event",
]

CANONICAL_FIELDS = frozenset(
    {"source", "id", "kind", "occurred_at", "email", "ids", "url", "attributes", "profile"}
)
_KINDS: dict[str, EventKind] = {kind.value: kind for kind in EventKind}
_KNOWN_KINDS_TEXT = ", ".join(sorted(_KINDS))
_EMPTY: dict[str, str] = {}
MAX_ID_LENGTH = 200
# The store's limits, checked here so both stores take and refuse the same records:
# SQLite would take longer or NUL-holding text that PostgreSQL refuses, which would stop
# the whole page there.
MAX_SOURCE_LENGTH = 100
MAX_KEY_LENGTH = 254  # a value in ids
# orjson writes at most 255 levels; nothing a router or a form sends nests this deep.
MAX_ATTRIBUTE_DEPTH = 32
# Events outside these years are refused: no marketing signal is that old or that far
# ahead, and scoring windows and decay add days to event times, which must stay
# representable (datetime ends in 9999).
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2200, 1, 1, tzinfo=UTC)


# orjson reads an integer past 64 bits as a float (its last digits lost) and refuses to
# write one; JSON sets no such limit, and an id or an amount can be that long. Text with a
# run of 19 or more digits (the first length that can leave orjson's range) is read again
# by the standard library, which keeps every integer exact. Digits inside strings count
# too: they only cost that second, slower read. The run is found by turning every digit
# into "0" and looking for 19 of them, which costs a fifth of a regular expression's
# search (measured on a 230-byte event: 0.5 against 2.6 µs; orjson reads it in 1.2).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def loads_exact(data: bytes | str) -> object:
    """Parse JSON as orjson does, but keep integers of any size exact.

    Raises:
        orjson.JSONDecodeError: ``data`` is not JSON (orjson's verdict, so NaN, lone
            surrogates and the rest are refused as before).
    """
    value = orjson.loads(data)
    raw = data if isinstance(data, bytes) else data.encode()
    if _LONG_RUN not in raw.translate(_DIGITS_AS_ZERO):
        return value
    # orjson has validated it: the standard library only differs on those integers, and
    # in nesting less deep than orjson's 1,024 levels (no record we take nests past 32).
    try:
        return json.loads(raw)
    except RecursionError:
        raise orjson.JSONDecodeError(
            "nested too deep (with a long number inside)", raw.decode(errors="replace"), 0
        ) from None


def dumps_exact(value: object, *, sort_keys: bool = False) -> bytes:
    """``value`` as compact JSON, integers past 64 bits included (orjson refuses them)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except TypeError:
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys, allow_nan=False
        ).encode()


def _text(record: Mapping[str, object], key: str) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if type(value) is str:
        if "\x00" in value:
            raise RejectedRecordError(f"{key} holds a NUL character; remove it")
        return value
    if type(value) is int:
        return str(value)
    raise RejectedRecordError(f"{key} must be a string, got {type(value).__name__}")


def _nested_too_deep(value: object, depth: int = 1) -> bool:
    if depth > MAX_ATTRIBUTE_DEPTH:
        return True
    if type(value) is dict:
        return any(_nested_too_deep(item, depth + 1) for item in value.values())
    if type(value) is list:
        return any(_nested_too_deep(item, depth + 1) for item in value)
    return False


def _parse_time(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise RejectedRecordError(
            f"occurred_at is not an ISO 8601 time: {raw[:60]!r}; write it like 2026-11-02T10:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise RejectedRecordError(
            f"occurred_at has no timezone: {raw[:60]!r}; add Z (UTC) or an offset like +01:00"
        )
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 has no UTC time
        utc = None
    if utc is None or not EARLIEST_TIME <= utc < LATEST_TIME:
        raise RejectedRecordError(
            f"occurred_at {raw[:60]!r} is outside the years {EARLIEST_TIME.year} to "
            f"{LATEST_TIME.year - 1}; a date that far off is a placeholder or a typo: fix it"
        )
    return utc


def _object(value: object, key: str) -> dict[str, object]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise RejectedRecordError(f"{key} must be an object, got {type(value).__name__}")
    return cast("dict[str, object]", value)


def _ids(value: object) -> dict[str, str]:
    ids: dict[str, str] = {}
    for namespace, key in _object(value, "ids").items():
        if not valid_namespace(namespace):
            raise RejectedRecordError(
                f"ids key {namespace!r} is not a valid namespace "
                "(lower-case letters, digits, '_', '-', '.'; put e-mails in email)"
            )
        if key is None or key == "":
            continue
        if type(key) is not str and type(key) is not int:
            raise RejectedRecordError(f"ids.{namespace} must be a string, got {type(key).__name__}")
        text = str(key)
        if len(text) > MAX_KEY_LENGTH or "\x00" in text:
            raise RejectedRecordError(
                f"ids.{namespace} is longer than {MAX_KEY_LENGTH} characters or holds a NUL"
            )
        ids[namespace] = text
    return ids


def _profile(value: object) -> dict[str, ProfileValue]:
    profile = _object(value, "profile")
    for name, field in profile.items():
        if field is not None and not isinstance(field, str | int | float | bool):
            raise RejectedRecordError(
                f"profile.{name} must be a string, number or boolean, got {type(field).__name__}"
            )
    return cast("dict[str, ProfileValue]", profile)


def derive_event_id(
    kind: str,
    occurred_at: datetime,
    email: str | None,
    ids: Mapping[str, str],
    url: str | None,
    attributes: Mapping[str, object],
    profile: Mapping[str, object],
) -> str:
    """A stable id from what the event says, so a re-read file dedupes without ids."""
    content = dumps_exact(
        [kind, occurred_at.isoformat(), email, ids, url, attributes, profile], sort_keys=True
    )
    return "h-" + hashlib.blake2b(content, digest_size=16).hexdigest()


def _unknown_fields(record: Mapping[str, object]) -> RejectedRecordError:
    names = ", ".join(sorted(record.keys() - CANONICAL_FIELDS)[:5])
    return RejectedRecordError(
        f"unknown field(s) {names}; put custom values under attributes "
        "(CSV: attributes.NAME columns)"
    )


def to_event(record: Mapping[str, object], *, default_source: str) -> Event:
    """Validate ``record``; raise ``RejectedRecordError`` naming the first problem found."""
    if not CANONICAL_FIELDS.issuperset(record):
        raise _unknown_fields(record)
    kind_text = _text(record, "kind")
    if kind_text is None:
        raise RejectedRecordError("missing kind")
    kind = _KINDS.get(kind_text)
    if kind is None:
        raise RejectedRecordError(
            f"unknown kind {kind_text[:60]!r}; known kinds: {_KNOWN_KINDS_TEXT}"
        )
    time_text = _text(record, "occurred_at")
    if time_text is None:
        raise RejectedRecordError("missing occurred_at")
    occurred_at = _parse_time(time_text)

    email_text = _text(record, "email")
    email = None
    if email_text is not None:
        email = normalize_email(email_text)
        if not is_valid_email(email):
            raise RejectedRecordError(f"invalid e-mail {email_text[:80]!r}")
    raw_ids = record.get("ids")
    ids = _EMPTY if raw_ids is None else _ids(raw_ids)
    if email is None and not ids:
        raise RejectedRecordError("missing identity: give email or ids")

    url = _text(record, "url")
    raw_attributes = record.get("attributes")
    attributes = _EMPTY if raw_attributes is None else _object(raw_attributes, "attributes")
    if attributes and _nested_too_deep(attributes):
        raise RejectedRecordError(
            f"attributes nest more than {MAX_ATTRIBUTE_DEPTH} levels deep; flatten them"
        )
    raw_profile = record.get("profile")
    profile = _EMPTY if raw_profile is None else _profile(raw_profile)
    source = _text(record, "source") or default_source
    if len(source) > MAX_SOURCE_LENGTH:
        raise RejectedRecordError(f"source is longer than {MAX_SOURCE_LENGTH} characters")
    event_id = _text(record, "id")
    if event_id is None:
        event_id = derive_event_id(kind, occurred_at, email, ids, url, attributes, profile)
    elif len(event_id) > MAX_ID_LENGTH:
        raise RejectedRecordError(f"id is longer than {MAX_ID_LENGTH} characters")
    return Event(
        source,
        event_id,
        kind,
        occurred_at,
        email,
        ids,
        url,
        cast("Mapping[str, JsonValue]", attributes),
        cast("Mapping[str, ProfileValue]", profile),
    )
