"""HubSpot's failures as ``connector.errors``: one table, from HTTP status to our error.

``Caller`` (``adapters.hubspot.client``) sends every call and hands each failed answer
here; nothing else decides what a HubSpot status means. The statuses whose error is
``RetriableError`` are also the ones urllib3 retries inside the client
(``RETRIED_STATUSES``), so such an error has outlasted those retries.

HubSpot's statuses: https://developers.hubspot.com/docs/api/error-handling
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from adapters.hubspot.settings import TOKEN_ENV
from connector.errors import ConfigError, FatalError, RetriableError
from connector.secrets import redact

__all__ = [
    "FAILURES",
    "RETRIED_STATUSES",
    "RETURNED_STATUSES",
    "VENDOR",
    "Failure",
    "error_for",
]

VENDOR = "hubspot"

_TOKEN_HINT = (
    f"check {TOKEN_ENV} (or {TOKEN_ENV}_FILE): a private-app token with the "
    "crm.objects.contacts.read and .write and crm.schemas.contacts scopes"
)
_LATER_HINT = "try again later"
_NETWORK_HINT = "check [crm.hubspot] base_url and the network"


@dataclass(frozen=True, slots=True)
class Failure:
    """What a kind of HubSpot failure becomes: our error class, its message (a template
    of ``{status}`` and ``{detail}``, HubSpot's own message) and the hint for the admin."""

    error: type[ConfigError] | type[RetriableError] | type[FatalError]
    message: str
    hint: str | None = None


_TOKEN_REFUSED = "HubSpot refused the access token ({status}: {detail})"  # noqa: S105 - a message
_RETRIED_AND_FAILED = "HubSpot kept answering {status} after retries: {detail}"

FAILURES: Mapping[int, Failure] = MappingProxyType(
    {
        # The token is wrong, expired or revoked: the admin replaces it.
        401: Failure(ConfigError, _TOKEN_REFUSED, _TOKEN_HINT),
        # The token is valid but lacks a scope (or the portal lacks the feature).
        403: Failure(FatalError, _TOKEN_REFUSED, _TOKEN_HINT),
        429: Failure(
            RetriableError,
            _RETRIED_AND_FAILED,
            "try again later; lower [crm.hubspot] requests_per_10s",
        ),
        500: Failure(RetriableError, _RETRIED_AND_FAILED, _LATER_HINT),
        502: Failure(RetriableError, _RETRIED_AND_FAILED, _LATER_HINT),
        503: Failure(RetriableError, _RETRIED_AND_FAILED, _LATER_HINT),
        504: Failure(RetriableError, _RETRIED_AND_FAILED, _LATER_HINT),
    }
)
# Any other status: HubSpot will not take the call as it is.
_OTHER = Failure(FatalError, "HubSpot answered {status}: {detail}")
# No answer at all (connection refused, TLS, timeouts), after the client's retries.
_UNREACHABLE = Failure(RetriableError, "HubSpot unreachable: {detail}", _NETWORK_HINT)

# urllib3's ``status_forcelist``: the statuses that are worth another attempt.
RETRIED_STATUSES = tuple(
    sorted(status for status, failure in FAILURES.items() if failure.error is RetriableError)
)
# Not failures of the call: a batch with an invalid input (400, split to find it) or an
# object that exists (409). ``Caller`` returns them to the code that made the call.
RETURNED_STATUSES = frozenset({400, 409})


def error_for(
    status: int | None, detail: str, *, retry_after_s: float | None = None
) -> ConfigError | RetriableError | FatalError:
    """Our error for a HubSpot answer of ``status`` (None or 0: no answer came).

    Args:
        status: the HTTP status HubSpot answered, or None when the call got no answer.
        detail: HubSpot's message (``message_of`` the body), or what failed on the way.
        retry_after_s: the last ``Retry-After`` HubSpot sent, if any.

    Returns:
        The error to raise: the message names HubSpot, the status and HubSpot's message,
        with any known secret blanked out.
    """
    failure = _UNREACHABLE if not status else FAILURES.get(status, _OTHER)
    message = redact(failure.message.format(status=status, detail=detail))
    if failure.error is RetriableError:
        return RetriableError(
            message,
            vendor=VENDOR,
            status=status or None,
            retry_after_s=retry_after_s,
            hint=failure.hint,
        )
    if failure.error is ConfigError:
        return ConfigError(message, key="crm.hubspot", hint=failure.hint)
    return FatalError(message, hint=failure.hint)
