"""Mailjet's events as canonical records: the Event API's payloads, the REST statistics'
rows, and the one event id both build.

Payload fields as Mailjet documents them (mailjet/api-documentation @ 3a446e64,
``guides/_event-api.md``, "Events"): every event has ``event``, ``time`` (Unix seconds),
``email``, ``mj_campaign_id``, ``mj_contact_id``, ``customcampaign``, ``MessageID``,
``Message_GUID``, ``CustomID``, ``Payload``; open, click and unsub add ``ip``, ``geo``,
``agent``; click adds ``url``; bounce adds ``blocked``, ``hard_bounce``,
``error_related_to``, ``error``, ``comment``; blocked adds ``error_related_to``,
``error``; spam adds ``source``; unsub adds ``mj_list_id``.

Mailjet gives no event id. Ours is ``EVENT:MESSAGEID:TIME`` (``open:19421777396190490:
1433103519``), and for a click ``:`` and the first 16 hex digits of the BLAKE2b hash of
its URL after that: (MessageID, event, time, url) tells one event from another, and a
backfill row of the same open or click builds the same id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType

from connector.errors import RejectedRecordError
from connector.model import EventKind

__all__ = [
    "CONTACT_ID_KEY",
    "KINDS",
    "STATISTICS",
    "event_id",
    "iso_time",
    "statistic_record",
    "webhook_record",
]

# The key of ``ids`` that holds Mailjet's contact id (``mj_contact_id``, ``ContactID``).
CONTACT_ID_KEY = "mailjet"

# Mailjet's event types and what they are in our words. "sent" is dispatched "when the
# destination SMTP server (gmail, hotmail, yahoo, etc) has accepted the message" (the
# guide's "Sent event"): that is a delivery, the moment the machine-activity rules time a
# click from; Mailjet has no separate delivered event.
KINDS: Mapping[str, EventKind] = MappingProxyType(
    {
        "sent": EventKind.EMAIL_DELIVERED,
        "open": EventKind.EMAIL_OPEN,
        "click": EventKind.EMAIL_CLICK,
        "bounce": EventKind.BOUNCE,
        "spam": EventKind.SPAM_REPORT,
        "blocked": EventKind.EMAIL_DROPPED,
        "unsub": EventKind.UNSUBSCRIBE,
    }
)

_URL_DIGEST_BYTES = 8


def event_id(event_type: str, message_id: str, time_s: int, url: str | None) -> str:
    """The id of one Mailjet event (see the module's docstring)."""
    key = f"{event_type}:{message_id}:{time_s}"
    if url:
        digest = hashlib.blake2b(url.encode(), digest_size=_URL_DIGEST_BYTES).hexdigest()
        key = f"{key}:{digest}"
    return key


def iso_time(time_s: int) -> str:
    """Unix seconds as ISO 8601 in UTC.

    Raises:
        RejectedRecordError: no date has that many seconds.
    """
    try:
        return datetime.fromtimestamp(time_s, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        raise RejectedRecordError(f"time {time_s} is not a Unix time in seconds") from None


def webhook_record(payload: Mapping[str, object]) -> dict[str, object] | None:
    """The canonical record of one Event API payload; None for an event type we do not
    map (it is skipped and counted, not set aside).

    Raises:
        RejectedRecordError: a field the record needs is missing or of the wrong type.
    """
    event_type = payload.get("event")
    if not isinstance(event_type, str) or not event_type:
        raise RejectedRecordError('missing "event" (the event type)')
    kind = KINDS.get(event_type)
    if kind is None:
        return None
    time_s = _whole_number(payload, "time")
    if time_s is None:
        raise RejectedRecordError('missing "time" (Unix seconds)')
    message_id = _identifier(payload, "MessageID")
    if message_id is None:
        raise RejectedRecordError('missing "MessageID"')
    url = _text(payload, "url") if kind is EventKind.EMAIL_CLICK else None

    attributes: dict[str, object] = {"message_id": message_id}
    campaign = _identifier(payload, "mj_campaign_id") or _text(payload, "customcampaign")
    if campaign:
        attributes["campaign"] = campaign
    _copy_text(payload, "agent", attributes, "user_agent")
    _copy_text(payload, "CustomID", attributes, "custom_id")
    if kind is EventKind.BOUNCE:
        # The built-in rule reads type = "hard"; "hard_bounce: true if error was permanent".
        attributes["type"] = "hard" if payload.get("hard_bounce") is True else "soft"
        if isinstance(payload.get("blocked"), bool):
            attributes["blocked"] = payload["blocked"]
    if kind in (EventKind.BOUNCE, EventKind.EMAIL_DROPPED):
        _copy_text(payload, "error", attributes, "error")
        _copy_text(payload, "error_related_to", attributes, "error_related_to")
    if kind is EventKind.SPAM_REPORT:
        _copy_text(payload, "source", attributes, "feedback_loop")
    if kind is EventKind.UNSUBSCRIBE:
        list_id = _identifier(payload, "mj_list_id")
        if list_id:
            attributes["list_id"] = list_id

    record: dict[str, object] = {
        "id": event_id(event_type, message_id, time_s, url),
        "kind": kind.value,
        "occurred_at": iso_time(time_s),
        "attributes": attributes,
    }
    email = _text(payload, "email")
    if email:
        record["email"] = email
    contact_id = _identifier(payload, "mj_contact_id")
    if contact_id:
        record["ids"] = {CONTACT_ID_KEY: contact_id}
    if url:
        record["url"] = url
    return record


# The REST statistics a backfill reads, and which of Mailjet's event types their rows are
# (fields as the official Go client declares them: mailjet/mailjet-apiv3-go @ 2683807,
# ``resources/resources.go``, ``Openinformation`` and ``Clickstatistics``).
STATISTICS: Mapping[str, str] = MappingProxyType(
    {"openinformation": "open", "clickstatistics": "click"}
)
_STATISTIC_TIME = MappingProxyType({"openinformation": "OpenedAt", "clickstatistics": "ClickedAt"})


def statistic_record(resource: str, row: Mapping[str, object]) -> dict[str, object]:
    """The canonical record of a row of ``openinformation`` (an open) or
    ``clickstatistics`` (a click), without its e-mail: the rows name the contact by
    ``ContactID`` alone. Its id is the webhook's for the same event.

    Raises:
        RejectedRecordError: a field the record needs is missing or of the wrong type.
    """
    event_type = STATISTICS[resource]
    kind = KINDS[event_type]
    time_key = _STATISTIC_TIME[resource]
    time_s = _statistic_time(row, time_key)
    message_id = _identifier(row, "MessageID")
    if message_id is None:
        raise RejectedRecordError('missing "MessageID"')
    url = _text(row, "Url") if kind is EventKind.EMAIL_CLICK else None
    attributes: dict[str, object] = {"message_id": message_id}
    campaign = _identifier(row, "CampaignID")
    if campaign:
        attributes["campaign"] = campaign
    # ``UserAgentFull`` is the whole header, as the webhook's ``agent``; ``UserAgent`` a
    # shorter name where the full one is not given.
    user_agent = _text(row, "UserAgentFull") or _text(row, "UserAgent")
    if user_agent:
        attributes["user_agent"] = user_agent
    record: dict[str, object] = {
        "id": event_id(event_type, message_id, time_s, url),
        "kind": kind.value,
        "occurred_at": iso_time(time_s),
        "attributes": attributes,
    }
    contact_id = _identifier(row, "ContactID")
    if contact_id:
        record["ids"] = {CONTACT_ID_KEY: contact_id}
    if url:
        record["url"] = url
    return record


def _statistic_time(row: Mapping[str, object], key: str) -> int:
    """A REST time (RFC 3339; read as UTC without an offset) in Unix seconds."""
    text = _text(row, key)
    if text is None:
        raise RejectedRecordError(f'missing "{key}"')
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RejectedRecordError(f'"{key}" is not an RFC 3339 time: {text[:40]!r}') from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _whole_number(payload: Mapping[str, object], key: str) -> int | None:
    value = payload.get(key)
    if isinstance(value, bool):
        raise RejectedRecordError(f'"{key}" is not a whole number (got a boolean)')
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if value is None:
        return None
    raise RejectedRecordError(f'"{key}" is not a whole number (got {type(value).__name__})')


def _identifier(payload: Mapping[str, object], key: str) -> str | None:
    """A Mailjet id as text; None when absent or 0 (Mailjet's "none", as in a bounce's
    ``mj_contact_id``)."""
    number = _whole_number(payload, key)
    return None if number is None or number == 0 else str(number)


def _text(payload: Mapping[str, object], key: str) -> str | None:
    value = payload.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RejectedRecordError(f'"{key}" is not text (got {type(value).__name__})')
    return value


def _copy_text(
    payload: Mapping[str, object], key: str, attributes: dict[str, object], name: str
) -> None:
    value = _text(payload, key)
    if value:
        attributes[name] = value
