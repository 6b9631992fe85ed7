"""Mailjet's Event API webhook: basic auth checked, then the events of the body.

Mailjet signs nothing. Its guide "strongly recommend[s] using a secure (HTTPS) URL in
combination with a basic authentication", the user and password written into the
callback URL (``https://user:pass@host/path``), so the request carries them in its
``Authorization: Basic`` header (``guides/_event-api.md``, "Endpoint URL"). Without a
signed time there is no replay window to check: a replayed request holds events the
ledger already has, and stores nothing twice.

Version 2 callbacks post a JSON array, "all the events of the last second for the same
webhook URL", of mixed types; version 1 posts one event object. Both are read.
"""

from __future__ import annotations

import base64
import binascii
import hmac

import orjson

from adapters.mailjet.events import webhook_record
from adapters.mailjet.settings import WebhookCredentials
from connector.errors import RejectedRecordError
from connector.ingest.canonical import dumps_exact, loads_exact, to_event
from connector.model import Event
from connector.ports import Page, RejectedInput, WebhookRefusedError, WebhookRequest

__all__ = ["MAX_RAW_CHARS", "MailjetWebhook"]

# A reject keeps this much of the record's text: enough to read it, not a whole batch.
MAX_RAW_CHARS = 2_000
_BASIC = "basic "


class MailjetWebhook:
    """``POST /webhooks/NAME`` for Mailjet's Event API."""

    def __init__(self, name: str, credentials: WebhookCredentials) -> None:
        self.name = name
        self._user = credentials.user.get_secret_value().encode()
        self._password = credentials.password.get_secret_value().encode()

    def verify(self, request: WebhookRequest, *, max_age_s: float) -> None:
        """Check the basic auth of the callback URL; ``max_age_s`` does not apply (Mailjet
        sends no signed time).

        Raises:
            WebhookRefusedError: ``missing_credentials`` (no Basic authorization header),
                ``bad_password`` (a user or password that is not ours, or unreadable).
        """
        header = request.headers.get("authorization", "")
        if header[: len(_BASIC)].lower() != _BASIC:
            raise WebhookRefusedError(
                "missing_credentials",
                "no Authorization: Basic header; register the callback URL as "
                "https://USER:PASSWORD@HOST/webhooks/" + self.name,
            )
        try:
            decoded = base64.b64decode(header[len(_BASIC) :].strip(), validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        user, colon, password = decoded.partition(b":")
        # Both compared every time, in constant time: the answer tells nothing of which
        # one was wrong, nor how much of it.
        user_matches = hmac.compare_digest(user, self._user)
        password_matches = hmac.compare_digest(password, self._password)
        if not (colon and user_matches and password_matches):
            raise WebhookRefusedError(
                "bad_password",
                "the basic auth user or password is not the one in "
                "[sources." + self.name + "]'s variables",
            )

    def read(self, request: WebhookRequest) -> Page:
        """The events of the body; a reject per record that cannot be read, or one for a
        body that is not a JSON object or array; unmapped event types are skipped."""
        try:
            body = loads_exact(request.body)
        except orjson.JSONDecodeError as exc:
            return Page((), [self._reject(None, f"the body is not JSON: {exc}", request.body)])
        if isinstance(body, dict):
            records: list[object] = [body]  # Event API version 1: one event per request
        elif isinstance(body, list):
            records = body
        else:
            return Page(
                (),
                [
                    self._reject(
                        None,
                        "the body is neither a JSON array of events (Event API version 2) "
                        f"nor one event object (version 1), but a {type(body).__name__}",
                        request.body,
                    )
                ],
            )
        events: list[Event] = []
        rejects: list[RejectedInput] = []
        skipped = 0
        for line, payload in enumerate(records, start=1):
            if not isinstance(payload, dict):
                reason = f"the event is not a JSON object (got {type(payload).__name__})"
                rejects.append(self._reject(line, reason, dumps_exact(payload)))
                continue
            try:
                record = webhook_record(payload)
                if record is None:
                    skipped += 1
                    continue
                events.append(to_event(record, default_source=self.name))
            except RejectedRecordError as exc:
                rejects.append(self._reject(line, exc.reason, dumps_exact(payload)))
        return Page(events, rejects, skipped=skipped)

    def _reject(self, line: int | None, reason: str, raw: bytes) -> RejectedInput:
        text = raw[: MAX_RAW_CHARS * 4].decode("utf-8", "replace")[:MAX_RAW_CHARS]
        return RejectedInput(self.name, f"webhook {self.name}", line, reason, text)
