"""Mailchimp's audience webhook: who subscribed, unsubscribed, changed, or was cleaned.

Mailchimp POSTs one event per request, form-encoded: ``type``, ``fired_at``
("2009-03-26 21:35:57", UTC) and ``data[...]`` (``data[email]``, ``data[list_id]``,
``data[merges][FNAME]``...), as its guide "Synchronize Audience Data with Webhooks"
shows (https://mailchimp.com/developer/marketing/guides/sync-audience-data-webhooks/).

A request is Mailchimp's when it carries what the configured secrets ask for: with
``MAILCHIMP_WEBHOOK_SECRET``, the ``X-Mailchimp-Signature: t=<unix>,v1=<hex>`` header,
``v1`` = HMAC-SHA256(secret, f"{t}.{raw body}") and ``t`` within ``max_age_s``; with
``MAILCHIMP_WEBHOOK_TOKEN``, ``?token=`` in the URL (what Mailchimp advised before it
signed, and all older webhooks have). Both set: both are checked.

Mailchimp checks a webhook's URL when it is saved: "While Mailchimp sends HTTP POST for
actual data, the webhook validator only sends HTTP GET requests" (its guide "About
Webhooks", https://developer.mailchimp.com/documentation/mailchimp/guides/about-webhooks/),
so the receiver says it answers GETs (``answers_get``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import parse_qsl

import orjson

from adapters.mailchimp.activity_events import subscriber_hash
from connector.errors import RejectedRecordError
from connector.ingest.canonical import to_event
from connector.model import EventKind
from connector.ports import Page, RejectedInput, WebhookRefusedError, WebhookRequest

__all__ = ["SIGNATURE_HEADER", "MailchimpWebhook", "signature_for"]

SIGNATURE_HEADER = "x-mailchimp-signature"
_TIMESTAMP = re.compile(r"\d{1,12}")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_FIRED_AT_FORMAT = "%Y-%m-%d %H:%M:%S"
_MAX_RAW_CHARS = 2_000
# A form with more fields than this is not an audience event (a member has a few dozen
# merge fields at most).
_MAX_FIELDS = 1_000
_KEY_PART = re.compile(r"\[([^\[\]]*)\]")
# Merge tags with a name of ours; other tags keep theirs, lower-cased.
_PROFILE_NAMES = {"FNAME": "first_name", "LNAME": "last_name", "PHONE": "phone"}
# The audience event types read; "campaign" (and any type Mailchimp adds) is skipped.
_READ_TYPES = frozenset({"subscribe", "unsubscribe", "profile", "upemail", "cleaned"})


def signature_for(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Mailchimp-Signature`` value Mailchimp sends for ``body`` at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def _form(body: bytes) -> dict[str, object]:
    """The form as nested objects: ``data[merges][FNAME]`` → ``{"data": {"merges": ...}}``."""
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=True,
            max_num_fields=_MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise RejectedRecordError("the body is not UTF-8 text") from None
    except ValueError:
        raise RejectedRecordError(
            "the body is not a form (application/x-www-form-urlencoded)"
        ) from None
    form: dict[str, object] = {}
    for name, value in pairs:
        head = name.split("[", 1)[0]
        path = [head, *_KEY_PART.findall(name[len(head) :])]
        node = form
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise RejectedRecordError(f"the form field {name[:80]!r} nests under a value")
            node = child
        node[path[-1]] = value
    return form


def _text(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _profile(merges: object) -> dict[str, object]:
    if not isinstance(merges, Mapping):
        return {}
    profile: dict[str, object] = {}
    for tag, value in merges.items():
        if tag == "EMAIL" or not isinstance(value, str) or not value:
            continue
        profile[_PROFILE_NAMES.get(tag, tag.lower())] = value
    return profile


def _event_id(kind: str, fired_at: str, list_id: str | None, who: str) -> str:
    content = orjson.dumps([kind, fired_at, list_id, who])
    return "mc-wh-" + hashlib.blake2b(content, digest_size=16).hexdigest()


class MailchimpWebhook:
    """The ``WebhookReceiver`` of one audience's webhook."""

    # Mailchimp validates the URL with a GET when the webhook is saved: the server
    # answers it 200 for receivers that say so.
    answers_get: ClassVar[bool] = True

    def __init__(self, name: str, *, secret: str | None, token: str | None) -> None:
        if secret is None and token is None:
            raise ValueError("a Mailchimp webhook needs a signing secret or a URL token")
        self.name = name
        self._secret = secret
        self._token = token

    def verify(self, request: WebhookRequest, *, max_age_s: float) -> None:
        """Check the signature and its time, and the URL's token, as configured.

        Raises:
            WebhookRefusedError: ``missing_signature``, ``bad_signature``,
                ``stale_timestamp``, ``missing_token`` or ``bad_token``.
        """
        if self._secret is not None:
            self._verify_signature(request, max_age_s, self._secret)
        if self._token is not None:
            sent = request.query.get("token")
            if not sent:
                raise WebhookRefusedError("missing_token", "the URL has no token= parameter")
            if not hmac.compare_digest(sent.encode(), self._token.encode()):
                raise WebhookRefusedError("bad_token", "the URL's token is not the configured one")

    @staticmethod
    def _verify_signature(request: WebhookRequest, max_age_s: float, secret: str) -> None:
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            raise WebhookRefusedError(
                "missing_signature", f"no {SIGNATURE_HEADER} header (is the webhook signed?)"
            )
        # "t=<unix>,v1=<hex>"; read as comma-separated pairs, as Mailchimp's own examples
        # search for each part, so a space or a later scheme beside v1 does not refuse it.
        parts = dict(pair.strip().split("=", 1) for pair in header.split(",") if "=" in pair)
        timestamp_text, sent = parts.get("t", ""), parts.get("v1", "")
        if not _TIMESTAMP.fullmatch(timestamp_text) or not _HEX_SIGNATURE.fullmatch(sent):
            raise WebhookRefusedError("bad_signature", f"{SIGNATURE_HEADER} is not t=…,v1=…")
        timestamp = int(timestamp_text)
        expected = signature_for(secret, timestamp, request.body).split("v1=", 1)[1]
        if not hmac.compare_digest(expected.encode(), sent.encode()):
            raise WebhookRefusedError("bad_signature", "the signature does not match the body")
        age_s = abs(request.received_at.timestamp() - timestamp)
        if age_s > max_age_s:
            raise WebhookRefusedError(
                "stale_timestamp",
                f"signed {age_s:.0f} s away from its arrival, more than {max_age_s:.0f} s",
            )

    def read(self, request: WebhookRequest) -> Page:
        """The request's event (Mailchimp sends one a request); a form that is not an
        audience event is one reject; types without a kind (``campaign``) are skipped."""
        try:
            if not request.body:
                raise RejectedRecordError("the body is empty")
            form = _form(request.body)
            record = self._record(form)
        except RejectedRecordError as exc:
            return Page(events=(), rejects=(self._reject(request, exc.reason),))
        if record is None:
            return Page(events=(), skipped=1)
        try:
            event = to_event(record, default_source=self.name)
        except RejectedRecordError as exc:
            return Page(events=(), rejects=(self._reject(request, exc.reason),))
        return Page(events=(event,))

    def _reject(self, request: WebhookRequest, reason: str) -> RejectedInput:
        raw = request.body[:_MAX_RAW_CHARS].decode("utf-8", "replace")
        return RejectedInput(self.name, f"webhook {self.name}", None, reason, raw)

    @staticmethod
    def _record(form: Mapping[str, object]) -> dict[str, object] | None:
        kind_text, fired_text = form.get("type"), form.get("fired_at")
        data = form.get("data")
        if not isinstance(kind_text, str) or not isinstance(data, Mapping):
            raise RejectedRecordError("not a Mailchimp audience event: no type or data[...]")
        if not isinstance(fired_text, str):
            raise RejectedRecordError("no fired_at")
        try:
            fired_at = datetime.strptime(fired_text, _FIRED_AT_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise RejectedRecordError(
                f"fired_at {fired_text[:40]!r} is not like 2009-03-26 21:35:57"
            ) from None
        if kind_text not in _READ_TYPES:
            return None  # "campaign" (a campaign was sent: no one person's event)
        list_id = _text(data, "list_id")
        attributes: dict[str, object] = {}
        if list_id is not None:
            attributes["list"] = list_id
        campaign = _text(data, "campaign_id")
        profile: dict[str, object] = {}
        if kind_text == "upemail":
            email, old_email = _text(data, "new_email"), _text(data, "old_email")
            if email is None or old_email is None:
                raise RejectedRecordError("an upemail event without new_email and old_email")
            # The old address's subscriber hash, which its earlier events carry, ties the
            # new address to the same contact.
            member_hash, who = subscriber_hash(old_email), f"{old_email} {email}"
            kind, attributes["form"] = EventKind.FORM_SUBMIT, "mailchimp upemail"
        else:
            email = _text(data, "email")
            if email is None:
                raise RejectedRecordError(f"a {kind_text[:20]} event without data[email]")
            member_hash, who = subscriber_hash(email), email
            if kind_text in ("subscribe", "profile"):
                kind, attributes["form"] = EventKind.FORM_SUBMIT, f"mailchimp {kind_text}"
                profile = _profile(data.get("merges"))
            elif kind_text == "unsubscribe":
                kind = EventKind.UNSUBSCRIBE
                for key in ("reason", "action"):
                    if _text(data, key) is not None:
                        attributes[key] = data[key]
            else:  # cleaned
                # Cleaned: Mailchimp removed the address for good (reason "hard": it
                # bounced; "abuse": a complaint); either way no mail reaches it again.
                kind, attributes["type"] = EventKind.BOUNCE, "hard"
                if _text(data, "reason") is not None:
                    attributes["reason"] = data["reason"]
        if campaign is not None:
            attributes["campaign"] = campaign
            attributes["message_id"] = f"{campaign}-{member_hash}"
        record: dict[str, object] = {
            "id": _event_id(kind_text, fired_text, list_id, who),
            "kind": kind.value,
            "occurred_at": fired_at.isoformat(),
            "email": email,
            "ids": {"mailchimp": member_hash},
            "attributes": attributes,
        }
        if profile:
            record["profile"] = profile
        return record
