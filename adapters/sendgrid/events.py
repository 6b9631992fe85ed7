"""One SendGrid Event Webhook event into a canonical record (``to_event`` validates it).

The fields, their meaning and the examples are SendGrid's Event Webhook reference
(sendgrid/docs @ c3eb3fef ``content/docs/for-developers/tracking-events/event.md``, now
https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connector.errors import RejectedRecordError
from connector.model import EventKind

__all__ = ["KINDS", "MACHINE_OPEN", "canonical_record", "message_id_of"]

# SendGrid's event types and ours; group_resubscribe (and any type SendGrid adds) is left
# out and counted as skipped, not rejected: nothing is wrong with the record.
KINDS: Mapping[str, EventKind] = {
    "processed": EventKind.EMAIL_SENT,
    "delivered": EventKind.EMAIL_DELIVERED,
    "deferred": EventKind.EMAIL_DEFERRED,
    "dropped": EventKind.EMAIL_DROPPED,
    "bounce": EventKind.BOUNCE,
    "open": EventKind.EMAIL_OPEN,
    "click": EventKind.EMAIL_CLICK,
    "spamreport": EventKind.SPAM_REPORT,
    "unsubscribe": EventKind.UNSUBSCRIBE,
    "group_unsubscribe": EventKind.UNSUBSCRIBE,
}

# SendGrid sets this boolean on every open: true when Apple Mail Privacy Protection, not a
# person, opened the message (https://support.sendgrid.com/hc/en-us/articles/4452853929115).
MACHINE_OPEN = "sendgrid sg_machine_open"

# A bounce's "type" is "bounce" (the receiving server refused the address for good) or
# "blocked" (it refused the message for now) (event.md l.775): in our words, hard and soft.
# An asynchronous bounce may come without it, and a bounce is permanent unless it says so.
_BOUNCE_TYPES = {"bounce": "hard", "blocked": "soft"}

# Fields of SendGrid's own (event.md "Event objects" l.456-775 and the examples after it;
# sg_machine_open and bounce_classification are newer): anything else at the top level is
# a custom argument of the v3 Mail Send (l.901-940), kept under custom_args.
_SENDGRID_FIELDS = frozenset(
    {
        "email",
        "timestamp",
        "event",
        "sg_event_id",
        "sg_message_id",
        "smtp-id",
        "category",
        "useragent",
        "ip",
        "url",
        "url_offset",
        "reason",
        "status",
        "response",
        "attempt",
        "type",
        "bounce_classification",
        "tls",
        "asm_group_id",
        "unique_args",
        "marketing_campaign_id",
        "marketing_campaign_name",
        "marketing_campaign_version",
        "marketing_campaign_split_id",
        "post_type",
        "sg_user_id",
        "mc_stats",
        "phase_id",
        "send_at",
        "singlesend_id",
        "singlesend_name",
        "template_id",
        "template_hash",
        "template_version_id",
        "sg_content_type",
        "sg_machine_open",
        "sg_template_id",
        "sg_template_name",
        "pool",
        "newsletter",
    }
)
# Seconds past this are year 5138 on: a time in milliseconds, as SendGrid's own Single Send
# example writes it (event.md l.971, "timestamp": 1591726752372).
_LATEST_SECONDS = 100_000_000_000


def message_id_of(sg_message_id: str) -> str:
    """The message's id shared by its delivered, open and click events.

    ``sg_message_id`` is the X-Message-ID of the send request, then "." and what SendGrid's
    servers added (``XBg2anf2TqCy6WXKQFhieQ.filter0905p1mdw1-4434-59E0C6FF-3.0``,
    docs/glossary/message-id.md); that tail differs between the events of one message, so
    the part before the first "." ties them. It is one id per send request, which may
    address many people: with the contact it names one message.
    """
    return sg_message_id.split(".", 1)[0]


def _occurred_at(value: object) -> str:
    # Unix seconds (event.md l.760); a float is taken too, a bool is not a time.
    if value is None:
        raise RejectedRecordError("missing timestamp")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RejectedRecordError(
            f"timestamp must be a Unix time in seconds, got {type(value).__name__}"
        )
    seconds = value / 1000 if value >= _LATEST_SECONDS else value
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        raise RejectedRecordError(f"timestamp {value!r} is not a Unix time in seconds") from None


def _campaign(event: Mapping[str, Any]) -> object:
    # A Marketing Campaigns send names its campaign (event.md l.977-1010); a transactional
    # one is usually told apart by its category, when it has exactly one.
    for key in ("marketing_campaign_name", "singlesend_name", "marketing_campaign_id"):
        if event.get(key) not in (None, ""):
            return event[key]
    category = event.get("category")
    if isinstance(category, str) and category:
        return category
    if isinstance(category, list) and len(category) == 1:
        return category[0]
    return None


def _custom_args(event: Mapping[str, Any]) -> dict[str, Any]:
    custom = {key: value for key, value in event.items() if key not in _SENDGRID_FIELDS}
    # v2 Mail Send and the SMTP API send them grouped (event.md l.816-900).
    unique_args = event.get("unique_args")
    if isinstance(unique_args, dict):
        custom = {**unique_args, **custom}
    return custom


def _attributes(event: Mapping[str, Any], event_type: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    sg_message_id = event.get("sg_message_id")
    if isinstance(sg_message_id, str) and sg_message_id:
        attributes["message_id"] = message_id_of(sg_message_id)
        attributes["sg_message_id"] = sg_message_id
    campaign = _campaign(event)
    if campaign is not None:
        attributes["campaign"] = campaign
    if event.get("category") not in (None, "", []):
        attributes["category"] = event["category"]
    if isinstance(event.get("useragent"), str) and event["useragent"]:
        attributes["user_agent"] = event["useragent"]
    if event_type == "open" and event.get("sg_machine_open") is True:
        attributes["machine"] = MACHINE_OPEN
    if event_type == "bounce":
        kind = event.get("type")
        attributes["type"] = _BOUNCE_TYPES.get(kind, kind) if isinstance(kind, str) else "hard"
        for key in ("status", "bounce_classification"):
            if event.get(key) not in (None, ""):
                attributes[key] = event[key]
    if event_type == "dropped" and isinstance(event.get("reason"), str):
        # "Bounced Address", "Unsubscribed Address", ... (event.md l.197): SendGrid's words.
        attributes["reason"] = event["reason"]
    if event_type == "deferred" and event.get("attempt") is not None:
        attributes["attempt"] = event["attempt"]
    if event_type == "group_unsubscribe" and event.get("asm_group_id") is not None:
        attributes["unsubscribe_group"] = event["asm_group_id"]
    custom = _custom_args(event)
    if custom:
        attributes["custom_args"] = custom
    return attributes


def canonical_record(event: Mapping[str, Any], event_type: str) -> dict[str, object]:
    """The canonical record of one SendGrid event whose type is in ``KINDS``.

    ``id`` is ``sg_event_id``, which SendGrid documents as unique to the event "that you
    can use for deduplication" (event.md l.765): it resends batches, and the ledger keeps
    one copy. An event without one gets the core's id derived from its content.

    Raises:
        RejectedRecordError: no e-mail, or no usable timestamp.
    """
    email = event.get("email")
    if email is None or email == "":
        raise RejectedRecordError("the SendGrid event has no email")
    record: dict[str, object] = {
        "kind": KINDS[event_type].value,
        "occurred_at": _occurred_at(event.get("timestamp")),
        "email": email,
        "attributes": _attributes(event, event_type),
    }
    if event.get("sg_event_id") not in (None, ""):
        record["id"] = event["sg_event_id"]
    if event_type == "click":
        record["url"] = event.get("url")
    return record
