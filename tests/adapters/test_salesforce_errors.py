"""Each failure of a Salesforce call becomes the error ``adapters.salesforce.errors``
names for it, and ``SalesforceApi`` tries again the ones worth it: a real
simple-salesforce query through ``SalesforceApi``, answered by ``responses`` in
Salesforce's error shapes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses
from responses.registries import OrderedRegistry
from simple_salesforce.api import Salesforce
from structlog.testing import capture_logs

from adapters.salesforce.client import SalesforceApi
from adapters.salesforce.errors import retry_after_s
from connector.errors import (
    ConfigError,
    ExitCode,
    FatalError,
    LeadsyncError,
    LimitReachedError,
    RetriableError,
)
from connector.retry import RetryPolicy

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
    "untrusted": (UNREACHABLE, requests.exceptions.SSLError("certificate verify failed"), "SSL"),
}


def salesforce_failure(answer: str) -> tuple[LeadsyncError, SalesforceApi]:
    """What a query raises when Salesforce gives ``ANSWERS[answer]``, and the API it went
    through (one request made, or the test fails)."""
    status, body, _ = ANSWERS[answer]
    # One attempt: what each failure becomes, before any retry.
    api = SalesforceApi(
        Salesforce(instance_url=INSTANCE, session_id=TOKEN, version=VERSION),
        retry_policy=RetryPolicy(attempts=1),
    )
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
        pytest.param("untrusted", FatalError, ExitCode.FATAL, id="untrusted"),
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


# -- retries ---------------------------------------------------------------------------------

NO_RECORDS = {"totalSize": 0, "done": True, "records": []}
POLICY = RetryPolicy(attempts=3, backoff_s=0.5, max_wait_s=30)


def _api(waits: list[float], *, api_share: float = 0.8) -> SalesforceApi:
    """An API whose retries record their waits instead of sleeping."""
    return SalesforceApi(
        Salesforce(instance_url=INSTANCE, session_id=TOKEN, version=VERSION),
        api_share=api_share,
        retry_policy=POLICY,
        sleep=waits.append,
    )


def _retries(logs: list[dict[str, Any]]) -> list[tuple[str, int, float, int | None]]:
    return [
        (line["call"], line["attempt"], line["wait_s"], line["status"])
        for line in logs
        if line["event"] == "call.retry"
    ]


class TestRetries:
    @pytest.mark.parametrize(
        "no_answer",
        [
            pytest.param(requests.ConnectionError("Connection reset by peer"), id="reset"),
            pytest.param(requests.exceptions.ReadTimeout("read timed out"), id="read-timeout"),
            pytest.param(
                requests.exceptions.ChunkedEncodingError("Connection broken"), id="cut-short"
            ),
        ],
    )
    def test_a_query_without_an_answer_is_tried_again_and_the_retry_logged(
        self, no_answer: Exception
    ) -> None:
        """A reset, a read timeout or a body cut short: the query is sent again after a
        backoff, and the retry is logged with the call, the attempt and the wait."""
        waits: list[float] = []
        api = _api(waits)
        with (
            responses.RequestsMock(
                assert_all_requests_are_fired=True, registry=OrderedRegistry
            ) as mocked,
            capture_logs() as logs,
        ):
            failed = mocked.get(QUERY_URL, body=no_answer)
            answered = mocked.get(QUERY_URL, json=NO_RECORDS)
            assert api.query("SELECT Id, Email FROM Lead") == []
        assert (failed.call_count, answered.call_count, api.calls) == (1, 1, 2)
        assert len(waits) == 1 and 0.5 <= waits[0] <= 1.0
        assert _retries(logs) == [("a query", 1, round(waits[0], 3), None)]

    def test_a_503_is_tried_again_after_the_retry_after_salesforce_sent(self) -> None:
        """Retry-After (seconds, or an HTTP date) is waited instead of the backoff."""
        waits: list[float] = []
        api = _api(waits)
        unavailable = _errors("SERVER_UNAVAILABLE", "Server unavailable")
        with (
            responses.RequestsMock(
                assert_all_requests_are_fired=True, registry=OrderedRegistry
            ) as mocked,
            capture_logs() as logs,
        ):
            mocked.get(QUERY_URL, status=503, json=unavailable, headers={"Retry-After": "1"})
            mocked.get(QUERY_URL, status=503, json=unavailable, headers={"Retry-After": "0"})
            mocked.get(QUERY_URL, json=NO_RECORDS)
            assert api.query("SELECT Id, Email FROM Lead") == []
        assert waits == [1.0, 0.0]
        assert _retries(logs) == [("a query", 1, 1.0, 503), ("a query", 2, 0.0, 503)]

    def test_retries_spent_end_in_the_last_error_with_its_retry_after(self) -> None:
        waits: list[float] = []
        api = _api(waits)
        with responses.RequestsMock(assert_all_requests_are_fired=True) as mocked:
            answered = mocked.get(
                QUERY_URL,
                status=503,
                json=_errors("SERVER_UNAVAILABLE", "Server unavailable"),
                headers={"Retry-After": "2"},
            )
            with pytest.raises(RetriableError) as raised:
                api.query("SELECT Id, Email FROM Lead")
        assert (answered.call_count, api.calls, waits) == (3, 3, [2.0, 2.0])
        assert (raised.value.status, raised.value.retry_after_s) == (503, 2.0)

    @pytest.mark.parametrize("answer", ["400", "404", "401", "403", "untrusted"])
    def test_a_refusal_is_not_tried_again(self, answer: str) -> None:
        """Salesforce will not take the call as it is (or the certificate is refused): one
        request, no wait."""
        status, body, _ = ANSWERS[answer]
        waits: list[float] = []
        api = _api(waits)
        with responses.RequestsMock(assert_all_requests_are_fired=True) as mocked:
            if status is UNREACHABLE:
                answered = mocked.get(QUERY_URL, body=body)
            else:
                answered = mocked.get(QUERY_URL, status=status, json=body)
            with pytest.raises(LeadsyncError) as raised:
                api.query("SELECT Id, Email FROM Lead")
        assert not isinstance(raised.value, RetriableError)
        assert (answered.call_count, api.calls, waits) == (1, 1, [])

    def test_the_budget_is_checked_before_each_attempt(self) -> None:
        """The 503 reports the org at the share leadsync may use: no second attempt."""
        waits: list[float] = []
        api = _api(waits, api_share=0.8)
        with responses.RequestsMock(
            assert_all_requests_are_fired=True, registry=OrderedRegistry
        ) as mocked:
            refused = mocked.get(
                QUERY_URL,
                status=503,
                json=_errors("SERVER_UNAVAILABLE", "Server unavailable"),
                headers={"Sforce-Limit-Info": "api-usage=80/100"},
            )
            with pytest.raises(LimitReachedError, match="used 80 of its 100 daily API requests"):
                api.query("SELECT Id, Email FROM Lead")
        assert (refused.call_count, api.calls, waits) == (1, 1, [])

    def test_a_create_without_an_answer_is_not_sent_again(self) -> None:
        """Not safe to repeat: the writer finds out what it made (see the push tests)."""
        waits: list[float] = []
        api = _api(waits)
        url = f"{INSTANCE}/services/data/v{VERSION}/composite/sobjects"
        with responses.RequestsMock(assert_all_requests_are_fired=True) as mocked:
            sent = mocked.post(url, body=requests.exceptions.ReadTimeout("read timed out"))
            with pytest.raises(RetriableError) as raised:
                api.restful(
                    "a creation of records",
                    "composite/sobjects",
                    method="POST",
                    body={"allOrNone": False, "records": []},
                    safe_to_repeat=False,
                )
        assert (sent.call_count, api.calls, waits, raised.value.status) == (1, 1, [], None)

    def test_a_create_refused_as_unavailable_is_sent_again(self) -> None:
        """A 503 says it was not done: sending it again makes nothing twice."""
        waits: list[float] = []
        api = _api(waits)
        url = f"{INSTANCE}/services/data/v{VERSION}/composite/sobjects"
        created = [{"id": "00Q000000000001AAA", "success": True, "errors": []}]
        with responses.RequestsMock(
            assert_all_requests_are_fired=True, registry=OrderedRegistry
        ) as mocked:
            mocked.post(url, status=503, json=_errors("SERVER_UNAVAILABLE", "Server unavailable"))
            mocked.post(url, json=created)
            answer = api.restful(
                "a creation of records",
                "composite/sobjects",
                method="POST",
                body={"allOrNone": False, "records": []},
                safe_to_repeat=False,
            )
        assert (answer, api.calls, len(waits)) == (created, 2, 1)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("Wed, 25 Nov 2026 10:00:30 GMT", 30.0),
        ("Wed, 25 Nov 2026 09:59:00 GMT", 0.0),  # already past
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert retry_after_s(header, now=now) == seconds
