"""Calls to Salesforce through simple-salesforce: counted, kept within the API budget, and
tried again when they failed for a passing reason.

Salesforce counts every REST call against the org's rolling 24-hour allowance and reports
the use in each answer's ``Sforce-Limit-Info`` header. simple-salesforce keeps it in
``api_usage`` from its successful answers only; ``SalesforceApi`` reads it from every
answer (refusals and Bulk API 2.0 steps included) and checks it before each attempt of a
call: at ``api_share`` of the allowance, or when Salesforce answers
``REQUEST_LIMIT_EXCEEDED``, it raises ``LimitReachedError`` and makes no further call.
Every failure of a call becomes a ``connector.errors`` error here, as the table in
``adapters.salesforce.errors`` says.

``run`` hands each call to ``connector.retry.call_retried``, the one retry layer (the
requests session under simple-salesforce keeps urllib3's default of no retries): a 429,
a 5xx, a reset or a timeout is tried again, up to ``retry_attempts`` attempts, after the
``Retry-After`` Salesforce sent or a backoff. Each attempt is a call of its own: checked
against the budget, counted, logged when it failed. A call that is not safe to repeat (a
create) is sent again only after a 429 or 503, which say it was not done; after a lost
answer the writer finds out by e-mail what the create made (``adapters.salesforce.writer``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from simple_salesforce.api import Salesforce

from adapters.salesforce.errors import (
    RETRY_LIMIT_AFTER,
    VENDOR,
    VENDOR_ERRORS,
    error_for,
    retry_after_s,
)
from connector.errors import LimitReachedError, RetriableError
from connector.retry import DEFAULT_POLICY, RetryPolicy, call_retried

__all__ = ["SalesforceApi"]

T = TypeVar("T")


class SalesforceApi:
    """One org's REST API: queries, collections and describes, each call counted."""

    def __init__(
        self,
        sf: Salesforce,
        *,
        api_share: float = 0.8,
        timeout_s: float = 60,
        retry_policy: RetryPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sf = sf
        self._api_share = api_share
        self._timeout_s = timeout_s
        self.retry_policy = retry_policy
        self._sleep = sleep
        self.calls = 0
        self._limit: LimitReachedError | None = None
        # The Retry-After of the answer to the attempt in flight, per thread.
        self._answer = threading.local()
        sf.session.hooks["response"].append(self._read_answer)

    def _read_answer(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Keep what simple-salesforce's errors drop: ``Retry-After``, and the usage that
        a refusal or a Bulk step reports too."""
        self._answer.retry_after_s = retry_after_s(response.headers.get("Retry-After"))
        limit_info = response.headers.get("Sforce-Limit-Info")
        if limit_info:
            self.sf.api_usage = Salesforce.parse_api_usage(limit_info)

    # -- budget -----------------------------------------------------------------------------

    def usage(self) -> tuple[int, int] | None:
        """(used, allowed) requests in the last 24 hours, as of the last answer."""
        usage = self.sf.api_usage.get("api-usage")
        return None if usage is None else (int(usage.used), int(usage.total))

    def _spent(self) -> LimitReachedError | None:
        """The error that stops further calls, once the budget is spent."""
        if self._limit is not None:
            return self._limit
        usage = self.usage()
        if usage is not None and usage[1] > 0 and usage[0] >= self._api_share * usage[1]:
            self._limit = LimitReachedError(
                f"the org has used {usage[0]:,} of its {usage[1]:,} daily API requests, "
                f"[crm.salesforce] api_share {self._api_share:g} of them",
                retry_after=datetime.now(UTC) + RETRY_LIMIT_AFTER,
                vendor=VENDOR,
            )
        return self._limit

    def _check_budget(self) -> None:
        limit = self._spent()
        if limit is not None:
            raise limit

    # -- calls ------------------------------------------------------------------------------

    def _call(
        self, what: str, function: str, *args: Any, safe_to_repeat: bool = True, **kwargs: Any
    ) -> Any:
        method = getattr(self.sf, function)
        return self.run(
            what,
            lambda: method(*args, timeout=self._timeout_s, **kwargs),
            safe_to_repeat=safe_to_repeat,
        )

    def run(self, what: str, call: Callable[[], T], *, safe_to_repeat: bool = True) -> T:
        """``call`` (one request to Salesforce) within the budget, its errors ours, tried
        again as ``retry_policy`` allows; each attempt is checked and counted.

        Args:
            what: the call, for messages and logs ("a query").
            call: one request through simple-salesforce.
            safe_to_repeat: False for a call that must not be done twice (a create): it is
                sent again only after an answer saying it was not done (429, 503).

        Raises:
            LimitReachedError: the budget is spent, or Salesforce said so; no call follows.
            RetriableError: 429 or 5xx, or no answer, still so after the retries (or, for a
                call not safe to repeat, at once when it may have been done).
            ConfigError: Salesforce refused the session (401).
            FatalError: any other refusal.
        """

        def attempt() -> T:
            self._check_budget()
            self.calls += 1
            self._answer.retry_after_s = None
            try:
                return call()
            except VENDOR_ERRORS as exc:
                error = error_for(exc, what, retry_after=self._answer.retry_after_s)
                if isinstance(error, LimitReachedError):
                    self._limit = error  # no further call: each would be refused the same way
                elif isinstance(error, RetriableError):
                    # The failed answer itself may report the budget spent: stop now rather
                    # than wait for a retry the check would refuse.
                    error = self._spent() or error
                raise error from None

        return call_retried(
            attempt,
            what=what,
            vendor=VENDOR,
            safe_to_repeat=safe_to_repeat,
            policy=self.retry_policy,
            sleep=self._sleep,
        )

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

    def restful(
        self,
        what: str,
        path: str,
        *,
        method: str = "GET",
        body: Any = None,
        safe_to_repeat: bool = True,
    ) -> Any:
        """One REST call; ``safe_to_repeat`` as ``run`` says (False for a create)."""
        if body is None:
            return self._call(what, "restful", path, method=method, safe_to_repeat=safe_to_repeat)
        return self._call(
            what, "restful", path, method=method, json=body, safe_to_repeat=safe_to_repeat
        )

    def describe(self, sobject: str) -> dict[str, Any]:
        answer = self.restful(f"the describe of {sobject}", f"sobjects/{sobject}/describe")
        return dict(answer or {})
