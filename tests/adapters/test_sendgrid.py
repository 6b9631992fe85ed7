"""SendGrid: the Signed Event Webhook's check, its events as canonical ones, the settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.sendgrid import ADAPTER, SendGridReceiver, SendGridSettings
from connector.config import load_settings
from connector.errors import ConfigError
from connector.plugins import installed_adapters, webhook_of, webhook_sources
from connector.ports import (
    Page,
    RejectedInput,
    WebhookReceiver,
    WebhookRefusedError,
    WebhookRequest,
)
from tests.fixtures.sendgrid.signing import (
    EVENTS_JSON,
    new_private_key,
    public_key_text,
    sign,
)

# SendGrid's published test vector (sendgrid-python test/unit/test_eventwebhook.py, quoted in
# API-FACTS §3): the payload is json.dumps(sort_keys, compact) of one dropped event, with
# the trailing CRLF SendGrid signed.
VECTOR_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw"
    "+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
VECTOR_TIMESTAMP = "1600112502"
VECTOR_SIGNATURE = (
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLt"
    "EZtM="
)
VECTOR_EVENT = {
    "email": "hello@world.com",
    "event": "dropped",
    "reason": "Bounced Address",
    "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
    "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
    "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
    "timestamp": 1600112492,
}
VECTOR_BODY = (json.dumps([VECTOR_EVENT], sort_keys=True, separators=(",", ":")) + "\r\n").encode()
VECTOR_ARRIVED = datetime.fromtimestamp(int(VECTOR_TIMESTAMP), UTC)
MAX_AGE_S = 600.0
NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
NAME = "newsletter"


@pytest.fixture(autouse=True)
def _no_sendgrid_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's real SendGrid key never reaches a test; a test that needs one sets it."""
    for variable in ("SENDGRID_API_KEY", "SENDGRID_API_KEY_FILE"):
        monkeypatch.delenv(variable, raising=False)


def receiver_for(public_key: str = VECTOR_KEY) -> SendGridReceiver:
    return SendGridReceiver(NAME, SendGridSettings(type="sendgrid", webhook_public_key=public_key))


def request_of(body: bytes, headers: dict[str, str], received_at: datetime = NOW) -> WebhookRequest:
    # The server lower-cases header names.
    lowered = {name.lower(): value for name, value in headers.items()}
    return WebhookRequest(body=body, headers=lowered, query={}, received_at=received_at)


def vector_request(body: bytes = VECTOR_BODY, **changed: str) -> WebhookRequest:
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": VECTOR_SIGNATURE,
        "X-Twilio-Email-Event-Webhook-Timestamp": VECTOR_TIMESTAMP,
        **changed,
    }
    return request_of(body, headers, VECTOR_ARRIVED)


def refusal(receiver: SendGridReceiver, request: WebhookRequest) -> WebhookRefusedError:
    with pytest.raises(WebhookRefusedError) as caught:
        receiver.verify(request, max_age_s=MAX_AGE_S)
    return caught.value


def signed_request(body: bytes, *, signed_at: datetime = NOW, received_at: datetime = NOW):
    key = new_private_key()
    headers = sign(key, int(signed_at.timestamp()), body)
    return receiver_for(public_key_text(key)), request_of(body, headers, received_at)


def read_signed(events: list[object] | bytes) -> Page:
    body = events if isinstance(events, bytes) else orjson.dumps(events)
    receiver, request = signed_request(body)
    receiver.verify(request, max_age_s=MAX_AGE_S)
    return receiver.read(request)


def click(**fields: object) -> dict[str, object]:
    event: dict[str, object] = {
        "email": "ada@example.com",
        "timestamp": 1765000000,
        "event": "click",
        "sg_event_id": "click-1",
        "sg_message_id": "AbC123xyz_-QRSTUVWXYZa.filterdrecv-5645d9c87f-6r2ch-1-5F5FC76C-9.0",
        "url": "https://example.com/pricing",
        "useragent": "Mozilla/5.0",
    }
    event.update(fields)
    return event


