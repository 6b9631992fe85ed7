"""HubSpot's failures as ``connector.errors``: one table, from HTTP status to our error.

``Caller`` (``adapters.hubspot.client``) sends every call and hands each failed answer
here; nothing else decides what a HubSpot status means. A ``RetriableError`` is what
``connector.retry`` tries again, around the whole call: raised out of ``Caller``, it has
outlasted those retries.

A 429 of the daily limit is keyed apart (``DAILY_POLICY``), as Salesforce's
``REQUEST_LIMIT_EXCEEDED`` is: HubSpot refuses every call until the limit resets at
midnight in the portal's time zone, so retrying it only spends the waits. It is not
retried (``is_daily_limit`` tells it apart) and it stops the run: ``LimitReachedError``.

HubSpot's statuses: https://developers.hubspot.com/docs/api/error-handling
HubSpot's limits: https://developers.hubspot.com/docs/api/usage-details
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from types import MappingProxyType
from typing import Any

from adapters.hubspot.settings import TOKEN_ENV
from connector.errors import ConfigError, FatalError, LimitReachedError, RetriableError
from connector.secrets import redact

__all__ = [
    "DAILY_POLICY",
    "DAILY_RESET_AT_THE_LATEST",
    "FAILURES",
    "RETURNED_STATUSES",
    "VENDOR",
    "Failure",
    "daily_limit_error",
    "error_for",
    "is_daily_limit",
]

VENDOR = "hubspot"
# The ``policyName`` of a 429's body when the daily limit is spent (the others name the
# rolling windows: "TEN_SECONDLY_ROLLING", "SECONDLY").
DAILY_POLICY = "DAILY"
_DAILY_REMAINING = "x-hubspot-ratelimit-daily-remaining"
# Without the portal's time zone, its midnight comes within a day; 25 hours, because the
# day the clocks go back has 25.
DAILY_RESET_AT_THE_LATEST = timedelta(hours=25)

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

    error: type[ConfigError] | type[RetriableError] | type[FatalError] | type[LimitReachedError]
    message: str
    hint: str | None = None


_TOKEN_REFUSED = "HubSpot refused the access token ({status}: {detail})"  # noqa: S105 - a message
_RETRIED_AND_FAILED = "HubSpot kept answering {status} after retries: {detail}"

FAILURES: Mapping[int | str, Failure] = MappingProxyType(
    {
        # The portal's calls for the day are spent (by us or any other app of the portal).
        DAILY_POLICY: Failure(
            LimitReachedError,
            "HubSpot's daily API limit is spent ({status}: {detail})",
            "the limit is the portal's, shared by all its apps; the next push after the "
            "reset sends the rest",
        ),
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
# No answer at all (connection refused, TLS, timeouts).
_UNREACHABLE = Failure(RetriableError, "HubSpot unreachable: {detail}", _NETWORK_HINT)

# Not failures of the call: a batch with an invalid input (400, split to find it) or an
# object that exists (409). ``Caller`` returns them to the code that made the call.
RETURNED_STATUSES = frozenset({400, 409})


def is_daily_limit(status: int, body: Mapping[str, Any], headers: Mapping[str, str]) -> bool:
    """Whether an answer is HubSpot's daily limit: a 429 whose body names the ``DAILY``
    policy, or one whose ``X-HubSpot-RateLimit-Daily-Remaining`` is 0 (both windows may
    be spent at once; the day is the one that does not free up in seconds)."""
    if status != 429:
        return False
    if str(body.get("policyName") or "").upper() == DAILY_POLICY:
        return True
    remaining = {name.lower(): value for name, value in headers.items()}.get(_DAILY_REMAINING)
    return remaining is not None and remaining.strip() == "0"


def _daily_reset(now: datetime, time_zone: tzinfo | None) -> tuple[datetime, str]:
    """When the daily limit frees up again, and how that was found, for the message."""
    if time_zone is None:
        at_the_latest = (now + DAILY_RESET_AT_THE_LATEST).astimezone(UTC)
        return at_the_latest, (
            "it resets at midnight in the portal's time zone, which leadsync is not told: "
            f"by {_iso(at_the_latest)} at the latest (an estimate)"
        )
    tomorrow = now.astimezone(time_zone).date() + timedelta(days=1)
    midnight = datetime.combine(tomorrow, time(0), tzinfo=time_zone).astimezone(UTC)
    return midnight, f"it resets at the portal's midnight ({time_zone}), {_iso(midnight)}"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def daily_limit_error(
    status: int, detail: str, *, time_zone: tzinfo | None = None, now: datetime | None = None
) -> LimitReachedError:
    """Our stop for HubSpot's daily-limit answer (``is_daily_limit``).

    Args:
        status: the HTTP status HubSpot answered (429).
        detail: HubSpot's message (``message_of`` the body).
        time_zone: the portal's time zone, when known: its midnight resets the limit.
        now: the time of the answer (default: the clock's).

    Returns:
        A ``LimitReachedError`` whose ``retry_after`` is the portal's next midnight if
        ``time_zone`` is known, else ``DAILY_RESET_AT_THE_LATEST`` from now; its message
        says which.
    """
    failure = FAILURES[DAILY_POLICY]
    retry_after, when = _daily_reset(now or datetime.now(UTC), time_zone)
    message = redact(failure.message.format(status=status, detail=detail))
    return LimitReachedError(
        f"{message}; {when}", retry_after=retry_after, vendor=VENDOR, hint=failure.hint
    )


def error_for(
    status: int | None, detail: str, *, retry_after_s: float | None = None
) -> ConfigError | RetriableError | FatalError:
    """Our error for a HubSpot answer of ``status`` (None or 0: no answer came), the
    daily limit aside (``daily_limit_error``).

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
