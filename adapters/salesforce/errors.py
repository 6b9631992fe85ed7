"""Salesforce's failures as ``connector.errors``, and the record codes the writer resends.

One table, ``FAILURES``, says what each failure of a call becomes: keyed by the
``errorCode`` of Salesforce's error body where the code says more than the status
(``REQUEST_LIMIT_EXCEEDED`` comes with a 403, as a refused permission does), else by the
HTTP status. ``SalesforceApi.run`` (``adapters.salesforce.client``) hands every failure
of a call here; nothing else decides what a Salesforce failure means.

simple-salesforce raises ``SalesforceMoreThanOneRecord`` (300),
``SalesforceMalformedRequest`` (400), ``SalesforceExpiredSession`` (401),
``SalesforceRefusedRequest`` (403), ``SalesforceResourceNotFound`` (404) and
``SalesforceGeneralError`` for any other status (``simple_salesforce/util.py``,
``exception_handler``); each carries ``.status`` and the parsed body in ``.content``,
which is what is read here, not the class.

A ``RetriableError`` (429, 5xx, no answer) is what ``SalesforceApi.run`` tries again,
through ``connector.retry``; it carries the ``Retry-After`` seconds Salesforce sent, if
any (simple-salesforce's errors keep no headers: ``SalesforceApi`` reads them from the
answer itself and hands them here). No answer at all is a ``RetriableError`` with no
status, except a refused certificate, which no retry mends.

Salesforce's statuses and codes:
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceError, SalesforceOperationError

from connector.errors import ConfigError, FatalError, LimitReachedError, RetriableError
from connector.secrets import redact

__all__ = [
    "CONVERTED_CODE",
    "FAILURES",
    "GONE_CODES",
    "LIMIT_CODE",
    "LOCKED_CODE",
    "RESENT_CODES",
    "RETRY_LIMIT_AFTER",
    "VENDOR",
    "VENDOR_ERRORS",
    "Failure",
    "error_for",
    "errors_of",
    "reason_of",
    "retry_after_s",
]

VENDOR = "salesforce"
LIMIT_CODE = "REQUEST_LIMIT_EXCEEDED"
# The allowance is a rolling 24-hour window: an hour later part of it is free again.
RETRY_LIMIT_AFTER = timedelta(hours=1)

# -- one record's codes (a collections result, a Bulk API failed row) --------------------
# Refusals of one record that the writer does not reject but sends again:
LOCKED_CODE = "UNABLE_TO_LOCK_ROW"  # another transaction holds the row: resent after a pause
CONVERTED_CODE = "CANNOT_UPDATE_CONVERTED_LEAD"  # written to the Contact the Lead became
# The record a linked id named is gone (deleted, or merged into another): found again by
# e-mail.
GONE_CODES = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"})
RESENT_CODES = frozenset({LOCKED_CODE, CONVERTED_CODE, *GONE_CODES})

# -- a call's failures --------------------------------------------------------------------

# What a failed call raises: simple-salesforce's errors, a Bulk API 2.0 step's, the network.
VENDOR_ERRORS = (SalesforceError, SalesforceOperationError, requests.RequestException)

_Error = type[ConfigError] | type[FatalError] | type[LimitReachedError] | type[RetriableError]


@dataclass(frozen=True, slots=True)
class Failure:
    """What a kind of Salesforce failure becomes: our error class, its message (a
    template of ``{what}``, the call, ``{status}`` and ``{detail}``, Salesforce's codes and
    messages) and the hint for the admin."""

    error: _Error
    message: str
    hint: str | None = None


_ANSWERED = "Salesforce answered {status} to {what}: {detail}"
_LATER_HINT = (
    "try again later (trust.salesforce.com shows incidents); the next run starts again "
    "where this one stopped"
)
_NETWORK_HINT = (
    "check the network (and [crm.salesforce] domain, for a login); the next run starts "
    "again where this one stopped"
)

FAILURES: Mapping[int | str, Failure] = MappingProxyType(
    {
        # The org's daily API allowance is spent: paused until part of it is free again.
        LIMIT_CODE: Failure(LimitReachedError, _ANSWERED),
        # INVALID_SESSION_ID: the access token expired or was revoked.
        401: Failure(
            ConfigError,
            "Salesforce refused the session ({status}: {detail})",
            "the access token has expired or was revoked: get a new one "
            "(`sf org display`) or use a login mode that renews itself",
        ),
        403: Failure(
            FatalError,
            "Salesforce refused {what} ({status}: {detail})",
            "check the integration user's permissions on Lead and Contact",
        ),
        429: Failure(RetriableError, _ANSWERED, _LATER_HINT),
        500: Failure(RetriableError, _ANSWERED, _LATER_HINT),
        502: Failure(RetriableError, _ANSWERED, _LATER_HINT),
        503: Failure(RetriableError, _ANSWERED, _LATER_HINT),
        504: Failure(RetriableError, _ANSWERED, _LATER_HINT),
    }
)
# Any other status (300, 400, 404, ...): Salesforce will not take the call as it is.
_OTHER = Failure(FatalError, _ANSWERED)
# A Bulk API 2.0 step the library itself refused or could not finish.
_BULK_FAILED = Failure(FatalError, "Salesforce failed {what}: {detail}")
# No answer at all (connection refused or reset, timeouts, a body cut short).
_UNREACHABLE = Failure(
    RetriableError, "cannot reach Salesforce for {what}: {detail}", _NETWORK_HINT
)
# The server's certificate was refused: the same on every attempt, so not retried.
_UNTRUSTED = Failure(
    FatalError,
    "cannot reach Salesforce for {what}: {detail}",
    "the server's certificate is not trusted: check SALESFORCE_INSTANCE_URL, and "
    "REQUESTS_CA_BUNDLE behind a TLS-inspecting proxy",
)


def retry_after_s(value: str | None, *, now: datetime | None = None) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait (a number of seconds or an
    HTTP date), None when there is none or it cannot be read.

    https://www.rfc-editor.org/rfc/rfc9110#field.retry-after
    """
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - (now or datetime.now(UTC))).total_seconds(), 0.0)


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


