"""A router of our own for the intake's tests: canonical records in a JSON array, a token
in a header. It stands in for any router, so the server's rules are tested apart from
any vendor's format."""

from __future__ import annotations

import hmac
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Literal

import orjson
import pytest

from connector import plugins
from connector.errors import ConfigError, RejectedRecordError
from connector.ingest.canonical import to_event
from connector.ports import (
    Page,
    RejectedInput,
    SourceAdapter,
    SourceContext,
    SourceSettings,
    WebhookRefusedError,
    WebhookRequest,
    settings_of,
)

TOKEN = "echo-token-123"


class EchoSettings(SourceSettings):
    type: Literal["echo"]


class EchoReceiver:
    def __init__(self, name: str) -> None:
        self.name = name

    def verify(self, request: WebhookRequest, *, max_age_s: float) -> None:
        sent = request.headers.get("x-echo-token")
        if sent is None:
            raise WebhookRefusedError("missing_token", "no X-Echo-Token header")
        if not hmac.compare_digest(sent.encode(), TOKEN.encode()):
            raise WebhookRefusedError("bad_token", "X-Echo-Token does not match")

    def read(self, request: WebhookRequest) -> Page:
        try:
            records = orjson.loads(request.body)
        except orjson.JSONDecodeError as error:
            reject = RejectedInput(
                self.name,
                "",
                None,
                f"not JSON: {error}",
                request.body[:2000].decode(errors="replace"),
            )
            return Page(events=(), rejects=(reject,))
        events, rejects = [], []
        for line, record in enumerate(records, 1):
            try:
                events.append(to_event(record, default_source=self.name))
            except RejectedRecordError as error:
                rejects.append(
                    RejectedInput(self.name, "", line, error.message, orjson.dumps(record).decode())
                )
        return Page(events=events, rejects=rejects)


def _check_online(settings: SourceSettings, context: SourceContext) -> str:
    if os.environ.get("ECHO_API_KEY") != "good-key":
        raise ConfigError(
            "the echo API refused ECHO_API_KEY",
            key=f"sources.{context.name}",
            hint="set ECHO_API_KEY to the key the echo account shows",
        )
    return "the echo API took the key"


def _webhook(settings: SourceSettings, context: SourceContext) -> EchoReceiver:
    settings_of(settings, EchoSettings)
    return EchoReceiver(context.name)


ECHO = SourceAdapter(
    type_name="echo", settings_model=EchoSettings, webhook=_webhook, check_online=_check_online
)


def install_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``type = "echo"`` an installed source type in this process (in every module
    that took ``installed_adapters`` by name, too)."""
    real: Callable[[], plugins.Adapters] = plugins.installed_adapters

    def with_echo() -> plugins.Adapters:
        found = real()
        return replace(found, sources={**found.sources, "echo": ECHO})

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("connector") and (
            getattr(module, "installed_adapters", None) is real
        ):
            monkeypatch.setattr(module, "installed_adapters", with_echo)
