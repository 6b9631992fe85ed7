"""Mailchimp's audience webhook: who may post (HMAC signature, URL token), and what each
audience event becomes. Bodies are the fixtures under tests/fixtures/mailchimp/webhooks."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from adapters.mailchimp.webhook import MailchimpWebhook, signature_for
from connector.ports import WebhookReceiver, WebhookRefusedError, WebhookRequest
from tests.adapters.mailchimp_fake import FIXTURES

SECRET = "whsec-0123456789abcdef"
TOKEN = "tok-3f9a2b7c"
ARRIVED = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
MAX_AGE_S = 600.0


def body(name: str) -> bytes:
    return (FIXTURES / "webhooks" / f"{name}.txt").read_bytes()


def request(
    raw: bytes,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    at: datetime = ARRIVED,
) -> WebhookRequest:
    return WebhookRequest(
        body=raw,
        headers={"content-type": "application/x-www-form-urlencoded", **(headers or {})},
        query=query or {},
        received_at=at,
    )


def signed(raw: bytes, *, at: datetime = ARRIVED, secret: str = SECRET) -> dict[str, str]:
    return {"x-mailchimp-signature": signature_for(secret, int(at.timestamp()), raw)}


def md5(email: str) -> str:
    return hashlib.md5(email.encode(), usedforsecurity=False).hexdigest()


def refusal(receiver: MailchimpWebhook, req: WebhookRequest) -> str:
    with pytest.raises(WebhookRefusedError) as caught:
        receiver.verify(req, max_age_s=MAX_AGE_S)
    return caught.value.reason


class TestSignature:
    receiver = MailchimpWebhook("audience", secret=SECRET, token=None)

    def test_it_is_a_webhook_receiver_that_answers_gets(self) -> None:
        """Mailchimp checks the URL with a GET when the webhook is saved."""
        assert isinstance(self.receiver, WebhookReceiver)
        assert MailchimpWebhook.answers_get is True

    def test_a_signed_request_passes(self) -> None:
        raw = body("subscribe")
        self.receiver.verify(request(raw, headers=signed(raw)), max_age_s=MAX_AGE_S)

    def test_the_signature_is_hmac_sha256_over_time_dot_body(self) -> None:
        """Computed as Mailchimp's guide says, apart from our helper."""
        import hmac as hmac_module

        raw = body("subscribe")
        t = int(ARRIVED.timestamp())
        hexdigest = hmac_module.new(SECRET.encode(), f"{t}.".encode() + raw, "sha256").hexdigest()
        header = {"x-mailchimp-signature": f"t={t},v1={hexdigest}"}
        self.receiver.verify(request(raw, headers=header), max_age_s=MAX_AGE_S)

    def test_spaces_and_other_schemes_beside_v1_are_read(self) -> None:
        raw = body("subscribe")
        t, v1 = signed(raw)["x-mailchimp-signature"].split(",")
        header = {"x-mailchimp-signature": f"{t}, {v1}, v2=0123"}
        self.receiver.verify(request(raw, headers=header), max_age_s=MAX_AGE_S)

    def test_forged_unsigned_stale_and_malformed_requests_are_refused(self) -> None:
        raw = body("subscribe")
        old = ARRIVED - timedelta(seconds=MAX_AGE_S + 1)
        tampered = raw.replace(b"Mailchimp", b"Mallory")
        assert [
            refusal(self.receiver, request(raw)),
            refusal(self.receiver, request(raw, headers=signed(raw, secret="another"))),
            refusal(self.receiver, request(tampered, headers=signed(raw))),
            refusal(self.receiver, request(raw, headers=signed(raw, at=old))),
            refusal(self.receiver, request(raw, headers={"x-mailchimp-signature": "v1=abc"})),
        ] == ["missing_signature", "bad_signature", "bad_signature", "stale_timestamp",
              "bad_signature"]  # fmt: skip

    def test_a_refusal_holds_neither_the_secret_nor_what_was_sent(self) -> None:
        raw = body("subscribe")
        header = signed(raw, secret="another")
        with pytest.raises(WebhookRefusedError) as caught:
            self.receiver.verify(request(raw, headers=header), max_age_s=MAX_AGE_S)
        text = f"{caught.value.reason} {caught.value.detail}"
        assert SECRET not in text
        assert header["x-mailchimp-signature"].split("v1=")[1] not in text

    def test_a_signed_time_within_the_window_either_way_passes(self) -> None:
        raw = body("subscribe")
        for skew in (-MAX_AGE_S + 1, MAX_AGE_S - 1):
            at = ARRIVED + timedelta(seconds=skew)
            self.receiver.verify(request(raw, headers=signed(raw, at=at)), max_age_s=MAX_AGE_S)

    def test_a_replay_within_the_window_reads_the_same_event_id(self) -> None:
        """The ledger's dedupe then stores it once."""
        raw = body("subscribe")
        first = self.receiver.read(request(raw, headers=signed(raw)))
        again = self.receiver.read(
            request(raw, headers=signed(raw, at=ARRIVED + timedelta(seconds=30)))
        )
        assert [e.source_event_id for e in first.events] == [
            e.source_event_id for e in again.events
        ]


