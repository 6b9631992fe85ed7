"""SendGrid's Signed Event Webhook: the ECDSA check of a request, then its events.

SendGrid signs ``timestamp + body`` with ECDSA P-256 / SHA-256 and sends the base64 DER
signature and the timestamp in two headers; the payload "must be used in its raw bytes
form" (sendgrid/docs ``getting-started-event-webhook-security-features.md`` l.80-136).
The check is the official client's (``sendgrid.helpers.eventwebhook.EventWebhook``).
"""

from __future__ import annotations

import binascii
from typing import Any

import orjson
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import (
    EventWebhookHeader,
)

from adapters.sendgrid.events import KINDS, canonical_record
from adapters.sendgrid.settings import SendGridSettings
from connector.errors import RejectedRecordError
from connector.ingest.canonical import loads_exact, to_event
from connector.model import Event
from connector.ports import Page, RejectedInput, WebhookRefusedError, WebhookRequest

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "SendGridReceiver"]

# The server hands headers lower-cased.
SIGNATURE_HEADER: str = EventWebhookHeader.SIGNATURE.lower()
TIMESTAMP_HEADER: str = EventWebhookHeader.TIMESTAMP.lower()
_MAX_RAW_CHARS = 2_000


class SendGridReceiver:
    """``POST /webhooks/NAME`` for one SendGrid account's Event Webhook."""

    def __init__(self, name: str, settings: SendGridSettings) -> None:
        self.name = name
        # Parsed once: the settings model has already proved it is a P-256 key.
        self._verifier = EventWebhook(settings.webhook_public_key)

    def verify(self, request: WebhookRequest, *, max_age_s: float) -> None:
        """Refuse a request SendGrid did not sign, or signed longer than ``max_age_s``
        before (or after) it arrived.

        The signature is checked before the time, so ``stale_timestamp`` only ever names a
        request SendGrid did sign: a replay, or a clock that is off.

        Raises:
            WebhookRefusedError: ``missing_signature``, ``bad_timestamp`` (the signed
                timestamp is not Unix seconds), ``bad_signature``, ``stale_timestamp``.
        """
        signature = request.headers.get(SIGNATURE_HEADER, "")
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        if not signature or not timestamp:
            missing = " and ".join(
                header
                for header, value in (
                    (EventWebhookHeader.SIGNATURE, signature),
                    (EventWebhookHeader.TIMESTAMP, timestamp),
                )
                if not value
            )
            raise WebhookRefusedError(
                "missing_signature",
                f"no {missing} header: turn on Signed Event Webhook for this webhook in "
                "SendGrid (Settings → Mail Settings → Event Webhooks)",
            )
        if not timestamp.isascii() or not timestamp.isdigit():
            raise WebhookRefusedError(
                "bad_timestamp", f"the {EventWebhookHeader.TIMESTAMP} header is not Unix seconds"
            )
        try:
            # The verifier takes text and encodes it as UTF-8 again: for text that decodes
            # strictly, those are the very bytes SendGrid signed.
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookRefusedError(
                "bad_signature", "the body is not UTF-8, so it is not SendGrid's signed JSON"
            ) from None
        try:
            is_signed = bool(self._verifier.verify_signature(body, signature, timestamp))
        except (binascii.Error, ValueError):
            is_signed = False  # the signature header is not base64
        if not is_signed:
            raise WebhookRefusedError(
                "bad_signature",
                "the signature does not verify with webhook_public_key over the timestamp "
                "and body: another sender, a changed body, or the key of another webhook",
            )
        age_s = request.received_at.timestamp() - int(timestamp)
        if abs(age_s) > max_age_s:
            when = "before" if age_s > 0 else "after"
            raise WebhookRefusedError(
                "stale_timestamp",
                f"signed more than [serve] max_age_s ({max_age_s:g} s) {when} it arrived: "
                "a replay, or this host's clock is off",
            )

    def read(self, request: WebhookRequest) -> Page:
        """The events of a verified batch, a reject for each event that cannot be read,
        and the events of types not taken (``group_resubscribe``, new ones) as skipped."""
        batch = self._batch(request)
        if isinstance(batch, RejectedInput):
            return Page(events=(), rejects=(batch,), bytes_read=len(request.body))
        events: list[Event] = []
        rejects: list[RejectedInput] = []
        skipped = 0
        for position, item in enumerate(batch, start=1):
            try:
                event = self._event(item)
            except RejectedRecordError as error:
                rejects.append(self._reject(str(error), _raw(item), position))
                continue
            if event is None:
                skipped += 1
            else:
                events.append(event)
        return Page(events=events, rejects=rejects, bytes_read=len(request.body), skipped=skipped)

    def _batch(self, request: WebhookRequest) -> list[Any] | RejectedInput:
        raw = request.body[:_MAX_RAW_CHARS].decode("utf-8", "replace")
        try:
            batch = loads_exact(request.body)
        except orjson.JSONDecodeError as error:
            return self._reject(f"the body is not JSON ({error})", raw, None)
        if not isinstance(batch, list):
            return self._reject(
                f"the body is a JSON {type(batch).__name__}, not the array of events "
                "SendGrid sends",
                raw,
                None,
            )
        return batch

    def _event(self, item: object) -> Event | None:
        if not isinstance(item, dict):
            raise RejectedRecordError(f"an event must be a JSON object, got {_json_type(item)}")
        event_type = item.get("event")
        if event_type is None or event_type == "":
            raise RejectedRecordError("the SendGrid event has no event type (event)")
        if not isinstance(event_type, str):
            raise RejectedRecordError(f"event must be a string, got {_json_type(event_type)}")
        if event_type not in KINDS:
            return None
        return to_event(canonical_record(item, event_type), default_source=self.name)

    def _reject(self, reason: str, raw: str, line: int | None) -> RejectedInput:
        return RejectedInput(
            source=self.name, location=f"webhook {self.name}", line=line, reason=reason, raw=raw
        )


def _raw(item: object) -> str:
    try:
        text = orjson.dumps(item).decode()
    except TypeError:  # an integer past 64 bits, which orjson does not write
        text = repr(item)
    return text[:_MAX_RAW_CHARS]


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")
