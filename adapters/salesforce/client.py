"""Calls to Salesforce through simple-salesforce, counted and kept within the API budget.

Salesforce counts every REST call against the org's rolling 24-hour allowance and reports
the use in each answer's ``Sforce-Limit-Info`` header (simple-salesforce keeps it in
``api_usage``). ``SalesforceApi`` checks it before each call: at ``api_share`` of the
allowance, or when Salesforce answers ``REQUEST_LIMIT_EXCEEDED``, it raises
``LimitReachedError`` and makes no further call. Bulk API 2.0 calls, which report no usage,
go through the same check (``run``). Every failure of a call becomes a ``connector.errors``
error here, as the table in ``adapters.salesforce.errors`` says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from simple_salesforce.api import Salesforce

from adapters.salesforce.errors import RETRY_LIMIT_AFTER, VENDOR, VENDOR_ERRORS, error_for
from connector.errors import LimitReachedError

__all__ = ["SalesforceApi"]

T = TypeVar("T")


class SalesforceApi:
    """One org's REST API: queries, collections and describes, each call counted."""

    def __init__(self, sf: Salesforce, *, api_share: float = 0.8, timeout_s: float = 60) -> None:
        self.sf = sf
        self._api_share = api_share
        self._timeout_s = timeout_s
        self.calls = 0
        self._limit: LimitReachedError | None = None

    # -- budget -----------------------------------------------------------------------------

    def usage(self) -> tuple[int, int] | None:
        """(used, allowed) requests in the last 24 hours, as of the last answer."""
        usage = self.sf.api_usage.get("api-usage")
        return None if usage is None else (int(usage.used), int(usage.total))

    def _check_budget(self) -> None:
        if self._limit is not None:
            raise self._limit
        usage = self.usage()
        if usage is not None and usage[1] > 0 and usage[0] >= self._api_share * usage[1]:
            self._limit = LimitReachedError(
                f"the org has used {usage[0]:,} of its {usage[1]:,} daily API requests, "
                f"[crm.salesforce] api_share {self._api_share:g} of them",
                retry_after=datetime.now(UTC) + RETRY_LIMIT_AFTER,
                vendor=VENDOR,
            )
            raise self._limit

    # -- calls ------------------------------------------------------------------------------

    def _call(self, what: str, function: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.sf, function)
        return self.run(what, lambda: method(*args, timeout=self._timeout_s, **kwargs))

    def run(self, what: str, call: Callable[[], T]) -> T:
        """``call`` (one request to Salesforce) within the budget, its errors ours.

        Raises:
            LimitReachedError: the budget is spent, or Salesforce said so; no call follows.
            RetriableError: 429 or 5xx, or no answer.
            ConfigError: Salesforce refused the session (401).
            FatalError: any other refusal.
        """
        self._check_budget()
        self.calls += 1
        try:
            return call()
        except VENDOR_ERRORS as exc:
            error = error_for(exc, what)
            if isinstance(error, LimitReachedError):
                self._limit = error  # no further call: each would be refused the same way
            raise error from None

    def query_pages(self, soql: str) -> Iterator[list[dict[str, Any]]]:
        """The records of ``soql`` page by page (2,000 a page), following
        ``nextRecordsUrl``."""
        answer = self._call("a query", "query", soql)
        while True:
            yield [dict(record) for record in answer.get("records", [])]
            next_url = answer.get("nextRecordsUrl")
            if answer.get("done", True) or not next_url:
                return
            answer = self._call("a query", "query_more", next_url, identifier_is_url=True)

    def query(self, soql: str) -> list[dict[str, Any]]:
        return [record for page in self.query_pages(soql) for record in page]

    def restful(self, what: str, path: str, *, method: str = "GET", body: Any = None) -> Any:
        if body is None:
            return self._call(what, "restful", path, method=method)
        return self._call(what, "restful", path, method=method, json=body)

    def describe(self, sobject: str) -> dict[str, Any]:
        answer = self.restful(f"the describe of {sobject}", f"sobjects/{sobject}/describe")
        return dict(answer or {})