def reason_of(errors: Any) -> str:
    """A record's refusal as a reject reason: each code and message, and the fields it
    names."""
    described = []
    for item in errors or []:
        if not item:
            continue
        code, message = errors_of(item)[0]
        fields = item.get("fields") if isinstance(item, Mapping) else None
        on = f" (fields: {', '.join(fields)})" if fields else ""
        described.append(f"{code}: {message}{on}")
    return "; ".join(described) or "Salesforce did not say why"


def _failure_of(exc: Exception) -> tuple[Failure, int | None, str]:
    """The table's entry for ``exc``, the status Salesforce answered and the detail."""
    if isinstance(exc, SalesforceError):
        # The body only, never str(exc): the URL of a look-up carries e-mails.
        errors = errors_of(exc.content)
        detail = "; ".join(f"{code}: {message}" for code, message in errors)
        by_code = (FAILURES.get(code) for code, _ in errors)
        failure = next((found for found in by_code if found is not None), None)
        return failure or FAILURES.get(exc.status, _OTHER), exc.status, detail
    if isinstance(exc, SalesforceOperationError):
        return _BULK_FAILED, None, redact(str(exc))[:300]
    if isinstance(exc, requests.exceptions.SSLError):
        return _UNTRUSTED, None, type(exc).__name__
    return _UNREACHABLE, None, type(exc).__name__


def error_for(
    exc: SalesforceError | SalesforceOperationError | requests.RequestException,
    what: str,
    *,
    retry_after: float | None = None,
) -> ConfigError | FatalError | LimitReachedError | RetriableError:
    """Our error for a failed call to Salesforce (one of ``VENDOR_ERRORS``).

    Args:
        exc: what simple-salesforce or requests raised.
        what: the call, as the message names it ("a query", "an update of records").
        retry_after: the seconds the answer's ``Retry-After`` asked to wait, if any: a
            ``RetriableError`` carries them to the retry policy.

    Returns:
        The error to raise: the message names Salesforce, the status, and Salesforce's
        codes and messages, with any known secret blanked out. A ``LimitReachedError``
        is for ``RETRY_LIMIT_AFTER`` from now.
    """
    failure, status, detail = _failure_of(exc)
    message = redact(failure.message.format(what=what, status=status, detail=detail))
    if failure.error is LimitReachedError:
        return LimitReachedError(
            message,
            retry_after=datetime.now(UTC) + RETRY_LIMIT_AFTER,
            vendor=VENDOR,
            hint=failure.hint,
        )
    if failure.error is RetriableError:
        return RetriableError(
            message,
            vendor=VENDOR,
            status=status,
            retry_after_s=retry_after,
            hint=failure.hint,
        )
    if failure.error is ConfigError:
        return ConfigError(message, key="crm.salesforce", hint=failure.hint)
    return FatalError(message, hint=failure.hint)
