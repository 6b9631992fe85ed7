"""Mailjet's Event API webhook: basic auth before anything is read, then each documented
event type as a canonical event, the records that cannot be read set aside."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.mailjet import ADAPTER, MailjetSettings
from adapters.mailjet.events import event_id
from connector.config import load_settings
from connector.errors import ConfigError
from connector.model import EventKind
from connector.plugins import installed_adapters
from connector.ports import SourceContext, WebhookReceiver, WebhookRefusedError, WebhookRequest
from tests.conftest import REPO_ROOT

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mailjet"
USER = "mailjet-hook"
PASSWORD = "s3cret-Callback-pass"
NAME = "newsletters"


@pytest.fixture(autouse=True)
def _mailjet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own Mailjet variables never reach a test; the webhook's are set."""
    for name in list(os.environ):
        if name.startswith(("MAILJET_", "MJ_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MAILJET_WEBHOOK_USER", USER)
    monkeypatch.setenv("MAILJET_WEBHOOK_PASSWORD", PASSWORD)


def context(tmp_path: Path | None = None) -> SourceContext:
    return SourceContext(
        name=NAME, base_dir=tmp_path or Path("."), max_line_bytes=1 << 20, page_size=1000
    )


def receiver(**keys: Any) -> WebhookReceiver:
    assert ADAPTER.webhook is not None
    return ADAPTER.webhook(MailjetSettings(type="mailjet", **keys), context())


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def request(body: bytes, authorization: str | None = None) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    return WebhookRequest(body, headers, {}, datetime(2026, 12, 7, 15, 0, tzinfo=UTC))


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# -- the declaration ---------------------------------------------------------------------------


def test_the_mailjet_type_is_registered_through_its_entry_point() -> None:
    declared = installed_adapters().sources["mailjet"]
    assert declared is ADAPTER
    assert declared.reads_ranges and declared.range_source is not None
    assert declared.source is None  # nothing to pull: webhook and backfill only
    assert set(declared.secrets) == {
        "MAILJET_WEBHOOK_USER",
        "MAILJET_WEBHOOK_PASSWORD",
        "MJ_APIKEY_PUBLIC",
        "MJ_APIKEY_PRIVATE",
    }


@pytest.mark.parametrize("missing", ["MAILJET_WEBHOOK_USER", "MAILJET_WEBHOOK_PASSWORD"])
def test_a_missing_webhook_secret_is_named_by_check_and_by_the_webhook(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delenv(missing)
    settings = MailjetSettings(type="mailjet")
    assert ADAPTER.check is not None and ADAPTER.webhook is not None
    with pytest.raises(ConfigError) as raised:
        ADAPTER.check(settings, context())
    assert missing in str(raised.value)
    assert f"{missing}_FILE" in str(raised.value)
    assert raised.value.key is not None and raised.value.key.startswith(f"sources.{NAME}.")
    with pytest.raises(ConfigError, match=missing):
        ADAPTER.webhook(settings, context())


def test_check_says_the_webhook_is_ready_and_whether_the_backfill_can_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ADAPTER.check is not None
    settings = MailjetSettings(type="mailjet")
    without_keys = ADAPTER.check(settings, context())
    assert f"/webhooks/{NAME}" in without_keys and "MJ_APIKEY_PUBLIC" in without_keys
    monkeypatch.setenv("MJ_APIKEY_PUBLIC", "public-key")
    monkeypatch.setenv("MJ_APIKEY_PRIVATE", "private-key")
    assert "API key pair set" in ADAPTER.check(settings, context())


def test_env_keys_name_other_variables_for_a_second_mailjet_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EU_HOOK_USER", "eu-user")
    monkeypatch.setenv("EU_HOOK_PASSWORD", "eu-password")
    hook = receiver(webhook_user_env="EU_HOOK_USER", webhook_password_env="EU_HOOK_PASSWORD")
    hook.verify(request(b"[]", basic("eu-user", "eu-password")), max_age_s=600)
    with pytest.raises(WebhookRefusedError):
        hook.verify(request(b"[]", basic(USER, PASSWORD)), max_age_s=600)


def test_the_password_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n", encoding="utf-8")
    monkeypatch.delenv("MAILJET_WEBHOOK_PASSWORD")
    monkeypatch.setenv("MAILJET_WEBHOOK_PASSWORD_FILE", str(secret))
    receiver().verify(request(b"[]", basic(USER, "from-a-file")), max_age_s=600)


def test_the_commented_example_in_config_example_toml_is_valid(tmp_path: Path) -> None:
    text = (REPO_ROOT / "config.example.toml").read_text(encoding="utf-8")
    block = text[text.index("# -- Mailjet --") : text.index("# -- Brevo --")]
    # The table and its keys, uncommented; the prose lines around them left out.
    lines = [line[2:] for line in block.splitlines() if line.startswith("# [") or " = " in line]
    config = tmp_path / "config.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = load_settings(config)
    assert settings.sources == {"newsletters": MailjetSettings(type="mailjet")}


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(ValueError, match="webhook_secret"):
        MailjetSettings(type="mailjet", webhook_secret="x")  # type: ignore[call-arg]


# -- basic auth --------------------------------------------------------------------------------


def test_the_callback_urls_user_and_password_are_accepted() -> None:
    receiver().verify(request(fixture_bytes("events_v2.json"), basic(USER, PASSWORD)), max_age_s=1)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer " + PASSWORD, "Digest username=x"],
    ids=["absent", "empty", "bearer", "digest"],
)
def test_a_request_without_basic_credentials_is_refused_as_missing(
    authorization: str | None,
) -> None:
    with pytest.raises(WebhookRefusedError) as raised:
        receiver().verify(request(b"[]", authorization), max_age_s=600)
    assert raised.value.reason == "missing_credentials"
    assert PASSWORD not in str(raised.value)


@pytest.mark.parametrize(
    "authorization",
    [
        basic(USER, "wrong-password"),
        basic("someone-else", PASSWORD),
        basic(USER, PASSWORD + "x"),
        basic(USER, ""),
        "Basic " + base64.b64encode(f"{USER}{PASSWORD}".encode()).decode(),  # no colon
        "Basic !!not-base64!!",
        "basic " + base64.b64encode(f"{USER.upper()}:{PASSWORD}".encode()).decode(),
    ],
    ids=["password", "user", "longer", "empty", "no-colon", "not-base64", "user-case"],
)
def test_wrong_or_unreadable_credentials_are_refused_without_saying_what_was_sent(
    authorization: str,
) -> None:
    with pytest.raises(WebhookRefusedError) as raised:
        receiver().verify(request(b"[]", authorization), max_age_s=600)
    assert raised.value.reason == "bad_password"
    told = f"{raised.value.reason} {raised.value.detail}"
    for secret_or_sent in (PASSWORD, "wrong-password", "someone-else", authorization[6:]):
        assert secret_or_sent not in told


def test_the_scheme_name_is_read_without_regard_to_case() -> None:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    receiver().verify(request(b"[]", "BASIC " + token), max_age_s=600)


# -- the events --------------------------------------------------------------------------------


def test_each_documented_event_type_becomes_its_canonical_kind() -> None:
    page = receiver().read(request(fixture_bytes("events_v2.json")))
    assert page.rejects == []
    assert page.skipped == 1  # "typofix": not a type we map
    assert page.cursor is None
    kinds = [event.kind for event in page.events]
    assert kinds == [
        EventKind.EMAIL_DELIVERED,  # "sent": accepted by the recipient's server
        EventKind.EMAIL_OPEN,
        EventKind.EMAIL_CLICK,
        EventKind.BOUNCE,
        EventKind.EMAIL_DROPPED,  # "blocked"
        EventKind.SPAM_REPORT,
        EventKind.UNSUBSCRIBE,
    ]
    assert {event.source for event in page.events} == {NAME}


def test_an_open_keeps_its_message_campaign_contact_and_user_agent() -> None:
    page = receiver().read(request(fixture_bytes("events_v2.json")))
    opened = page.events[1]
    assert opened.email == "api@mailjet.com"
    assert opened.occurred_at == datetime(2015, 5, 31, 20, 18, 39, tzinfo=UTC)
    assert opened.ids == {"mailjet": "320"}
    assert opened.attributes["message_id"] == "19421777396190490"  # all 17 digits
    assert opened.attributes["campaign"] == "7173"
    assert opened.attributes["user_agent"].startswith("Mozilla/5.0 (Windows NT 5.1")
    assert opened.attributes["custom_id"] == "helloworld"
    assert "machine" not in opened.attributes  # Mailjet flags no machine activity
    assert opened.source_event_id == "open:19421777396190490:1433103519"


def test_a_click_keeps_its_url_and_its_id_holds_the_url() -> None:
    clicked = receiver().read(request(fixture_bytes("events_v2.json"))).events[2]
    assert clicked.url == "https://mailjet.com"
    assert clicked.source_event_id == event_id(
        "click", "19421777836302490", 1433334653, "https://mailjet.com"
    )
    assert clicked.source_event_id.startswith("click:19421777836302490:1433334653:")


def test_a_bounce_says_hard_or_soft_and_zero_ids_mean_none() -> None:
    events = json.loads(fixture_bytes("events_v2.json"))
    soft = dict(events[3], hard_bounce=False, time=1430812200)
    body = json.dumps([events[3], soft]).encode()
    hard_event, soft_event = receiver().read(request(body)).events
    assert hard_event.attributes["type"] == "hard"
    assert soft_event.attributes["type"] == "soft"
    assert hard_event.attributes["error"] == "user unknown"
    assert hard_event.attributes["error_related_to"] == "recipient"
    # mj_contact_id and mj_campaign_id are 0 in Mailjet's bounce sample: no id, no campaign.
    assert hard_event.ids == {}
    assert "campaign" not in hard_event.attributes
    assert hard_event.email == "bounce@mailjet.com"


def test_spam_and_unsub_keep_what_says_where_they_came_from() -> None:
    page = receiver().read(request(fixture_bytes("events_v2.json")))
    spam, unsub = page.events[5], page.events[6]
    assert spam.attributes["feedback_loop"] == "JMRPP"
    assert unsub.attributes["list_id"] == "1"


def test_a_custom_campaign_stands_in_for_a_missing_campaign_id() -> None:
    event = json.loads(fixture_bytes("event_v1_open.json"))
    event.update(mj_campaign_id=0, customcampaign="spring-sale")
    (opened,) = receiver().read(request(json.dumps(event).encode())).events
    assert opened.attributes["campaign"] == "spring-sale"


def test_a_version_1_body_is_one_event() -> None:
    page = receiver().read(request(fixture_bytes("event_v1_open.json")))
    (opened,) = page.events
    assert opened.kind is EventKind.EMAIL_OPEN
    assert opened.source_event_id == "open:19421777396190490:1433103519"


def test_the_same_batch_sent_again_gives_the_same_ids() -> None:
    body = fixture_bytes("events_v2.json")
    first = [event.source_event_id for event in receiver().read(request(body)).events]
    again = [event.source_event_id for event in receiver().read(request(body)).events]
    assert first == again
    assert len(set(first)) == len(first)  # bounce, blocked and spam of one message differ


def test_two_clicks_of_one_message_in_one_second_on_two_links_are_two_events() -> None:
    click = json.loads(fixture_bytes("events_v2.json"))[2]
    other = dict(click, url="https://mailjet.com/pricing")
    events = receiver().read(request(json.dumps([click, other]).encode())).events
    assert len({event.source_event_id for event in events}) == 2


def test_an_empty_batch_is_nothing() -> None:
    page = receiver().read(request(b"[]"))
    assert (list(page.events), list(page.rejects), page.skipped) == ([], [], 0)


# -- what cannot be read is set aside, the rest kept -------------------------------------------


def test_a_bad_record_is_set_aside_with_its_position_and_the_rest_is_kept() -> None:
    events = json.loads(fixture_bytes("events_v2.json"))
    no_time = {k: v for k, v in events[1].items() if k != "time"}
    bad_email = dict(events[2], email="not an address", mj_contact_id=0)
    body = json.dumps([events[0], no_time, "just text", bad_email, events[6]]).encode()
    page = receiver().read(request(body))
    assert [event.kind for event in page.events] == [
        EventKind.EMAIL_DELIVERED,
        EventKind.UNSUBSCRIBE,
    ]
    assert [(reject.line, reject.source, reject.location) for reject in page.rejects] == [
        (2, NAME, f"webhook {NAME}"),
        (3, NAME, f"webhook {NAME}"),
        (4, NAME, f"webhook {NAME}"),
    ]
    assert 'missing "time"' in page.rejects[0].reason
    assert json.loads(page.rejects[0].raw) == no_time
    assert "not a JSON object" in page.rejects[1].reason
    assert "invalid e-mail" in page.rejects[2].reason


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("MessageID", None, 'missing "MessageID"'),
        ("time", "yesterday", '"time" is not a whole number'),
        ("time", True, '"time" is not a whole number'),
        ("time", 10**15, "not a Unix time"),
        ("email", 42, '"email" is not text'),
        ("event", None, 'missing "event"'),
    ],
)
def test_each_unreadable_field_is_named(field: str, value: object, says: str) -> None:
    event = json.loads(fixture_bytes("event_v1_open.json"))
    event[field] = value
    page = receiver().read(request(json.dumps(event).encode()))
    assert list(page.events) == []
    (reject,) = page.rejects
    assert says in reject.reason
    assert reject.line == 1


def test_an_event_without_email_is_kept_by_its_contact_id() -> None:
    event = json.loads(fixture_bytes("event_v1_open.json"))
    del event["email"]
    (opened,) = receiver().read(request(json.dumps(event).encode())).events
    assert opened.email is None and opened.ids == {"mailjet": "320"}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"event=open&time=1", "not JSON"),
        (b"\xff\xfe[", "not JSON"),
        (b"42", "neither a JSON array"),
        (b'"open"', "neither a JSON array"),
    ],
)
def test_a_body_that_is_not_mailjets_format_is_one_reject(body: bytes, says: str) -> None:
    page = receiver().read(request(body))
    assert list(page.events) == []
    (reject,) = page.rejects
    assert says in reject.reason
    assert reject.line is None
    assert reject.location == f"webhook {NAME}"


def test_a_rejects_raw_text_is_cut_to_2000_characters() -> None:
    event = json.loads(fixture_bytes("event_v1_open.json"))
    event["time"] = "x" * 10_000
    (reject,) = receiver().read(request(json.dumps(event).encode())).rejects
    assert len(reject.raw) == 2000
    (whole,) = receiver().read(request(b"x" * 10_000)).rejects
    assert len(whole.raw) == 2000
