"""Each failure of a HubSpot call becomes the error ``adapters.hubspot.errors`` names for
it: the official client, with its urllib3 retries, against the local HubSpot fake."""

from __future__ import annotations

import re
import socket
from functools import partial
from typing import Any

import pytest
from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, SimplePublicObjectId
from pytest_httpserver import HTTPServer

from adapters.hubspot.client import Caller, hubspot_client
from adapters.hubspot.pacing import Pacer
from connector.errors import (
    ConfigError,
    ExitCode,
    FatalError,
    LeadsyncError,
    RetriableError,
)
from tests.adapters.hubspot_fake import CONTACTS_SPEC, FakeHubSpot, SpecValidator

TOKEN = "pat-na1-0123abcd-4567-89ef-0123-456789abcdef"
ATTEMPTS = 6  # the first call and urllib3's five retries
UNREACHABLE = None  # no server answers

pytestmark = pytest.mark.skipif(
    not CONTACTS_SPEC.exists(), reason=f"HubSpot's OpenAPI files are not at {CONTACTS_SPEC}"
)


def serve_failing(httpserver: HTTPServer, status: int | None) -> tuple[FakeHubSpot, str]:
    """The fake answering every call ``status`` (None: nothing listens); its base URL."""
    fake = FakeHubSpot(SpecValidator(CONTACTS_SPEC), token=TOKEN, fail_status=status)
    if status is None:
        with socket.socket() as probe:  # a port nothing listens on once the probe is closed
            probe.bind(("127.0.0.1", 0))
            return fake, f"http://127.0.0.1:{probe.getsockname()[1]}"
    httpserver.expect_request(re.compile(r"^/crm/v3/objects/contacts(/.*)?$")).respond_with_handler(
        fake.handle
    )
    return fake, httpserver.url_for("/").rstrip("/")


def look_up(base_url: str) -> tuple[int, dict[str, Any]]:
    """One look-up by e-mail, as the writer makes it, through ``Caller``; no waits
    between urllib3's attempts."""
    client = hubspot_client(base_url, retry_backoff_s=0)
    body = BatchReadInputSimplePublicObjectId(
        id_property="email",
        inputs=[SimplePublicObjectId(id="ada@example.com")],
        properties=["email"],
        properties_with_history=[],
    )
    send = partial(
        client.crm.contacts.batch_api.read,
        body,
        archived=False,
        _preload_content=False,
        _request_timeout=5,
    )
    return Caller(Pacer(100, 10.0)).call(send)


def hubspot_failure(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, status: int | None
) -> tuple[LeadsyncError, FakeHubSpot]:
    """What a look-up raises when HubSpot answers ``status``, and the fake that answered."""
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    fake, base_url = serve_failing(httpserver, status)
    with pytest.raises(LeadsyncError) as raised:
        look_up(base_url)
    return raised.value, fake


@pytest.mark.parametrize(
    ("status", "error_class", "exit_code", "attempts"),
    [
        pytest.param(401, ConfigError, ExitCode.CONFIG, 1, id="401"),
        pytest.param(403, FatalError, ExitCode.FATAL, 1, id="403"),
        pytest.param(404, FatalError, ExitCode.FATAL, 1, id="404"),
        pytest.param(422, FatalError, ExitCode.FATAL, 1, id="422"),
        pytest.param(429, RetriableError, ExitCode.RETRIES_EXHAUSTED, ATTEMPTS, id="429"),
        pytest.param(500, RetriableError, ExitCode.RETRIES_EXHAUSTED, ATTEMPTS, id="500"),
        pytest.param(502, RetriableError, ExitCode.RETRIES_EXHAUSTED, ATTEMPTS, id="502"),
        pytest.param(503, RetriableError, ExitCode.RETRIES_EXHAUSTED, ATTEMPTS, id="503"),
        pytest.param(504, RetriableError, ExitCode.RETRIES_EXHAUSTED, ATTEMPTS, id="504"),
        pytest.param(UNREACHABLE, RetriableError, ExitCode.RETRIES_EXHAUSTED, 0, id="unreachable"),
    ],
)
def test_a_hubspot_failure_becomes_the_error_its_status_maps_to(
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    status: int | None,
    error_class: type[LeadsyncError],
    exit_code: ExitCode,
    attempts: int,
) -> None:
    """The status decides the error and the exit code; 429 and 5xx are retried first, the
    others not; the message names HubSpot, the status and HubSpot's message, never the
    token."""
    error, fake = hubspot_failure(httpserver, monkeypatch, status)

    assert (type(error), error.exit_code, fake.failed_answers) == (
        error_class,
        exit_code,
        attempts,
    )
    assert error.message.startswith(("HubSpot ", "[crm.hubspot] HubSpot "))
    if status is UNREACHABLE:
        assert "HubSpot unreachable: NewConnectionError after retries" in error.message
    else:
        assert re.search(rf"\b{status}\b", error.message), error.message
        assert "(the test's failure)" in error.message  # HubSpot's own message
    if isinstance(error, RetriableError):
        assert (error.vendor, error.status) == ("hubspot", status)
    assert TOKEN not in f"{error} {error!r} {error.attrs()}"