class TestSignature:
    def test_sendgrids_test_vector_verifies_with_the_clock_at_its_timestamp(self) -> None:
        """The published key, timestamp, signature and payload (CRLF included) pass."""
        receiver_for().verify(vector_request(), max_age_s=MAX_AGE_S)

    def test_one_byte_changed_in_the_body_is_refused(self) -> None:
        changed = VECTOR_BODY.replace(b"Bounced", b"Bouncad")
        assert len(changed) == len(VECTOR_BODY)
        error = refusal(receiver_for(), vector_request(changed))
        assert error.reason == "bad_signature"

    def test_the_body_without_its_trailing_crlf_is_refused(self) -> None:
        """The CRLF is part of the signed bytes: nothing may be stripped before the check."""
        error = refusal(receiver_for(), vector_request(VECTOR_BODY.rstrip(b"\r\n")))
        assert error.reason == "bad_signature"

    def test_another_timestamp_is_refused(self) -> None:
        request = vector_request(**{"X-Twilio-Email-Event-Webhook-Timestamp": "1600112503"})
        assert refusal(receiver_for(), request).reason == "bad_signature"

    def test_a_signature_by_another_key_is_refused(self) -> None:
        forger = new_private_key()
        headers = sign(forger, VECTOR_TIMESTAMP, VECTOR_BODY)
        error = refusal(receiver_for(), request_of(VECTOR_BODY, headers, VECTOR_ARRIVED))
        assert error.reason == "bad_signature"

    @pytest.mark.parametrize(
        "signature", ["not base64 at all!", "", "bm90IGEgc2lnbmF0dXJl", "MEUCIQ=="]
    )
    def test_a_signature_that_is_not_one_is_refused(self, signature: str) -> None:
        request = vector_request(**{"X-Twilio-Email-Event-Webhook-Signature": signature})
        expected = "missing_signature" if not signature else "bad_signature"
        assert refusal(receiver_for(), request).reason == expected

    @pytest.mark.parametrize(
        "left_out",
        ["X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"],
    )
    def test_a_request_without_either_header_is_refused(self, left_out: str) -> None:
        headers = {
            "X-Twilio-Email-Event-Webhook-Signature": VECTOR_SIGNATURE,
            "X-Twilio-Email-Event-Webhook-Timestamp": VECTOR_TIMESTAMP,
        }
        del headers[left_out]
        error = refusal(receiver_for(), request_of(VECTOR_BODY, headers, VECTOR_ARRIVED))
        assert error.reason == "missing_signature"
        assert left_out in error.detail

    def test_an_unsigned_request_is_refused(self) -> None:
        error = refusal(receiver_for(), request_of(VECTOR_BODY, {}, VECTOR_ARRIVED))
        assert error.reason == "missing_signature"

    @pytest.mark.parametrize("timestamp", ["16001125O2", "-1600112502", "1600112502.0", "١٦٠٠"])
    def test_a_timestamp_that_is_not_unix_seconds_is_refused(self, timestamp: str) -> None:
        request = vector_request(**{"X-Twilio-Email-Event-Webhook-Timestamp": timestamp})
        assert refusal(receiver_for(), request).reason == "bad_timestamp"

    def test_a_body_that_is_not_utf8_is_refused(self) -> None:
        body = b'[{"email":"\xff@example.com"}]'
        receiver, request = signed_request(body)
        assert refusal(receiver, request).reason == "bad_signature"

    @pytest.mark.parametrize("seconds", [601, -601, 86_400])
    def test_a_signed_time_outside_max_age_is_refused(self, seconds: int) -> None:
        """A replay (or a clock that is off), before or after the time it arrived."""
        receiver, request = signed_request(
            b"[]", signed_at=NOW, received_at=NOW + timedelta(seconds=seconds)
        )
        error = refusal(receiver, request)
        assert error.reason == "stale_timestamp"
        assert "600 s" in error.detail

    @pytest.mark.parametrize("seconds", [600, -600, 0])
    def test_a_signed_time_within_max_age_passes(self, seconds: int) -> None:
        receiver, request = signed_request(
            b"[]", signed_at=NOW, received_at=NOW + timedelta(seconds=seconds)
        )
        receiver.verify(request, max_age_s=MAX_AGE_S)

    def test_the_vector_arriving_now_is_stale_not_forged(self) -> None:
        """The signature is checked first: ``stale_timestamp`` names only a signed request."""
        request = request_of(VECTOR_BODY, dict(vector_request().headers), NOW)
        assert refusal(receiver_for(), request).reason == "stale_timestamp"

    def test_a_refusal_says_nothing_the_request_sent(self) -> None:
        forger = new_private_key()
        headers = sign(forger, VECTOR_TIMESTAMP, VECTOR_BODY)
        for request in (
            request_of(VECTOR_BODY, headers, VECTOR_ARRIVED),
            request_of(VECTOR_BODY, dict(vector_request().headers), NOW),
        ):
            error = refusal(receiver_for(), request)
            said = f"{error.reason} {error.detail}"
            for sent in (*request.headers.values(), "hello@world.com"):
                assert sent not in said

    def test_the_receiver_is_the_webhook_port(self) -> None:
        assert isinstance(receiver_for(), WebhookReceiver)
        assert receiver_for().name == NAME


