"""``leadsync check --online`` for SendGrid, through the official client against a loopback
server answering as ``GET /v3/user/webhooks/event/settings/all`` does (spec:
``sendgrid/tsg_webhooks_v3.json``, ``ListEventWebhook``, the "Two Webhooks" example)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from adapters.sendgrid import ADAPTER, SendGridSettings
from adapters.sendgrid.online import check_online
from connector.errors import ConfigError, RetriableError
from connector.ports import SourceContext
from connector.retry import RetryPolicy
from tests.fixtures.sendgrid.signing import new_private_key, public_key_text

PATH = "/v3/user/webhooks/event/settings/all"
NAME = "newsletter"
API_KEY = "SG.test-key-never-shown"
CONTEXT = SourceContext(name=NAME, base_dir=Path("."), max_line_bytes=1_000, page_size=100)
OUR_KEY = public_key_text(new_private_key())
NO_WAIT = RetryPolicy(attempts=3, backoff_s=0.0, max_wait_s=5.0)


@pytest.fixture(scope="module")
def _loopback() -> Iterator[HTTPServer]:
    # One server for the module: stopping one takes half a second.
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sendgrid_api(_loopback: HTTPServer) -> Iterator[HTTPServer]:
    yield _loopback
    _loopback.clear()


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENDGRID_API_KEY_FILE", raising=False)
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)


def settings_for(server: HTTPServer, **changed: Any) -> SendGridSettings:
    return SendGridSettings(
        type="sendgrid",
        webhook_public_key=OUR_KEY,
        api_host=server.url_for("/").rstrip("/"),
        **changed,
    )


def webhook(**changed: Any) -> dict[str, Any]:
    # The spec's "Two Webhooks" example, first entry.
    listed: dict[str, Any] = {
        "enabled": True,
        "url": f"https://leads.example.com/webhooks/{NAME}",
        "group_resubscribe": True,
        "delivered": True,
        "group_unsubscribe": True,
        "spam_report": True,
        "bounce": True,
        "deferred": True,
        "unsubscribe": True,
        "processed": False,
        "open": True,
        "click": True,
        "dropped": True,
        "friendly_name": "Engagment Webhook",
        "id": "77d4a5da-7015-11ed-a1eb-0242ac120002",
        "public_key": OUR_KEY,
        "created_date": "2023-01-01T12:00:00Z",
        "updated_date": "2023-02-15T10:00:00Z",
    }
    listed.update(changed)
    return listed


def answering(server: HTTPServer, *webhooks: dict[str, Any]) -> None:
    server.expect_ordered_request(PATH, method="GET").respond_with_json(
        {"max_allowed": 5, "webhooks": list(webhooks)}
    )


def checked(server: HTTPServer, **changed: Any) -> str:
    return check_online(settings_for(server, **changed), CONTEXT, policy=NO_WAIT, sleep=_no_sleep)


def _no_sleep(_seconds: float) -> None:
    pass


def refused(server: HTTPServer, **changed: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        checked(server, **changed)
    assert API_KEY not in str(caught.value)
    return caught.value


class TestCheckOnline:
    def test_the_webhook_signing_with_our_key_is_described(self, sendgrid_api: HTTPServer) -> None:
        other = webhook(
            id="other", friendly_name="Delivery", public_key=public_key_text(new_private_key())
        )
        answering(
            sendgrid_api,
            other,
            webhook(url=f"https://u:secret@leads.example.com/webhooks/{NAME}?t=1"),
        )
        assert checked(sendgrid_api) == (
            'SendGrid Event Webhook "Engagment Webhook" signs with webhook_public_key and posts '
            f"to https://leads.example.com/webhooks/{NAME}: delivered, deferred, dropped, bounce, "
            "open, click, spam_report, unsubscribe, group_unsubscribe, group_resubscribe"
        )
        (request, _answer) = sendgrid_api.log[0]
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"
        sendgrid_api.check_assertions()

    def test_the_adapters_declaration_calls_it(self, sendgrid_api: HTTPServer) -> None:
        answering(sendgrid_api, webhook())
        assert ADAPTER.check_online is not None
        said = ADAPTER.check_online(settings_for(sendgrid_api), CONTEXT)
        assert said.startswith('SendGrid Event Webhook "Engagment Webhook" signs')

    def test_a_webhook_posting_elsewhere_is_pointed_out(self, sendgrid_api: HTTPServer) -> None:
        answering(sendgrid_api, webhook(url="https://leads.example.com/hooks/sg", open=False))
        assert checked(sendgrid_api) == (
            'SendGrid Event Webhook "Engagment Webhook" signs with webhook_public_key and posts '
            f"to https://leads.example.com/hooks/sg (not /webhooks/{NAME}: check its URL): "
            "delivered, deferred, dropped, bounce, click, spam_report, unsubscribe, "
            "group_unsubscribe, group_resubscribe"
        )

    def test_no_webhook_signing_with_our_key_is_a_config_error(
        self, sendgrid_api: HTTPServer
    ) -> None:
        answering(
            sendgrid_api,
            webhook(public_key=public_key_text(new_private_key())),
            webhook(id="unsigned", public_key=None),
            webhook(id="spec-example", public_key="123publickeyabc"),
        )
        error = refused(sendgrid_api)
        assert error.key == f"sources.{NAME}.webhook_public_key"
        assert "none of the 3 Event Webhook(s) of this SendGrid account (2 signed)" in str(error)
        assert f"/webhooks/{NAME}" in str(error)

    def test_a_disabled_webhook_is_a_config_error(self, sendgrid_api: HTTPServer) -> None:
        answering(sendgrid_api, webhook(enabled=False))
        error = refused(sendgrid_api)
        assert error.key == f"sources.{NAME}.webhook_public_key"
        assert "is disabled" in str(error)

    def test_a_refused_api_key_names_its_variable(self, sendgrid_api: HTTPServer) -> None:
        sendgrid_api.expect_ordered_request(PATH).respond_with_json(
            {"errors": [{"field": None, "message": "authorization required"}]}, status=401
        )
        error = refused(sendgrid_api)
        assert error.key == f"sources.{NAME}.api_key_env"
        assert str(error).startswith(
            f"[sources.{NAME}.api_key_env] SendGrid refused the API key in SENDGRID_API_KEY "
            "(401): authorization required; create an API key"
        )
        assert len(sendgrid_api.log) == 1  # a 401 is not retried

    def test_another_variable_is_named_when_configured(
        self, sendgrid_api: HTTPServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SENDGRID_EU_KEY", API_KEY)
        sendgrid_api.expect_ordered_request(PATH).respond_with_json({"errors": []}, status=401)
        error = refused(sendgrid_api, api_key_env="SENDGRID_EU_KEY")
        assert "SendGrid refused the API key in SENDGRID_EU_KEY (401)" in str(error)

    def test_a_key_without_the_read_scope_is_told_which_it_needs(
        self, sendgrid_api: HTTPServer
    ) -> None:
        sendgrid_api.expect_ordered_request(PATH).respond_with_json(
            {"errors": [{"field": None, "message": "access forbidden"}]}, status=403
        )
        error = refused(sendgrid_api)
        assert "may not read the Event Webhook settings (403): access forbidden" in str(error)
        assert "Restricted Access" in str(error)

    def test_no_api_key_set_names_the_variable(
        self, sendgrid_api: HTTPServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("SENDGRID_API_KEY")
        error = refused(sendgrid_api)
        assert error.key == f"sources.{NAME}.api_key_env"
        assert "SENDGRID_API_KEY is not set" in str(error)
        assert "SENDGRID_API_KEY_FILE" in str(error)
        assert sendgrid_api.log == []

    def test_the_key_is_read_from_a_file_too(
        self, sendgrid_api: HTTPServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.delenv("SENDGRID_API_KEY")
        (tmp_path / "key").write_text(API_KEY + "\n", encoding="utf-8")
        monkeypatch.setenv("SENDGRID_API_KEY_FILE", str(tmp_path / "key"))
        answering(sendgrid_api, webhook())
        checked(sendgrid_api)
        assert sendgrid_api.log[0][0].headers["Authorization"] == f"Bearer {API_KEY}"

    def test_a_503_then_a_200_is_retried(self, sendgrid_api: HTTPServer) -> None:
        sendgrid_api.expect_ordered_request(PATH).respond_with_data(
            "unavailable", status=503, headers={"Retry-After": "0"}
        )
        answering(sendgrid_api, webhook())
        assert checked(sendgrid_api).startswith('SendGrid Event Webhook "Engagment Webhook"')
        assert len(sendgrid_api.log) == 2
        sendgrid_api.check_assertions()

    def test_a_rate_limit_that_outlasts_the_retries_is_retriable_with_its_wait(
        self, sendgrid_api: HTTPServer
    ) -> None:
        reset = int(time.time()) + 3
        for _ in range(3):
            sendgrid_api.expect_ordered_request(PATH).respond_with_json(
                {"errors": [{"field": None, "message": "too many requests"}]},
                status=429,
                headers={
                    "X-RateLimit-Limit": "600",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset),
                },
            )
        with pytest.raises(RetriableError) as caught:
            checked(sendgrid_api)
        assert (caught.value.status, caught.value.vendor) == (429, "sendgrid")
        assert caught.value.retry_after_s is not None
        assert 0 < caught.value.retry_after_s <= 3
        assert "too many requests" in str(caught.value)
        assert len(sendgrid_api.log) == 3

    def test_a_host_that_does_not_answer_is_retriable(self) -> None:
        server = HTTPServer(host="127.0.0.1", port=0)
        server.start()
        settings = settings_for(server)
        server.stop()  # nothing listens there any more
        with pytest.raises(RetriableError) as caught:
            check_online(settings, CONTEXT, policy=NO_WAIT, sleep=_no_sleep)
        assert "cannot be reached" in str(caught.value)

    def test_a_wrong_api_host_names_api_host(self, sendgrid_api: HTTPServer) -> None:
        sendgrid_api.expect_ordered_request(PATH).respond_with_data("not here", status=404)
        error = refused(sendgrid_api)
        assert error.key == f"sources.{NAME}.api_host"
        assert "answered 404 to GET /v3/user/webhooks/event/settings/all" in str(error)
