"""Each failure of a Salesforce call becomes the error ``adapters.salesforce.errors``
names for it: a real simple-salesforce query through ``SalesforceApi``, answered by
``responses`` in Salesforce's error shapes."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
import responses
from simple_salesforce.api import Salesforce

from adapters.salesforce.client import SalesforceApi
from connector.errors import (
    ConfigError,
    ExitCode,
    FatalError,
    LeadsyncError,
    LimitReachedError,
    RetriableError,
)

INSTANCE = "https://sf.test"
VERSION = "62.0"
TOKEN = "00Dxx0000001gPL!errors-test-access-token"
QUERY_URL = re.compile(re.escape(f"{INSTANCE}/services/data/v{VERSION}/query/") + r".*")
UNREACHABLE = None  # no answer: the connection failed


def _errors(code: str, message: str) -> list[dict[str, str]]:
    """Salesforce's REST error body: a list of errorCode and message."""
    return [{"errorCode": code, "message": message}]


# (status, the answer's body, the vendor's text the message must carry)
ANSWERS: dict[str, tuple[int | None, Any, str]] = {
    "400": (400, _errors("MALFORMED_QUERY", "unexpected token: FORM"), "MALFORMED_QUERY"),
    "401": (401, _errors("INVALID_SESSION_ID", "Session expired or invalid"), "INVALID_SESSION_ID"),
    "403": (403, _errors("API_DISABLED_FOR_ORG", "API is not enabled"), "API_DISABLED_FOR_ORG"),
    "403-limit": (
        403,
        _errors("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
        "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.",
    ),
    "404": (404, _errors("NOT_FOUND", "The requested resource does not exist"), "NOT_FOUND"),
    "429": (429, "Too Many Requests", "Too Many Requests"),
    "500": (500, _errors("UNKNOWN_EXCEPTION", "An unexpected error occurred"), "UNKNOWN_EXCEPTION"),
    "502": (502, "<html><body>Bad Gateway</body></html>", "Bad Gateway"),
    "503": (503, _errors("SERVER_UNAVAILABLE", "Server unavailable"), "SERVER_UNAVAILABLE"),
    "504": (504, "Gateway Timeout", "Gateway Timeout"),
    "unreachable": (UNREACHABLE, requests.ConnectionError("connection refused"), "Connection"),
}


def salesforce_failure(answer: str) -> tuple[LeadsyncError, SalesforceApi]:
    """What a query raises when Salesforce gives ``ANSWERS[answer]``, and the API it went
    through (one request made, or the test fails)."""
    status, body, _ = ANSWERS[answer]
    api = SalesforceApi(Salesforce(instance_url=INSTANCE, session_id=TOKEN, version=VERSION))
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mocked:
        if status is UNREACHABLE:
            answered = mocked.get(QUERY_URL, body=body)
        elif isinstance(body, str):
            answered = mocked.get(QUERY_URL, status=status, body=body)
        else:
            answered = mocked.get(QUERY_URL, status=status, json=body)
        with pytest.raises(LeadsyncError) as raised:
            api.query("SELECT Id, Email FROM Lead")
        assert answered.call_count == 1
    return raised.value, api


@pytest.mark.parametrize(
    ("answer", "error_class", "exit_code"),
    [
        pytest.param("400", FatalError, ExitCode.FATAL, id="400"),
        pytest.param("401", ConfigError, ExitCode.CONFIG, id="401"),
        pytest.param("403", FatalError, ExitCode.FATAL, id="403"),
        pytest.param("403-limit", LimitReachedError, ExitCode.LIMIT_REACHED, id="403-limit"),
        pytest.param("404", FatalError, ExitCode.FATAL, id="404"),
        pytest.param("429", RetriableError, ExitCode.RETRIES_EXHAUSTED, id="429"),
        pytest.param("500", RetriableError, ExitCode.RETRIES_EXHAUSTED, id="500"),
        pytest.param("502", RetriableError, ExitCode.RETRIES_EXHAUSTED, id="502"),
        pytest.param("503", RetriableError, ExitCode.RETRIES_EXHAUSTED, id="503"),
        pytest.param("504", RetriableError, ExitCode.RETRIES_EXHAUSTED, id="504"),
        pytest.param("unreachable", RetriableError, ExitCode.RETRIES_EXHAUSTED, id="unreachable"),
    ],
)
def test_a_salesforce_failure_becomes_the_error_its_status_or_code_maps_to(
    answer: str, error_class: type[LeadsyncError], exit_code: ExitCode
) -> None:
    """The error code (REQUEST_LIMIT_EXCEEDED), else the status, decides the error and the
    exit code; the message names Salesforce, the status and Salesforce's message, never
    the token."""
    status, _, vendor_text = ANSWERS[answer]

    error, api = salesforce_failure(answer)

    assert (type(error), error.exit_code, api.calls) == (error_class, exit_code, 1)
    assert "Salesforce" in error.message
    assert vendor_text in error.message
    if status is not UNREACHABLE:
        assert re.search(rf"\b{status}\b", error.message), error.message
    if isinstance(error, RetriableError):
        assert (error.vendor, error.status) == ("salesforce", status)
    if isinstance(error, LimitReachedError):
        assert error.vendor == "salesforce"
    assert TOKEN not in f"{error} {error!r} {error.attrs()}"