def kinds_ids_and_attributes(page: Page) -> list[tuple[str, str, str | None, dict[str, object]]]:
    return [
        (event.kind.value, event.source_event_id, event.url, dict(event.attributes))
        for event in page.events
    ]


class TestEvents:
    def test_the_docs_example_of_each_event_type_maps_to_our_kinds(self) -> None:
        """Every type in SendGrid's reference; group_resubscribe is skipped and counted."""
        page = read_signed(EVENTS_JSON.read_bytes())
        old_message = "14c5d75ce93"  # the docs' sg_message_id, before its first "."
        sent = "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"
        common = {"message_id": old_message, "sg_message_id": sent}
        cat = {"campaign": "cat facts", "category": "cat facts"}
        agent = {
            "user_agent": "Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; "
            ".NET CLR 2.0.50727)"
        }
        assert kinds_ids_and_attributes(page) == [
            (
                "email_sent",
                "rbtnWrG1DVDGGGFHFyun0A==",
                None,
                {
                    "message_id": old_message,
                    "sg_message_id": sent[: -len(".0")] + ".000000000000000000000",
                    **cat,
                },
            ),
            (
                "email_dropped",
                "zmzJhfJgAfUSOW80yEbPyw==",
                None,
                {**common, **cat, "reason": "Bounced Address"},
            ),
            ("email_delivered", "rWVYmVk90MjZJ9iohOBa3w==", None, {**common, **cat}),
            ("email_deferred", "t7LEShmowp86DTdUW8M-GQ==", None, {**common, **cat, "attempt": "5"}),
            (
                "bounce",
                "6g4ZI7SA-xmRDv57GoPIPw==",
                None,
                {**common, **cat, "type": "hard", "status": "5.0.0"},
            ),
            (
                "bounce",
                "Ymxva2VkLWV4YW1wbGUtZnJvbS1kb2Nz",
                None,
                {**common, **cat, "type": "soft", "status": "5.0.0"},
            ),
            ("email_open", "FOTFFO0ecsBE-zxFXfs6WA==", None, {**common, **cat, **agent}),
            (
                "email_click",
                "kCAi1KttyQdEKHhdC-nuEA==",
                "http://www.sendgrid.com/",
                {**common, **cat, **agent},
            ),
            ("spam_report", "37nvH5QBz858KGVYCM4uOA==", None, {**common, **cat}),
            ("unsubscribe", "zz_BjPgU_5pS-J8vlfB1sg==", None, {**common, **cat}),
            (
                "unsubscribe",
                "ahSCB7xYcXFb-hEaawsPRw==",
                None,
                {**common, **cat, **agent, "unsubscribe_group": 10},
            ),
            (
                "email_open",
                "bWFjaGluZS1vcGVuLWFwcGxlLW1wcA",
                None,
                {
                    **common,
                    **cat,
                    "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
                    "AppleWebKit/605.1.15 (KHTML, like Gecko)",
                    "machine": "sendgrid sg_machine_open",
                },
            ),
        ]
        assert page.skipped == 1
        assert page.rejects == []
        first = page.events[0]
        assert (first.source, first.email) == (NAME, "example@test.com")
        assert first.occurred_at == datetime(2017, 12, 15, 0, 59, 29, tzinfo=UTC)
        assert page.cursor is None

    def test_delivered_open_and_click_of_one_message_share_its_message_id(self) -> None:
        """SendGrid's servers add a tail after the first "." that differs between the
        events of one message; the part before it ties them."""
        page = read_signed(
            [
                click(
                    event="processed",
                    sg_event_id="p",
                    sg_message_id="AbC123xyz_-QRSTUVWXYZa.filterdrecv-p3mdw1-1-0",
                ),
                click(
                    event="delivered",
                    sg_event_id="d",
                    sg_message_id="AbC123xyz_-QRSTUVWXYZa.filterdrecv-p3mdw1-1-0.0",
                ),
                click(
                    event="open",
                    sg_event_id="o",
                    sg_message_id="AbC123xyz_-QRSTUVWXYZa.recvd-5f4bd5d5d7-tw8ct-1-6102A3E8-1E.0",
                ),
                click(sg_event_id="c"),
            ]
        )
        assert {event.attributes["message_id"] for event in page.events} == {
            "AbC123xyz_-QRSTUVWXYZa"
        }
        assert len(page.events) == 4

    def test_only_a_machine_flag_of_true_marks_an_open(self) -> None:
        page = read_signed(
            [
                click(event="open", sg_event_id="apple", sg_machine_open=True),
                click(event="open", sg_event_id="person", sg_machine_open=False),
                click(event="open", sg_event_id="older"),
                click(sg_event_id="click", sg_machine_open=True),
            ]
        )
        assert [event.attributes.get("machine") for event in page.events] == [
            "sendgrid sg_machine_open",
            None,
            None,
            None,
        ]

    def test_campaign_comes_from_the_marketing_campaign_then_a_single_category(self) -> None:
        page = read_signed(
            [
                click(
                    sg_event_id="mc",
                    marketing_campaign_id=12345,
                    marketing_campaign_name="q4 launch",
                    category=[],
                ),
                click(sg_event_id="ss", singlesend_name="Example Single Send", singlesend_id="s1"),
                click(sg_event_id="one", category=["newsletter"]),
                click(sg_event_id="two", category=["newsletter", "transactional"]),
                click(sg_event_id="none"),
            ]
        )
        assert [
            (event.attributes.get("campaign"), event.attributes.get("category"))
            for event in page.events
        ] == [
            ("q4 launch", None),
            ("Example Single Send", None),
            ("newsletter", ["newsletter"]),
            (None, ["newsletter", "transactional"]),
            (None, None),
        ]

    def test_custom_args_are_kept_apart_from_sendgrids_fields(self) -> None:
        """v3 Mail Send puts custom args at the top level, v2 under unique_args (event.md)."""
        page = read_signed(
            [
                click(userid="1123", template="welcome", ip="255.255.255.255", tls=1),
                click(sg_event_id="v2", unique_args={"userid": "7", "plan": "pro"}),
            ]
        )
        assert [event.attributes.get("custom_args") for event in page.events] == [
            {"userid": "1123", "template": "welcome"},
            {"userid": "7", "plan": "pro"},
        ]
        assert "ip" not in page.events[0].attributes

    def test_a_bounce_without_type_is_hard(self) -> None:
        """SendGrid's bounce event is a permanent refusal unless its type says blocked."""
        page = read_signed(
            [
                click(event="bounce", type=None),
                click(event="bounce", sg_event_id="b", type="blocked"),
            ]
        )
        assert [event.attributes["type"] for event in page.events] == ["hard", "soft"]

    def test_a_time_in_milliseconds_is_read_as_such(self) -> None:
        """SendGrid's own Single Send example writes milliseconds (event.md l.971)."""
        page = read_signed(
            [click(timestamp=1591726752372), click(sg_event_id="s", timestamp=1591726752.5)]
        )
        assert [event.occurred_at for event in page.events] == [
            datetime(2020, 6, 9, 18, 19, 12, 372000, tzinfo=UTC),
            datetime(2020, 6, 9, 18, 19, 12, 500000, tzinfo=UTC),
        ]

    def test_an_event_without_sg_event_id_gets_an_id_from_its_content(self) -> None:
        """Stable, so SendGrid's resend of the same event stores nothing twice."""
        first = read_signed([click(sg_event_id=None)]).events[0]
        again = read_signed([click(sg_event_id=None)]).events[0]
        assert first.source_event_id == again.source_event_id
        assert first.source_event_id.startswith("h-")

    def test_an_unknown_event_type_is_skipped_not_rejected(self) -> None:
        page = read_signed([click(event="account_status_change"), click(sg_event_id="k")])
        assert (len(page.events), page.skipped, page.rejects) == (1, 1, [])


