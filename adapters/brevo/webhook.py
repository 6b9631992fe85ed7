"""Brevo's marketing webhook: the token check, then its events as canonical events.

Brevo signs nothing (no HMAC, no signed time): a request is Brevo's when it carries the
token Brevo was given at registration, as ``Authorization: Bearer <token>`` (``auth:
{type: "bearer", token}``) or in a header of our choosing (``headers: [{key, value}]``)
(developers.brevo.com/docs/username-and-password-authentication). Without a signed
time there is nothing to hold against ``max_age_s``; a replay stores nothing twice all
the same, since each event's id is built from what it says (``activity``).

A body is one event (an object) or, for a webhook registered with ``batched: true``, an
array of them; both are read.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from adapters.brevo.activity import Activity, CampaignActivity, activity_named
from connector.errors import RejectedRecordError
from connector.ingest.canonical import loads_exact, to_event
from connector.model import Event
from connector.ports import Page, RejectedInput, WebhookRefusedError, WebhookRequest

__all__ = ["BrevoWebhook", "activity_of"]

_MAX_RAW_CHARS = 2_000
_AUTHORIZATION = "authorization"
# Attributes kept as they come, when present (payload keys -> ours): why Brevo says an
# event happened, the campaign's tag, the IPs, and the opener's or clicker's user agent,
# which the machine-activity rules read (the marketing webhooks page lists none, but
# Brevo's transactional events carry ``user_agent``).
_KEPT = {
    "reason": "reason",
    "tag": "tag",
    "sending_ip": "sending_ip",
    "ip": "ip",
    "user_agent": "user_agent",
    "user-agent": "user_agent",
}


class BrevoWebhook:
    """``POST /webhooks/NAME`` for a Brevo marketing webhook."""

    def __init__(self, name: str, *, token: str, token_header: str | None, token_env: str):
        self.name = name
        self._token = token.encode()
        self._header = (token_header or _AUTHORIZATION).lower()
        self._is_bearer = token_header is None
        self._token_env = token_env
        self._location = f"webhook {name}"

    def verify(self, request: WebhookRequest, *, max_age_s: float) -> None:
        """Refuse a request without the registered token (constant-time compare).

        ``max_age_s`` is not used: Brevo sends no signed time to hold against it.
        """
        sent = request.headers.get(self._header)
        if not sent:
            raise WebhookRefusedError("missing_token", f"no {self._header} header")
        if self._is_bearer:
            scheme, _, sent = sent.strip().partition(" ")
            if scheme.lower() != "bearer" or not sent.strip():
                raise WebhookRefusedError("bad_token", "the Authorization header is not Bearer")
        if not hmac.compare_digest(sent.strip().encode(), self._token):
            raise WebhookRefusedError(
                "bad_token", f"the {self._header} token is not the one in {self._token_env}"
            )

    def read(self, request: WebhookRequest) -> Page:
        try:
            body = loads_exact(request.body)
        except orjson.JSONDecodeError as exc:
            return self._whole_body_rejected(request, f"the body is not JSON ({exc.msg})")
        if isinstance(body, dict):
            records: list[object] = [body]
        elif isinstance(body, list):
            records = body
        else:
            return self._whole_body_rejected(
                request, "the body is neither a Brevo event (an object) nor an array of them"
            )
        events: list[Event] = []
        rejects: list[RejectedInput] = []
        skipped = 0
        seen: set[str] = set()
        for line, record in enumerate(records, start=1):
            try:
                activity = activity_of(record)
                if activity is None:
                    skipped += 1
                    continue
                event = to_event(activity.record(), default_source=self.name)
            except RejectedRecordError as exc:
                rejects.append(self._reject(line, exc.reason, _raw(record)))
                continue
            if event.source_event_id not in seen:  # the same event twice in one batch: stored once
                seen.add(event.source_event_id)
                events.append(event)
        return Page(tuple(events), tuple(rejects), bytes_read=len(request.body), skipped=skipped)

    def _whole_body_rejected(self, request: WebhookRequest, reason: str) -> Page:
        raw = request.body[:_MAX_RAW_CHARS].decode("utf-8", errors="replace")
        return Page((), (self._reject(None, reason, raw),), bytes_read=len(request.body))

    def _reject(self, line: int | None, reason: str, raw: str) -> RejectedInput:
        return RejectedInput(self.name, self._location, line, reason, raw[:_MAX_RAW_CHARS])


def _raw(record: object) -> str:
    try:
        return orjson.dumps(record).decode()[:_MAX_RAW_CHARS]
    except TypeError:  # an integer past 64 bits: readable all the same
        return repr(record)[:_MAX_RAW_CHARS]


def _integer(value: object) -> int | None:
    """A whole number Brevo sent, as a number or in digits (an id, Unix seconds)."""
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return None


def activity_of(record: object) -> CampaignActivity | None:
    """What one marketing webhook event says; None for an event leadsync does not keep.

    Raises:
        RejectedRecordError: the event lacks what identifies it.
    """
    if not isinstance(record, dict):
        raise RejectedRecordError(f"an event must be an object, got {type(record).__name__}")
    fields: Mapping[str, Any] = record
    name = fields.get("event")
    if not isinstance(name, str) or not name:
        raise RejectedRecordError("missing event (Brevo's event name)")
    activity = activity_named(name)
    if activity is None:
        return None
    campaign_id = _integer(fields.get("camp_id"))
    if campaign_id is None:
        hint = (
            "; this is a transactional event: register the webhook with type marketing"
            if "camp_id" not in fields and ("message-id" in fields or "message_id" in fields)
            else ""
        )
        raise RejectedRecordError(f"camp_id (the campaign's id) must be an integer{hint}")
    email = fields.get("email")
    if not isinstance(email, str) or not email.strip():
        raise RejectedRecordError("missing email")
    seconds = _integer(fields.get("ts_event"))
    if seconds is None:
        raise RejectedRecordError(
            "ts_event (the event's time, Unix seconds UTC) must be an integer"
        )
    try:
        occurred_at = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise RejectedRecordError(f"ts_event {seconds} is not a time") from None
    url = fields.get("URL", fields.get("url"))
    if activity is Activity.CLICK and (not isinstance(url, str) or not url):
        raise RejectedRecordError("a click without its URL")
    name_of_campaign = fields.get("campaign name")
    extra = tuple(
        (ours, value)
        for theirs, ours in _KEPT.items()
        if isinstance(value := fields.get(theirs), str) and value
    )
    return CampaignActivity(
        activity,
        campaign_id,
        email,
        occurred_at,
        url=url if isinstance(url, str) and url else None,
        campaign_name=name_of_campaign.strip()
        if isinstance(name_of_campaign, str) and name_of_campaign.strip()
        else None,
        extra=extra,
    )