class TestToken:
    receiver = MailchimpWebhook("audience", secret=None, token=TOKEN)

    def test_the_url_token_lets_a_request_in(self) -> None:
        self.receiver.verify(
            request(body("subscribe"), query={"token": TOKEN}), max_age_s=MAX_AGE_S
        )

    def test_a_missing_or_wrong_token_is_refused(self) -> None:
        raw = body("subscribe")
        assert [
            refusal(self.receiver, request(raw)),
            refusal(self.receiver, request(raw, query={"token": TOKEN + "x"})),
            refusal(self.receiver, request(raw, query={"token": ""})),
        ] == ["missing_token", "bad_token", "missing_token"]

    def test_with_both_configured_both_are_required(self) -> None:
        both = MailchimpWebhook("audience", secret=SECRET, token=TOKEN)
        raw = body("subscribe")
        both.verify(request(raw, headers=signed(raw), query={"token": TOKEN}), max_age_s=MAX_AGE_S)
        assert refusal(both, request(raw, headers=signed(raw))) == "missing_token"
        assert refusal(both, request(raw, query={"token": TOKEN})) == "missing_signature"

    def test_an_empty_post_is_checked_like_any_other(self) -> None:
        """Mailchimp validates a URL with a GET, never an empty POST: one without the token
        is refused, and one with it is a reject (stored as such, nothing else)."""
        assert refusal(self.receiver, request(b"")) == "missing_token"
        page = self.receiver.read(request(b"", query={"token": TOKEN}))
        assert [r.reason for r in page.rejects] == ["the body is empty"]
        assert list(page.events) == []