def only_reject(page: Page) -> RejectedInput:
    assert len(page.rejects) == 1, page.rejects
    return page.rejects[0]


class TestRejects:
    @pytest.mark.parametrize(
        ("bad", "reason"),
        [
            (click(email=None), "the SendGrid event has no email"),
            (click(email=""), "the SendGrid event has no email"),
            (click(email="not-an-address"), "invalid e-mail 'not-an-address'"),
            (click(timestamp="yesterday"), "timestamp must be a Unix time in seconds, got str"),
            (click(timestamp=None), "missing timestamp"),
            (click(timestamp=True), "timestamp must be a Unix time in seconds, got bool"),
            (
                click(timestamp=10**18),
                "timestamp 1000000000000000000 is not a Unix time in seconds",
            ),
            (click(event=None), "the SendGrid event has no event type (event)"),
            (click(event=7), "event must be a string, got number"),
            (click(sg_event_id=["x"]), "id must be a string, got list"),
            ("just text", "an event must be a JSON object, got string"),
            ([click()], "an event must be a JSON object, got array"),
        ],
    )
    def test_a_bad_record_among_good_ones_is_one_reject(self, bad: object, reason: str) -> None:
        page = read_signed([click(sg_event_id="a"), bad, click(sg_event_id="c")])
        assert [event.source_event_id for event in page.events] == ["a", "c"]
        reject = only_reject(page)
        assert reject == RejectedInput(
            source=NAME,
            location=f"webhook {NAME}",
            line=2,
            reason=reason,
            raw=orjson.dumps(bad).decode(),
        )

    def test_a_long_record_is_kept_cut_to_2000_characters(self) -> None:
        page = read_signed([click(email=None, filler="x" * 5000)])
        assert len(only_reject(page).raw) == 2000

    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (
                b'{"email": "a@example.com"}',
                "the body is a JSON dict, not the array of events SendGrid sends",
            ),
            (b"email=a@example.com", "the body is not JSON ("),
            (b"", "the body is not JSON ("),
        ],
    )
    def test_a_body_that_is_not_sendgrids_format_is_one_reject(
        self, body: bytes, reason: str
    ) -> None:
        page = read_signed(body)
        reject = only_reject(page)
        assert page.events == ()
        assert (reject.line, reject.raw, reject.location) == (
            None,
            body.decode(),
            f"webhook {NAME}",
        )
        assert reject.reason.startswith(reason)


