"""One Brevo campaign activity (an open, a click, a bounce...) as a canonical record, with
the one event id the webhook and the backfill both give it.

Brevo's marketing events carry no event id of their own: a webhook payload's ``id`` is
the webhook's ("Internal id of webhook", developers.brevo.com/docs/marketing-webhooks),
the same on every event it sends. What tells one event from another is the campaign, the
recipient, what happened, when (to the second) and, for a click, the link. The id is
built from exactly those, so Brevo resending a webhook stores nothing twice, and the
backfill, which reads the same facts from ``GET /contacts/{id}/campaignStats``
(``campaignId``, ``eventTime``, ``url``), finds the event the webhook stored:

    brevo:<campaign>:<what>:<unix seconds>:<blake2b of e-mail and URL, 16 hex>

(the e-mail is hashed to keep the id short and free of personal data).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from connector.model import EventKind

__all__ = [
    "MACHINE_PROXY_OPEN",
    "Activity",
    "CampaignActivity",
    "activity_named",
]

# attributes.machine of an open Brevo itself reports as a proxy's (Apple Mail Privacy
# Protection fetches every image of every message, whether the person reads it or not).
MACHINE_PROXY_OPEN = "brevo proxy open"


class Activity(StrEnum):
    """What happened, in the words the event id is built from."""

    SENT = "sent"
    DELIVERED = "delivered"
    OPEN = "open"
    PROXY_OPEN = "proxy_open"
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    SPAM = "spam"


_KINDS: dict[Activity, EventKind] = {
    Activity.SENT: EventKind.EMAIL_SENT,
    Activity.DELIVERED: EventKind.EMAIL_DELIVERED,
    Activity.OPEN: EventKind.EMAIL_OPEN,
    Activity.PROXY_OPEN: EventKind.EMAIL_OPEN,
    Activity.CLICK: EventKind.EMAIL_CLICK,
    Activity.UNSUBSCRIBE: EventKind.UNSUBSCRIBE,
    Activity.HARD_BOUNCE: EventKind.BOUNCE,
    Activity.SOFT_BOUNCE: EventKind.BOUNCE,
    Activity.SPAM: EventKind.SPAM_REPORT,
}
_BOUNCE_TYPES = {Activity.HARD_BOUNCE: "hard", Activity.SOFT_BOUNCE: "soft"}

# Brevo's names for an event differ between where a webhook is registered (``events``:
# ``hardBounce``, ``unsubscribed``, ``click``) and what its payloads say (the marketing
# webhooks page shows ``"event": "opened"``, ``"spam"``; bounces arrive as
# ``hard_bounce``/``soft_bounce``, the proxy open as ``proxy_open``, per Brevo's changelog
# of 2025-04-08). Names are compared without case, ``_``, ``-`` or spaces, so each of
# those spellings is read.
_NAMES: dict[str, Activity] = {
    "sent": Activity.SENT,
    "delivered": Activity.DELIVERED,
    "opened": Activity.OPEN,
    "open": Activity.OPEN,
    "proxyopen": Activity.PROXY_OPEN,
    "click": Activity.CLICK,
    "clicked": Activity.CLICK,
    "unsubscribe": Activity.UNSUBSCRIBE,
    "unsubscribed": Activity.UNSUBSCRIBE,
    "hardbounce": Activity.HARD_BOUNCE,
    "hardbounced": Activity.HARD_BOUNCE,
    "softbounce": Activity.SOFT_BOUNCE,
    "softbounced": Activity.SOFT_BOUNCE,
    "spam": Activity.SPAM,
}
_SPELLING = str.maketrans("", "", "_- ")


def activity_named(name: str) -> Activity | None:
    """The activity a Brevo event name means; None for one leadsync does not keep
    (``listAddition``, ``contactUpdated``, a coupon sent...)."""
    return _NAMES.get(name.lower().translate(_SPELLING))


def _id_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class CampaignActivity:
    """What one Brevo event says, read from a webhook payload or a contact's statistics."""

    activity: Activity
    campaign_id: int | None  # None: an unsubscribe made outside a campaign
    email: str
    occurred_at: datetime  # UTC, to the second (Brevo gives no finer time)
    url: str | None = None
    campaign_name: str | None = None
    contact_id: str | None = None  # Brevo's contact id, where the data gives it
    extra: tuple[tuple[str, str | int], ...] = ()  # more attributes: reason, tag, ip...

    @property
    def event_id(self) -> str:
        seconds = int(self.occurred_at.timestamp())
        who = f"{_id_email(self.email)}\n{self.url or ''}".encode()
        digest = hashlib.blake2b(who, digest_size=8).hexdigest()
        campaign = "-" if self.campaign_id is None else self.campaign_id
        return f"brevo:{campaign}:{self.activity.value}:{seconds}:{digest}"

    @property
    def message_id(self) -> str | None:
        """The message this event is about: a campaign sends one message per recipient, so
        the campaign and the e-mail name it (its delivery, opens and clicks share it)."""
        if self.campaign_id is None:
            return None
        return f"{self.campaign_id}:{_id_email(self.email)}"

    def record(self) -> dict[str, object]:
        """The canonical record, for ``connector.ingest.canonical.to_event``."""
        attributes: dict[str, object] = {}
        if self.campaign_id is not None:
            attributes["message_id"] = self.message_id
            attributes["campaign"] = str(self.campaign_id)
        if self.campaign_name:
            attributes["campaign_name"] = self.campaign_name
        bounce_type = _BOUNCE_TYPES.get(self.activity)
        if bounce_type:
            attributes["type"] = bounce_type
        if self.activity is Activity.PROXY_OPEN:
            attributes["machine"] = MACHINE_PROXY_OPEN
        for key, value in self.extra:
            attributes.setdefault(key, value)
        record: dict[str, object] = {
            "id": self.event_id,
            "kind": _KINDS[self.activity].value,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat(),
            "email": self.email,
            "attributes": attributes,
        }
        if self.url:
            record["url"] = self.url
        if self.contact_id:
            record["ids"] = {"brevo": self.contact_id}
        return record