class TestEvents:
    receiver = MailchimpWebhook("audience", secret=None, token=TOKEN)

    def event(self, name: str) -> tuple[object, ...]:
        page = self.receiver.read(request(body(name), query={"token": TOKEN}))
        assert list(page.rejects) == []
        [e] = page.events
        return (e.source, e.kind.value, e.occurred_at, e.email, dict(e.ids), dict(e.attributes),
                dict(e.profile))  # fmt: skip

    def test_subscribe_is_a_form_submission_with_the_profile(self) -> None:
        assert self.event("subscribe") == (
            "audience", "form_submit", datetime(2009, 3, 26, 21, 35, 57, tzinfo=UTC),
            "api@mailchimp.com", {"mailchimp": md5("api@mailchimp.com")},
            {"form": "mailchimp subscribe", "list": "a6b5da1054"},
            {"first_name": "Mailchimp", "last_name": "API", "interests": "Group1,Group2"},
        )  # fmt: skip

    def test_unsubscribe_keeps_its_campaign_and_reason(self) -> None:
        member = md5("api+unsub@mailchimp.com")
        assert self.event("unsubscribe") == (
            "audience", "unsubscribe", datetime(2009, 3, 26, 21, 40, 57, tzinfo=UTC),
            "api+unsub@mailchimp.com", {"mailchimp": member},
            {"list": "a6b5da1054", "reason": "manual", "action": "unsub",
             "campaign": "cb398d21d2", "message_id": f"cb398d21d2-{member}"},
            {},
        )  # fmt: skip

    def test_profile_carries_the_merge_fields(self) -> None:
        assert self.event("profile") == (
            "audience", "form_submit", datetime(2009, 3, 26, 21, 31, 21, tzinfo=UTC),
            "api@mailchimp.com", {"mailchimp": md5("api@mailchimp.com")},
            {"form": "mailchimp profile", "list": "a6b5da1054"},
            {"first_name": "Mailchimp", "last_name": "API", "company": "Acme",
             "interests": "Group1,Group2"},
        )  # fmt: skip

    def test_upemail_ties_the_new_address_to_the_old_subscriber_hash(self) -> None:
        assert self.event("upemail") == (
            "audience", "form_submit", datetime(2009, 3, 26, 22, 15, 9, tzinfo=UTC),
            "api+new@mailchimp.com", {"mailchimp": md5("api+old@mailchimp.com")},
            {"form": "mailchimp upemail", "list": "a6b5da1054"},
            {},
        )  # fmt: skip

    def test_cleaned_is_a_hard_bounce(self) -> None:
        member = md5("api+cleaned@mailchimp.com")
        assert self.event("cleaned") == (
            "audience", "bounce", datetime(2009, 3, 26, 22, 1, tzinfo=UTC),
            "api+cleaned@mailchimp.com", {"mailchimp": member},
            {"list": "a6b5da1054", "type": "hard", "reason": "hard",
             "campaign": "4fjk2ma9xd", "message_id": f"4fjk2ma9xd-{member}"},
            {},
        )  # fmt: skip

    def test_a_campaign_event_is_skipped(self) -> None:
        page = self.receiver.read(request(body("campaign"), query={"token": TOKEN}))
        assert (list(page.events), list(page.rejects), page.skipped) == ([], [], 1)

    def test_each_event_has_a_stable_id_of_its_own(self) -> None:
        names = ("subscribe", "unsubscribe", "profile", "upemail", "cleaned")
        ids = [self.receiver.read(request(body(n))).events[0].source_event_id for n in names]
        again = [self.receiver.read(request(body(n))).events[0].source_event_id for n in names]
        assert ids == again
        assert len(set(ids)) == len(names)
        assert all(event_id.startswith("mc-wh-") for event_id in ids)


class TestUnreadable:
    receiver = MailchimpWebhook("audience", secret=None, token=TOKEN)

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            (b'{"type": "subscribe"}',
             "the body is not a form (application/x-www-form-urlencoded)"),
            (b"\xff\xfe=1", "the body is not UTF-8 text"),
            (b"hello=world", "not a Mailchimp audience event: no type or data[...]"),
            (b"type=subscribe&data%5Bemail%5D=a%40b.example&fired_at=yesterday",
             "fired_at 'yesterday' is not like 2009-03-26 21:35:57"),
            (b"type=subscribe&fired_at=2009-03-26+21%3A35%3A57&data%5Blist_id%5D=x",
             "a subscribe event without data[email]"),
            (b"type=subscribe&fired_at=2009-03-26+21%3A35%3A57&data%5Bemail%5D=not-an-email",
             "invalid e-mail 'not-an-email'"),
            (b"type=x&data=1&data%5Bemail%5D=a",
             "the form field 'data[email]' nests under a value"),
        ],
    )  # fmt: skip
    def test_a_body_that_is_not_an_audience_event_is_one_reject(
        self, raw: bytes, reason: str
    ) -> None:
        page = self.receiver.read(request(raw))
        assert list(page.events) == []
        assert [(r.source, r.location, r.line, r.reason, r.raw) for r in page.rejects] == [
            ("audience", "webhook audience", None, reason, raw.decode("utf-8", "replace"))
        ]
