"""Brevo's declaration: its settings, its entry point, `check` naming a missing secret and
`check --online` trying the API key through the official client (a loopback server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from pytest_httpserver import HTTPServer

from adapters.brevo.adapter import ADAPTER
from adapters.brevo.backfill import BrevoBackfill
from adapters.brevo.settings import BrevoSettings
from connector.errors import ConfigError
from connector.plugins import installed_adapters
from connector.ports import SourceContext, WebhookRefusedError, WebhookRequest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "brevo"
TOKEN = "webhook-token-5b1e"
API_KEY = "xkeysib-adapter-test-key"


def settings(**keys: object) -> BrevoSettings:
    return BrevoSettings.model_validate({"type": "brevo", **keys})


def context(name: str = "newsletter") -> SourceContext:
    return SourceContext(name=name, base_dir=Path.cwd(), max_line_bytes=1 << 20, page_size=500)


@pytest.fixture(autouse=True)
def no_brevo_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BREVO_WEBHOOK_TOKEN", "BREVO_API_KEY", "OTHER_TOKEN", "OTHER_KEY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)


def test_the_entry_point_declares_brevo() -> None:
    declared = installed_adapters().sources["brevo"]
    assert declared is ADAPTER
    assert declared.reads_ranges and declared.range_source and declared.webhook
    assert declared.source is None  # not pulled: Brevo sends by webhook
    assert declared.secrets == ("BREVO_WEBHOOK_TOKEN", "BREVO_API_KEY")


@pytest.mark.parametrize(
    "keys",
    [
        {"lits": [3]},  # a misspelt key
        {"token_header": "X Leadsync"},
        {"token_header": "Authorization"},
        {"webhook_token_env": "not a variable"},
        {"lists": [0]},
        {"contacts_per_page": 501},
        {"base_url": "ftp://api.brevo.com"},
    ],
)
def test_settings_refuse_what_cannot_work(keys: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        settings(**keys)


def test_check_names_the_missing_webhook_token() -> None:
    with pytest.raises(ConfigError) as missing:
        ADAPTER.check(settings(), context())  # type: ignore[misc]
    assert "BREVO_WEBHOOK_TOKEN is not set" in str(missing.value)
    assert missing.value.key == "sources.newsletter.webhook_token_env"


def test_check_names_the_missing_api_key_when_lists_are_to_be_backfilled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BREVO_WEBHOOK_TOKEN", TOKEN)
    assert "no backfill lists" in ADAPTER.check(settings(), context())  # type: ignore[misc]
    with pytest.raises(ConfigError) as missing:
        ADAPTER.check(settings(lists=[3]), context())  # type: ignore[misc]
    assert "BREVO_API_KEY is not set" in str(missing.value)
    monkeypatch.setenv("BREVO_API_KEY", API_KEY)
    described = ADAPTER.check(settings(lists=[3, 4]), context())  # type: ignore[misc]
    assert "lists 3, 4" in described and API_KEY not in described and TOKEN not in described


def test_other_variables_and_a_secret_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(f"{TOKEN}\n")
    monkeypatch.setenv("OTHER_TOKEN_FILE", str(secret))
    own = settings(webhook_token_env="OTHER_TOKEN", token_header="X-Leadsync-Token")
    assert "OTHER_TOKEN" in ADAPTER.check(own, context())  # type: ignore[misc]
    webhook = ADAPTER.webhook(own, context())  # type: ignore[misc]
    headers = {"x-leadsync-token": TOKEN}
    webhook.verify(WebhookRequest(b"{}", headers, {}, datetime.now(UTC)), max_age_s=600)
    with pytest.raises(WebhookRefusedError):
        webhook.verify(WebhookRequest(b"{}", {}, {}, datetime.now(UTC)), max_age_s=600)


def test_the_webhook_needs_its_token(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="BREVO_WEBHOOK_TOKEN"):
        ADAPTER.webhook(settings(), context())  # type: ignore[misc]
    monkeypatch.setenv("BREVO_WEBHOOK_TOKEN", TOKEN)
    webhook = ADAPTER.webhook(settings(), context())  # type: ignore[misc]
    assert webhook.name == "newsletter"


def test_the_backfill_needs_lists_and_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as no_lists:
        ADAPTER.range_source(settings(), context())  # type: ignore[misc]
    assert no_lists.value.key == "sources.newsletter.lists"
    with pytest.raises(ConfigError, match="BREVO_API_KEY"):
        ADAPTER.range_source(settings(lists=[3]), context())  # type: ignore[misc]
    monkeypatch.setenv("BREVO_API_KEY", API_KEY)
    backfill = ADAPTER.range_source(settings(lists=[3]), context())  # type: ignore[misc]
    assert isinstance(backfill, BrevoBackfill)
    with pytest.raises(ConfigError, match="by webhook"):
        next(iter(backfill.pull(None)))


def serve_account(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v3/account", headers={"api-key": API_KEY}).respond_with_json(
        json.loads((FIXTURES / "account.json").read_text())
    )
    httpserver.expect_request("/v3/webhooks", query_string={"type": "marketing"}).respond_with_json(
        json.loads((FIXTURES / "webhooks.json").read_text())
    )


def test_check_online_asks_brevo_who_the_key_belongs_to_and_of_the_webhook(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BREVO_API_KEY", API_KEY)
    monkeypatch.setenv("BREVO_WEBHOOK_TOKEN", "test-auth-token1234")
    serve_account(httpserver)
    httpserver.expect_request("/v3/contacts/lists/3/contacts").respond_with_json(
        json.loads((FIXTURES / "list_contacts.json").read_text())
    )
    own = settings(base_url=httpserver.url_for("/v3"), lists=[3])
    described = ADAPTER.check_online(own, context())  # type: ignore[misc]
    assert described == (
        "brevo: the key in BREVO_API_KEY is Acme Marketing Corp's; marketing webhook 9864 "
        "to /webhooks/newsletter (bearer auth, without proxy_open); list 3: 3 contacts"
    )
    assert "test-auth-token1234" not in described


def test_check_online_tells_a_webhook_not_registered_yet(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BREVO_API_KEY", API_KEY)
    serve_account(httpserver)
    own = settings(base_url=httpserver.url_for("/v3"))
    described = ADAPTER.check_online(own, context("other"))  # type: ignore[misc]
    assert "no marketing webhook points at /webhooks/other yet" in described


@pytest.mark.parametrize(
    ("keys", "token", "refused"),
    [
        ({}, "another-token-entirely", True),
        ({"token_header": "x-leadsync-token"}, "test-header-value", False),
        ({"token_header": "X-Leadsync-Token"}, "test-auth-token1234", True),
        ({"token_header": "X-Other"}, "test-header-value", True),
    ],
)
def test_check_online_refuses_a_webhook_that_sends_another_token(
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    keys: dict[str, object],
    token: str,
    refused: bool,
) -> None:
    monkeypatch.setenv("BREVO_API_KEY", API_KEY)
    monkeypatch.setenv("BREVO_WEBHOOK_TOKEN", token)
    serve_account(httpserver)
    own = settings(base_url=httpserver.url_for("/v3"), **keys)
    if not refused:
        described = ADAPTER.check_online(own, context())  # type: ignore[misc]
        assert "marketing webhook 9864" in described
        return
    with pytest.raises(ConfigError) as wrong:
        ADAPTER.check_online(own, context())  # type: ignore[misc]
    assert "does not send the token in BREVO_WEBHOOK_TOKEN" in str(wrong.value)
    assert "PUT /v3/webhooks/9864" in str(wrong.value)
    for secret in ("test-auth-token1234", "test-header-value", token):
        assert secret not in str(wrong.value)


def test_check_online_with_a_refused_key_names_its_variable(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTHER_KEY", API_KEY)
    httpserver.expect_request("/v3/account").respond_with_json(
        {"code": "unauthorized", "message": "Key not found"}, status=401
    )
    own = settings(base_url=httpserver.url_for("/v3"), api_key_env="OTHER_KEY")
    with pytest.raises(ConfigError) as refused:
        ADAPTER.check_online(own, context())  # type: ignore[misc]
    assert "OTHER_KEY" in str(refused.value)
    assert "Key not found" in str(refused.value)
    assert API_KEY not in str(refused.value)
    assert len(httpserver.log) == 1  # the client's own retries are off: one call


def test_check_online_names_a_list_brevo_does_not_know(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BREVO_API_KEY", API_KEY)
    serve_account(httpserver)
    httpserver.expect_request("/v3/contacts/lists/9/contacts").respond_with_json(
        {"code": "document_not_found", "message": "List ID does not exist"}, status=404
    )
    own = settings(base_url=httpserver.url_for("/v3"), lists=[9])
    with pytest.raises(ConfigError) as unknown:
        ADAPTER.check_online(own, context())  # type: ignore[misc]
    assert unknown.value.key == "sources.newsletter.lists"


def test_check_online_without_a_key_names_its_variable() -> None:
    with pytest.raises(ConfigError, match="BREVO_API_KEY is not set"):
        ADAPTER.check_online(settings(), context())  # type: ignore[misc]
