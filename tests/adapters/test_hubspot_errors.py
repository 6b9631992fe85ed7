"""Each failure of a HubSpot call becomes the error ``adapters.hubspot.errors`` names for
it: the official client, with its urllib3 retries, against the local HubSpot fake; a
spent daily limit a limit stop, with no retry."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, SimplePublicObjectId
from pytest_httpserver import HTTPServer

from adapters.hubspot.client import Caller, hubspot_client
from adapters.hubspot.errors import DAILY_RESET_AT_THE_LATEST, daily_limit_error
from adapters.hubspot.pacing import Pacer
from connector.errors import (
    ConfigError,
    ExitCode,
    FatalError,
    LeadsyncError,
    LimitReachedError,
    RetriableError,
)
from connector.retry import DEFAULT_POLICY, RetryPolicy
from tests.adapters.hubspot_fake import CONTACTS_SPEC, FakeHubSpot, SpecValidator

TOKEN = "pat-na1-0123abcd-4567-89ef-0123-456789abcdef"
ATTEMPTS = DEFAULT_POLICY.attempts  # the shared retry policy: the first and its retries
UNREACHABLE = None  # no server answers

pytestmark = pytest.mark.skipif(
    not CONTACTS_SPEC.exists(), reason=f"HubSpot's OpenAPI files are not at {CONTACTS_SPEC}"
)

# The retries of the shared policy, with no backoff between them (a Retry-After
# still counts).
NO_WAIT = RetryPolicy(backoff_s=0)


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
    client = hubspot_client(base_url)
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
    return Caller(Pacer(100, 10.0), retry=NO_WAIT).call(send)


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
        assert "HubSpot unreachable: NewConnectionError" in error.message
    else:
        assert re.search(rf"\b{status}\b", error.message), error.message
        assert "(the test's failure)" in error.message  # HubSpot's own message
    if isinstance(error, RetriableError):
        assert (error.vendor, error.status) == ("hubspot", status)
    assert TOKEN not in f"{error} {error!r} {error.attrs()}"


@pytest.mark.parametrize(
    "signals",
    [
        pytest.param(("policyName", "header"), id="body-and-header"),
        pytest.param(("policyName",), id="body"),
        pytest.param(("header",), id="header"),
    ],
)
def test_a_spent_daily_limit_stops_at_its_first_answer_and_no_call_follows(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, signals: tuple[str, ...]
) -> None:
    """HubSpot's daily 429 (named by the body's DAILY policy, or by a Daily-Remaining of
    0) is not retried: LimitReachedError (exit 8) at once, with a time to retry after a
    day on at the latest, said to be an estimate; the same caller sends nothing more."""
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    fake = FakeHubSpot(
        SpecValidator(CONTACTS_SPEC),
        token=TOKEN,
        daily_limit_after_writes=0,
        daily_signals=signals,
    )
    httpserver.expect_request(re.compile(r"^/crm/v3/objects/contacts(/.*)?$")).respond_with_handler(
        fake.handle
    )
    client = hubspot_client(httpserver.url_for("/").rstrip("/"))
    caller = Caller(Pacer(100, 10.0), retry=NO_WAIT)
    send = partial(
        client.crm.contacts.batch_api.read,
        BatchReadInputSimplePublicObjectId(
            id_property="email",
            inputs=[SimplePublicObjectId(id="ada@example.com")],
            properties=["email"],
            properties_with_history=[],
        ),
        archived=False,
        _preload_content=False,
        _request_timeout=5,
    )
    before = datetime.now(UTC)

    with pytest.raises(LimitReachedError) as stopped:
        caller.call(send)
    with pytest.raises(LimitReachedError) as again:
        caller.call(send)

    after = datetime.now(UTC)
    stop = stopped.value
    assert (stop.exit_code, stop.vendor, fake.received_429) == (
        ExitCode.LIMIT_REACHED,
        "hubspot",
        1,
    )
    assert again.value is stop
    assert before + DAILY_RESET_AT_THE_LATEST <= stop.retry_after
    assert stop.retry_after <= after + DAILY_RESET_AT_THE_LATEST
    shown = stop.retry_after.isoformat(timespec="seconds").replace("+00:00", "Z")
    assert stop.message == (
        "HubSpot's daily API limit is spent (429: HubSpot error: You have reached your daily "
        "limit.); it resets at midnight in the portal's time zone, which leadsync is not "
        f"told: by {shown} at the latest (an estimate)"
    )
    assert TOKEN not in f"{stop} {stop!r} {stop.attrs()}"


@pytest.mark.parametrize(
    ("zone", "now", "midnight"),
    [
        pytest.param(
            "Europe/Paris",
            datetime(2026, 11, 26, 22, 30, tzinfo=UTC),  # 23:30 in Paris
            datetime(2026, 11, 26, 23, 0, tzinfo=UTC),
            id="paris-half-an-hour-before",
        ),
        pytest.param(
            "America/New_York",
            # The night the clocks go back: midnight is still daylight time (UTC-4).
            datetime(2026, 10, 31, 12, 0, tzinfo=UTC),
            datetime(2026, 11, 1, 4, 0, tzinfo=UTC),
            id="new-york-before-the-clocks-go-back",
        ),
        pytest.param(
            "America/New_York",
            datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
            datetime(2026, 11, 2, 5, 0, tzinfo=UTC),
            id="new-york-after-the-clocks-go-back",
        ),
    ],
)
def test_with_the_portals_time_zone_the_retry_is_after_its_next_midnight(
    zone: str, now: datetime, midnight: datetime
) -> None:
    """Known, the portal's time zone gives the reset: its next midnight, named as such."""
    stop = daily_limit_error(
        429, "HubSpot error: You have reached your daily limit.", time_zone=ZoneInfo(zone), now=now
    )

    assert stop.retry_after == midnight
    shown = midnight.isoformat(timespec="seconds").replace("+00:00", "Z")
    assert stop.message.endswith(f"; it resets at the portal's midnight ({zone}), {shown}")
    assert "estimate" not in stop.message