def toml_config(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(table, encoding="utf-8")
    return path


class TestSettings:
    def test_a_source_of_type_sendgrid_is_a_webhook_and_not_pulled(self, tmp_path: Path) -> None:
        config = toml_config(
            tmp_path, f'[sources.{NAME}]\ntype = "sendgrid"\nwebhook_public_key = "{VECTOR_KEY}"\n'
        )
        settings = load_settings(config)
        assert installed_adapters().sources["sendgrid"] is ADAPTER
        assert webhook_sources(settings) == [NAME]
        receiver = webhook_of(settings, NAME)
        receiver.verify(vector_request(), max_age_s=MAX_AGE_S)
        assert settings.sources[NAME] == SendGridSettings(
            type="sendgrid",
            webhook_public_key=VECTOR_KEY,
            api_key_env="SENDGRID_API_KEY",
            api_host="https://api.sendgrid.com",
        )
        assert (ADAPTER.source, ADAPTER.range_source, ADAPTER.reads_ranges) == (None, None, False)

    @pytest.mark.parametrize(
        ("key", "problem"),
        [
            ("not base64!", "is not base64 text"),
            ("aGVsbG8gd29ybGQ=", "is base64 but not a public key"),
            ("RSA", "is a public key, but not the P-256 (ECDSA) key SendGrid signs with"),
        ],
    )
    def test_a_key_that_is_not_sendgrids_is_refused_naming_the_key(
        self, tmp_path: Path, key: str, problem: str
    ) -> None:
        if key == "RSA":
            der = (
                rsa.generate_private_key(public_exponent=65537, key_size=2048)
                .public_key()
                .public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
            key = __import__("base64").b64encode(der).decode()
        config = toml_config(
            tmp_path, f'[sources.{NAME}]\ntype = "sendgrid"\nwebhook_public_key = "{key}"\n'
        )
        with pytest.raises(ConfigError) as caught:
            load_settings(config)
        assert caught.value.key == f"sources.{NAME}.webhook_public_key"
        assert caught.value.line == 3
        assert problem in str(caught.value)
        assert "Settings → Mail Settings → Event Webhooks" in str(caught.value)

    def test_a_key_pasted_as_pem_or_with_spaces_is_taken(self) -> None:
        pem = (
            f"-----BEGIN PUBLIC KEY-----\n{VECTOR_KEY[:40]}\n{VECTOR_KEY[40:]}\n"
            "-----END PUBLIC KEY-----\n"
        )
        for pasted in (pem, f"  {VECTOR_KEY}\n"):
            settings = SendGridSettings(type="sendgrid", webhook_public_key=pasted)
            assert settings.webhook_public_key == VECTOR_KEY

    def test_check_names_the_key_and_whether_the_api_key_is_set(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        config = toml_config(
            tmp_path, f'[sources.{NAME}]\ntype = "sendgrid"\nwebhook_public_key = "{VECTOR_KEY}"\n'
        )
        settings = load_settings(config)
        from connector.plugins import source_context

        context = source_context(settings, NAME)
        assert ADAPTER.check is not None
        said = ADAPTER.check(settings.sources[NAME], context)
        assert said == (
            f"Event Webhook at POST /webhooks/{NAME}, signatures checked with the P-256 key "
            "sha256:f0fe1f9c9477f0bb; SENDGRID_API_KEY (for check --online) not set"
        )
        monkeypatch.setenv("SENDGRID_API_KEY", "SG.test-key")
        assert ADAPTER.check(settings.sources[NAME], context).endswith(
            "SENDGRID_API_KEY (for check --online) set"
        )
