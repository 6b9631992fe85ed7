"""Each router's payloads, in the shapes of its docs (tests/fixtures/VENDOR), through real
HTTP requests to the running intake: stored once, forged, unsigned, replayed and stale
requests storing nothing."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.mailchimp.webhook import signature_for
from connector.config import load_settings
from connector.serve.server import IntakeServer
from connector.store.engine import open_store
from tests.cli.test_cli import clean_env, leadsync
from tests.fixtures.sendgrid.signing import EVENTS_JSON, new_private_key, public_key_text, sign

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SENDGRID_KEY = new_private_key()
MAILJET_USER, MAILJET_PASSWORD = "mj-hook", "mj-Callback-secret-1"
BREVO_TOKEN = "brevo-token-that-leadsync-registered"
MAILCHIMP_SECRET, MAILCHIMP_TOKEN = "mc-signing-secret-shown-once", "mc-url-token-42"


@pytest.fixture
def intake(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Engine]]:
    monkeypatch.setenv("MAILJET_WEBHOOK_USER", MAILJET_USER)
    monkeypatch.setenv("MAILJET_WEBHOOK_PASSWORD", MAILJET_PASSWORD)
    monkeypatch.setenv("BREVO_WEBHOOK_TOKEN", BREVO_TOKEN)
    monkeypatch.setenv("MAILCHIMP_WEBHOOK_SECRET", MAILCHIMP_SECRET)
    monkeypatch.setenv("MAILCHIMP_TOKEN_ONLY", MAILCHIMP_TOKEN)
    monkeypatch.setenv("MAILCHIMP_NO_SECRET", "")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\nurl = "{store_url}"\n\n'
        '[sources.sg]\ntype = "sendgrid"\n'
        f'webhook_public_key = "{public_key_text(SENDGRID_KEY)}"\n\n'
        '[sources.mj]\ntype = "mailjet"\n\n[sources.br]\ntype = "brevo"\n\n'
        '[sources.mc]\ntype = "mailchimp"\n\n'
        '[sources.mc-old]\ntype = "mailchimp"\nwebhook_secret_env = "MAILCHIMP_NO_SECRET"\n'
        'webhook_token_env = "MAILCHIMP_TOKEN_ONLY"\n',
        encoding="utf-8",
    )
    engine = open_store(store_url)
    server = IntakeServer(load_settings(config), engine, host="127.0.0.1", port=0)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}/webhooks", engine
    finally:
        server.stop()
        engine.dispose()


def _kinds(engine: Engine, source: str) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT kind, count(*) FROM events WHERE source = :source GROUP BY kind"),
            {"source": source},
        )
        return {kind: int(count) for kind, count in rows}


def _sendgrid(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{url}/sg", data=body, headers={"Content-Type": "application/json", **headers}, timeout=10
    )


def test_sendgrid_events_are_stored_once_and_a_replay_in_the_window_stores_nothing(intake):
    url, engine = intake
    body = EVENTS_JSON.read_bytes()
    signed = sign(SENDGRID_KEY, int(time.time()), body)
    first = _sendgrid(url, body, signed)
    assert first.status_code == 200, first.text
    assert first.json() == {"stored": 12, "duplicates": 0, "rejected": 0, "skipped": 1}
    assert _kinds(engine, "sg") == {
        "bounce": 2,  # a bounce and a blocked one
        "email_click": 1,
        "email_deferred": 1,
        "email_delivered": 1,
        "email_dropped": 1,
        "email_open": 2,  # one of them flagged sg_machine_open
        "email_sent": 1,
        "spam_report": 1,
        "unsubscribe": 2,
    }
    replayed = _sendgrid(url, body, signed)  # the same request again, within max_age_s
    assert replayed.json() == {"stored": 0, "duplicates": 12, "rejected": 0, "skipped": 1}
    assert sum(_kinds(engine, "sg").values()) == 12


def test_sendgrid_forged_unsigned_and_stale_requests_store_nothing(intake):
    url, engine = intake
    body = EVENTS_JSON.read_bytes()
    now = int(time.time())
    forged = sign(new_private_key(), now, body)  # signed, but not by the key configured
    tampered = sign(SENDGRID_KEY, now, body)
    stale = sign(SENDGRID_KEY, now - 601, body)  # [serve] max_age_s is 600
    answers = {
        "forged": _sendgrid(url, body, forged),
        # One byte more (a space JSON ignores): the signature is over the raw bytes.
        "tampered": _sendgrid(url, b" " + body, tampered),
        "unsigned": _sendgrid(url, body, {}),
        "stale": _sendgrid(url, body, stale),
    }
    reasons = {
        what: (answer.status_code, answer.json()["reason"]) for what, answer in answers.items()
    }
    assert reasons == {
        "forged": (401, "bad_signature"),
        "tampered": (401, "bad_signature"),
        "unsigned": (401, "missing_signature"),
        "stale": (401, "stale_timestamp"),
    }
    assert _kinds(engine, "sg") == {}
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM rejects")).scalar_one() == 0


def _mailjet(url: str, body: bytes, user: str, password: str) -> requests.Response:
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    return requests.post(
        f"{url}/mj",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Basic {credentials}"},
        timeout=10,
    )


def test_mailjet_events_are_stored_once_behind_basic_auth(intake):
    url, engine = intake
    body = (FIXTURES / "mailjet" / "events_v2.json").read_bytes()
    refused = _mailjet(url, body, MAILJET_USER, "wrong")
    assert (refused.status_code, refused.json()["reason"]) == (401, "bad_password")
    assert _kinds(engine, "mj") == {}
    first = _mailjet(url, body, MAILJET_USER, MAILJET_PASSWORD)
    assert first.status_code == 200, first.text
    assert first.json()["stored"] == 7
    assert first.json()["skipped"] == 1  # typofix: nothing leadsync scores
    again = _mailjet(url, body, MAILJET_USER, MAILJET_PASSWORD)  # Mailjet resends on a timeout
    assert again.json()["duplicates"] == 7
    assert sum(_kinds(engine, "mj").values()) == 7
    version_1 = _mailjet(
        url,
        (FIXTURES / "mailjet" / "event_v1_open.json").read_bytes(),
        MAILJET_USER,
        MAILJET_PASSWORD,
    )
    assert version_1.status_code == 200
    assert json.loads(version_1.text)["stored"] + json.loads(version_1.text)["duplicates"] == 1


def _brevo(url: str, body: bytes, token: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(f"{url}/br", data=body, headers=headers, timeout=10)


def test_brevo_events_are_stored_once_behind_the_token_it_was_given(intake):
    url, engine = intake
    body = (FIXTURES / "brevo" / "marketing_events.json").read_bytes()
    for token, reason in ((None, "missing_token"), ("not-the-token", "bad_token")):
        refused = _brevo(url, body, token)
        assert (refused.status_code, refused.json()["reason"]) == (401, reason)
    assert _kinds(engine, "br") == {}
    first = _brevo(url, body, BREVO_TOKEN)
    assert first.status_code == 200, first.text
    assert first.json() == {"stored": 8, "duplicates": 0, "rejected": 0, "skipped": 1}
    assert _kinds(engine, "br") == {
        "bounce": 2,
        "email_click": 1,
        "email_delivered": 1,
        "email_open": 2,  # opened, and the proxy open marked as machine activity
        "spam_report": 1,
        "unsubscribe": 1,
    }
    again = _brevo(url, body, BREVO_TOKEN)
    assert again.json()["duplicates"] == 8
    with engine.connect() as connection:
        machine = connection.execute(
            sa.text("SELECT attributes FROM events WHERE source = 'br' AND kind = 'email_open'")
        ).scalars()
        flags = sorted(
            str((value if isinstance(value, dict) else json.loads(value)).get("machine"))
            for value in machine
        )
    assert flags == ["None", "brevo proxy open"]


def _mailchimp(url: str, body: bytes, **headers: str) -> requests.Response:
    return requests.post(
        url,
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        timeout=10,
    )


def test_mailchimp_audience_events_signed_by_hmac_are_stored_once(intake):
    url, engine = intake
    assert requests.get(f"{url}/mc", timeout=10).status_code == 200  # Mailchimp's URL check
    folder = FIXTURES / "mailchimp" / "webhooks"
    stored = 0
    for name in ("subscribe", "unsubscribe", "profile", "upemail", "cleaned", "campaign"):
        body = (folder / f"{name}.txt").read_bytes()
        signed = signature_for(MAILCHIMP_SECRET, int(time.time()), body)
        answer = _mailchimp(f"{url}/mc", body, **{"X-Mailchimp-Signature": signed})
        assert answer.status_code == 200, answer.text
        stored += answer.json()["stored"]
        replayed = _mailchimp(f"{url}/mc", body, **{"X-Mailchimp-Signature": signed})
        assert replayed.json()["stored"] == 0
    assert stored == 5  # the campaign event is skipped: it names no person
    assert _kinds(engine, "mc") == {"bounce": 1, "form_submit": 3, "unsubscribe": 1}
    body = (folder / "subscribe.txt").read_bytes()
    refusals = {
        "unsigned": _mailchimp(f"{url}/mc", body),
        "forged": _mailchimp(
            f"{url}/mc",
            body,
            **{"X-Mailchimp-Signature": signature_for("guess", int(time.time()), body)},
        ),
        "stale": _mailchimp(
            f"{url}/mc",
            body,
            **{
                "X-Mailchimp-Signature": signature_for(
                    MAILCHIMP_SECRET, int(time.time()) - 601, body
                )
            },
        ),
    }
    assert {what: answer.json()["reason"] for what, answer in refusals.items()} == {
        "unsigned": "missing_signature",
        "forged": "bad_signature",
        "stale": "stale_timestamp",
    }
    assert {answer.status_code for answer in refusals.values()} == {401}


def test_mailchimp_audience_events_checked_by_the_token_in_the_url(intake):
    url, engine = intake
    body = (FIXTURES / "mailchimp" / "webhooks" / "unsubscribe.txt").read_bytes()
    assert _mailchimp(f"{url}/mc-old?token=wrong", body).json()["reason"] == "bad_token"
    assert _mailchimp(f"{url}/mc-old", body).json()["reason"] == "missing_token"
    answer = _mailchimp(f"{url}/mc-old?token={MAILCHIMP_TOKEN}", body)
    assert answer.status_code == 200
    assert _kinds(engine, "mc-old") == {"unsubscribe": 1}


def test_a_scanner_click_sent_by_sendgrid_is_stored_and_scores_nothing(intake, tmp_path, store_url):
    """The adapter's message_id ties SendGrid's delivered and click events (their
    sg_message_id differ after the first '.'), so the scorer's rule catches the click 2 s
    after delivery; the person's click a minute later counts."""
    url, _ = intake
    delivered_at = int(time.time()) - 3600
    message = "Xk1LdWZcRiCPrBoy3Vf9Dg"
    body = json.dumps(
        [
            {
                "email": "lee@buyer.example",
                "timestamp": delivered_at,
                "event": "delivered",
                "sg_event_id": "sc-d",
                "sg_message_id": f"{message}.filterdrecv-p3mdw1-1-5F5FC76C-0.0",
            },
            {
                "email": "lee@buyer.example",
                "timestamp": delivered_at + 2,
                "event": "click",
                "url": "https://acme.example/quote",
                "sg_event_id": "sc-c1",
                "sg_message_id": f"{message}.filterdrecv-p3mdw1-2-5F5FC76C-1.0",
                "useragent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
            },
            {
                "email": "lee@buyer.example",
                "timestamp": delivered_at + 60,
                "event": "click",
                "url": "https://acme.example/quote",
                "sg_event_id": "sc-c2",
                "sg_message_id": f"{message}.filterdrecv-p3mdw1-3-5F5FC76C-2.0",
                "useragent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
            },
        ]
    ).encode()
    answer = _sendgrid(url, body, sign(SENDGRID_KEY, int(time.time()), body))
    assert answer.json()["stored"] == 3
    env = clean_env(LEADSYNC_STORE_URL=store_url)
    assert leadsync("score", cwd=tmp_path, env=env).returncode == 0
    explained = leadsync("explain", "lee@buyer.example", "--json", cwd=tmp_path, env=env)
    assert explained.returncode == 0, explained.stderr
    explanation = json.loads(explained.stdout)
    assert explanation["score"] == 3  # one strong click (a quote link), not two
    assert explanation["machine_activity"] == {"machine_click_after_delivery": 1}
