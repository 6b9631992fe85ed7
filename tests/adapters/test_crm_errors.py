"""HubSpot and Salesforce mean the same by each error: the same failure from either CRM
ends the run with the same exit code."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from connector.errors import ExitCode, RetriableError
from tests.adapters.hubspot_fake import CONTACTS_SPEC
from tests.adapters.test_hubspot_errors import hubspot_failure
from tests.adapters.test_salesforce_errors import ANSWERS, salesforce_failure

pytestmark = pytest.mark.skipif(
    not CONTACTS_SPEC.exists(), reason=f"HubSpot's OpenAPI files are not at {CONTACTS_SPEC}"
)


def test_a_503_exits_with_the_same_code_from_hubspot_and_salesforce(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 503 that outlasts the adapter is a RetriableError from both, exit status 6."""
    hubspot, _ = hubspot_failure(httpserver, monkeypatch, 503)
    salesforce, _ = salesforce_failure("503")

    assert [(type(error), error.exit_code) for error in (hubspot, salesforce)] == [
        (RetriableError, ExitCode.RETRIES_EXHAUSTED)
    ] * 2


@pytest.mark.parametrize("answer", ["401", "403", "404", "429", "500", "502", "504", "unreachable"])
def test_each_other_shared_failure_exits_with_the_same_code_from_both(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    """Token refused, permission refused, not found, rate limit, server errors, no answer:
    the same error class and exit code from HubSpot as from Salesforce."""
    status, _, _ = ANSWERS[answer]
    hubspot, _ = hubspot_failure(httpserver, monkeypatch, status)
    salesforce, _ = salesforce_failure(answer)

    assert (type(hubspot), hubspot.exit_code) == (type(salesforce), salesforce.exit_code)
