"""Calls to Salesforce through simple-salesforce, counted and kept within the API budget.

Salesforce counts every REST call against the org's rolling 24-hour allowance and reports
the use in each answer's ``Sforce-Limit-Info`` header (simple-salesforce keeps it in
``api_usage``). ``SalesforceApi`` checks it before each call: at ``api_share`` of the
allowance, or when Salesforce answers ``REQUEST_LIMIT_EXCEEDED``, it raises
``LimitReachedError`` and makes no further call. Bulk API 2.0 calls, which report no usage,
go through the same check (``run``). Salesforce's other errors become ``connector.errors``
here, their text cut to the codes and messages (a URL may carry e-mails of a look-up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceOperationError,
    SalesforceRefusedRequest,
)

from connector.errors import ConfigError, FatalError, LimitReachedError
from connector.secrets import redact

__all__ = ["LIMIT_CODE", "SalesforceApi", "errors_of"]

T = TypeVar("T")
LIMIT_CODE = "REQUEST_LIMIT_EXCEEDED"
# The allowance is a rolling 24-hour window: an hour later part of it is free again.
RETRY_LIMIT_AFTER = timedelta(hours=1)


def errors_of(content: Any) -> list[tuple[str, str]]:
    """(errorCode, message) pairs of a Salesforce error body (a JSON array), or of one
    record's ``errors`` (statusCode, message)."""
    if isinstance(content, Mapping):
        content = [content]
    found: list[tuple[str, str]] = []
    if isinstance(content, list):
        for item in content:
            if isinstance(item, Mapping):
                code = str(item.get("errorCode") or item.get("statusCode") or "ERROR")
                found.append((code, str(item.get("message") or "")))
    if not found and content:
        found.append(("ERROR", str(content)[:300]))
    return found


def _described(content: Any) -> str:
    return redact("; ".join(f"{code}: {message}" for code, message in errors_of(content)))


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
                vendor="salesforce",
            )
            raise self._limit

    # -- calls ------------------------------------------------------------------------------

    def _call(self, what: str, function: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.sf, function)
        return self.run(what, lambda: method(*args, timeout=self._timeout_s, **kwargs))

    def run(self, what: str, call: Callable[[], T]) -> T:
        """``call`` (one request to Salesforce) within the budget, its errors ours."""
        self._check_budget()
        self.calls += 1
        try:
            return call()
        except SalesforceRefusedRequest as exc:
            if any(code == LIMIT_CODE for code, _ in errors_of(exc.content)):
                self._limit = LimitReachedError(
                    f"Salesforce answered {LIMIT_CODE} ({_described(exc.content)})",
                    retry_after=datetime.now(UTC) + RETRY_LIMIT_AFTER,
                    vendor="salesforce",
                )
                raise self._limit from None
            raise FatalError(
                f"Salesforce refused {what}: {_described(exc.content)}",
                hint="check the integration user's permissions on Lead and Contact",
            ) from None
        except SalesforceExpiredSession as exc:
            raise ConfigError(
                f"Salesforce refused the session ({_described(exc.content)})",
                key="crm.salesforce",
                hint="the access token has expired or was revoked: get a new one "
                "(`sf org display`) or use a login mode that renews itself",
            ) from None
        except SalesforceError as exc:
            raise FatalError(
                f"Salesforce answered {exc.status} to {what}: {_described(exc.content)}"
            ) from None
        except SalesforceOperationError as exc:
            raise FatalError(f"Salesforce failed {what}: {redact(str(exc))[:300]}") from None
        except requests.RequestException as exc:
            raise FatalError(
                f"cannot reach Salesforce for {what}: {redact(type(exc).__name__)}",
                hint="check the network; the next run starts again where this one stopped",
            ) from None

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
