"""Brevo's marketing webhook: the token check, and its payloads (tests/fixtures/brevo/,
written from Brevo's marketing webhooks page) as canonical events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.brevo.webhook import BrevoWebhook
from connector.model import EventKind
from connector.ports import WebhookReceiver, WebhookRefusedError, WebhookRequest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "brevo"
TOKEN = "brevo-webhook-token-7f3a9c"
MARKETING_EVENTS: list[dict[str, object]] = json.loads(
    (FIXTURES / "marketing_events.json").read_text()
)


def request(body: bytes | object, **headers: str) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return WebhookRequest(
        body=raw,
        headers={name.lower().replace("_", "-"): value for name, value in headers.items()},
        query={},
        received_at=datetime(2026, 11, 2, 12, tzinfo=UTC),
    )


def bearer_webhook() -> BrevoWebhook:
    return BrevoWebhook("brevo", token=TOKEN, token_header=None, token_env="BREVO_WEBHOOK_TOKEN")


def event_named(name: str) -> dict[str, object]:
    return next(event for event in MARKETING_EVENTS if event["event"] == name)


# -- the token ------------------------------------------------------------------------------


def test_a_request_with_the_bearer_token_is_taken() -> None:
    bearer_webhook().verify(request(b"{}", authorization=f"Bearer {TOKEN}"), max_age_s=600)
    bearer_webhook().verify(request(b"{}", authorization=f"bearer  {TOKEN} "), max_age_s=600)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_token"),
        ({"authorization": ""}, "missing_token"),
        ({"authorization": "Bearer wrong-token"}, "bad_token"),
        ({"authorization": f"Basic {TOKEN}"}, "bad_token"),
        ({"authorization": "Bearer"}, "bad_token"),
        ({"authorization": f"Bearer {TOKEN}x"}, "bad_token"),
        ({"x-leadsync-token": TOKEN}, "missing_token"),  # the right token, the wrong place
    ],
)
def test_a_request_without_the_token_is_refused_and_says_neither_token(
    headers: dict[str, str], reason: str
) -> None:
    with pytest.raises(WebhookRefusedError) as refused:
        bearer_webhook().verify(request(b"{}", **headers), max_age_s=600)
    assert refused.value.reason == reason
    assert TOKEN not in refused.value.detail
    assert "wrong-token" not in refused.value.detail


def test_the_token_in_a_custom_header() -> None:
    webhook = BrevoWebhook(
        "brevo", token=TOKEN, token_header="X-Leadsync-Token", token_env="BREVO_WEBHOOK_TOKEN"
    )
    webhook.verify(request(b"{}", x_leadsync_token=TOKEN), max_age_s=600)
    with pytest.raises(WebhookRefusedError) as refused:
        webhook.verify(request(b"{}", x_leadsync_token="nope"), max_age_s=600)
    assert refused.value.reason == "bad_token"
    with pytest.raises(WebhookRefusedError) as missing:
        webhook.verify(request(b"{}", authorization=f"Bearer {TOKEN}"), max_age_s=600)
    assert missing.value.reason == "missing_token"


# -- the events -----------------------------------------------------------------------------


def test_one_event_per_post() -> None:
    page = bearer_webhook().read(request(event_named("opened")))
    assert page.rejects == ()
    assert page.skipped == 0
    (event,) = page.events
    assert event.source == "brevo"
    assert event.kind is EventKind.EMAIL_OPEN
    assert event.occurred_at == datetime(2026, 11, 2, 10, 12, tzinfo=UTC)
    assert event.email == "alice@acme.example"
    assert event.attributes["campaign"] == "21"
    assert event.attributes["campaign_name"] == "Q4 newsletter"
    assert event.attributes["message_id"] == "21:alice@acme.example"
    assert "machine" not in event.attributes
    assert event.source_event_id.startswith("brevo:21:open:1793614320:")


def test_a_batch_of_every_kind() -> None:
    page = bearer_webhook().read(request(MARKETING_EVENTS))
    assert page.rejects == ()
    assert page.skipped == 1  # the list addition is not an e-mail event
    kinds = [(event.kind, event.email) for event in page.events]
    assert kinds == [
        (EventKind.EMAIL_DELIVERED, "alice@acme.example"),
        (EventKind.EMAIL_OPEN, "alice@acme.example"),
        (EventKind.EMAIL_OPEN, "alice@acme.example"),
        (EventKind.EMAIL_CLICK, "alice@acme.example"),
        (EventKind.BOUNCE, "bob@acme.example"),
        (EventKind.BOUNCE, "carol@acme.example"),
        (EventKind.SPAM_REPORT, "dave@acme.example"),
        (EventKind.UNSUBSCRIBE, "erin@acme.example"),
    ]
    delivered, opened, proxy_open, click, hard, soft, spam, _ = page.events
    # Apple's proxy open is an open, marked as the machine's by Brevo's own flag.
    assert proxy_open.attributes["machine"] == "brevo proxy open"
    assert click.url == "https://acme.example/pricing"
    assert hard.attributes["type"] == "hard"
    assert soft.attributes["type"] == "soft"
    assert spam.attributes["reason"] == "undesired"
    # One message's delivery, opens and click share its message id.
    assert {e.attributes["message_id"] for e in (delivered, opened, proxy_open, click)} == {
        "21:alice@acme.example"
    }
    assert len({event.source_event_id for event in page.events}) == len(page.events)


@pytest.mark.parametrize(
    ("name", "kind", "bounce_type"),
    [
        ("hardBounce", EventKind.BOUNCE, "hard"),
        ("softBounce", EventKind.BOUNCE, "soft"),
        ("unsubscribed", EventKind.UNSUBSCRIBE, None),
        ("Proxy Open", EventKind.EMAIL_OPEN, None),
        ("proxyOpen", EventKind.EMAIL_OPEN, None),
    ],
)
def test_the_registration_spellings_of_event_names_are_read(
    name: str, kind: EventKind, bounce_type: str | None
) -> None:
    payload = {**event_named("delivered"), "event": name}
    (event,) = bearer_webhook().read(request(payload)).events
    assert event.kind is kind
    assert event.attributes.get("type") == bounce_type


def test_a_resent_batch_gives_the_same_ids_and_a_repeat_within_a_batch_is_kept_once() -> None:
    first = bearer_webhook().read(request(MARKETING_EVENTS))
    again = bearer_webhook().read(request(list(reversed(MARKETING_EVENTS))))
    assert {e.source_event_id for e in first.events} == {e.source_event_id for e in again.events}
    doubled = bearer_webhook().read(request([event_named("click"), event_named("click")]))
    assert len(doubled.events) == 1


def test_two_clicks_at_the_same_second_on_two_links_are_two_events() -> None:
    other_link = {**event_named("click"), "URL": "https://acme.example/demo"}
    page = bearer_webhook().read(request([event_named("click"), other_link]))
    assert [event.url for event in page.events] == [
        "https://acme.example/pricing",
        "https://acme.example/demo",
    ]


def test_a_record_that_cannot_be_read_is_set_aside_and_the_rest_kept() -> None:
    no_campaign = {k: v for k, v in event_named("opened").items() if k != "camp_id"}
    transactional = {"event": "opened", "email": "x@acme.example", "message-id": "<1@relay>"}
    batch = [
        event_named("delivered"),
        no_campaign,
        "not an object",
        {**event_named("click"), "URL": ""},
        {**event_named("opened"), "ts_event": "yesterday"},
        {**event_named("opened"), "email": "not-an-email"},
        transactional,
        {**event_named("opened"), "email": None},
    ]
    page = bearer_webhook().read(request(batch))
    assert [event.kind for event in page.events] == [EventKind.EMAIL_DELIVERED]
    lines = [(reject.line, reject.reason) for reject in page.rejects]
    assert [line for line, _ in lines] == [2, 3, 4, 5, 6, 7, 8]
    assert "camp_id" in lines[0][1]
    assert "object" in lines[1][1]
    assert "URL" in lines[2][1]
    assert "ts_event" in lines[3][1]
    assert "e-mail" in lines[4][1]
    assert "marketing" in lines[5][1]
    assert "email" in lines[6][1]
    for reject in page.rejects:
        assert reject.source == "brevo"
        assert reject.location == "webhook brevo"
    assert json.loads(page.rejects[0].raw) == no_campaign


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>not json</html>", "not JSON"),
        (b"42", "neither a Brevo event"),
        (b'"opened"', "neither a Brevo event"),
    ],
)
def test_a_body_that_is_not_brevo_s_format_is_one_reject(body: bytes, reason: str) -> None:
    page = bearer_webhook().read(request(body))
    assert page.events == ()
    (reject,) = page.rejects
    assert reason in reject.reason
    assert reject.line is None
    assert reject.raw == body.decode()


def test_the_raw_text_of_a_reject_is_cut_to_2000_characters() -> None:
    huge = {"event": "opened", "padding": "x" * 5_000}
    (reject,) = bearer_webhook().read(request([huge])).rejects
    assert len(reject.raw) == 2_000


def test_ids_and_times_in_digits_are_read_as_numbers() -> None:
    as_text = {**event_named("opened"), "camp_id": "21", "ts_event": "1793614320"}
    (event,) = bearer_webhook().read(request(as_text)).events
    (same,) = bearer_webhook().read(request(event_named("opened"))).events
    assert event.source_event_id == same.source_event_id


def test_the_webhook_is_a_webhook_receiver() -> None:
    assert isinstance(bearer_webhook(), WebhookReceiver)
