"""The calls leadsync makes to Brevo's API, through the official client (``brevo-python``),
and what Brevo's failures mean in ``connector.errors``.

One retry layer: the client's own (2 retries by default, its waits read ``Retry-After``
but not Brevo's ``x-sib-ratelimit-reset``) is turned off, and every call goes through
``connector.retry.call_retried``, which waits what Brevo's 429 says.

| Brevo's answer | ours |
|---|---|
| 401 (a wrong or revoked key, or an IP not authorised) | ConfigError naming its variable |
| 403 | ConfigError (the key may not do this) |
| 429 | RetriableError, ``retry_after_s`` = ``x-sib-ratelimit-reset`` (seconds) |
| 5xx, no answer, a timeout | RetriableError |
| 404 of a contact's statistics | nothing: the contact went between the list and the call |
| any other (400...) | BrevoRefusedError, a FatalError with Brevo's message |

Brevo's rate limits and headers: developers.brevo.com/docs/api-limits and
developers.brevo.com/docs/limit-headers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from connector.errors import ConfigError, FatalError, RetriableError
from connector.retry import DEFAULT_POLICY, RetryPolicy, call_retried
from connector.secrets import redact

if TYPE_CHECKING:
    from brevo import Brevo
    from brevo.account.types.get_account_response import GetAccountResponse
    from brevo.contacts.types.get_contact_stats_response import GetContactStatsResponse
    from brevo.types.get_contacts import GetContacts
    from brevo.types.get_webhook import GetWebhook

__all__ = ["VENDOR", "BrevoApi", "BrevoRefusedError", "brevo_client", "error_for"]

VENDOR = "brevo"
T = TypeVar("T")
_RESET_HEADER = "x-sib-ratelimit-reset"
_MAX_DETAIL_CHARS = 300


class BrevoRefusedError(FatalError):
    """Brevo will not take the call as it is (a 400, a 405...): fatal, as any other."""

    def __init__(self, message: str, *, status: int | None) -> None:
        super().__init__(message)
        self.status = status


def brevo_client(api_key: str, *, base_url: str, timeout_s: float) -> Brevo:
    """The official client on ``base_url``, its own retries off (``call_retried`` owns them)."""
    from brevo import Brevo

    return Brevo(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0)


def _detail(body: object) -> str:
    """Brevo's message from an error body (``errorModel {code, message}``), cut short."""
    if isinstance(body, Mapping):
        message = body.get("message") or body.get("code")
    else:
        message = getattr(body, "message", None) or getattr(body, "code", None)
    text = str(message if message is not None else body or "no message")
    return redact(text)[:_MAX_DETAIL_CHARS]


def _seconds(headers: Mapping[str, str], name: str) -> float | None:
    value = {key.lower(): text for key, text in headers.items()}.get(name)
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def error_for(
    status: int | None, headers: Mapping[str, str] | None, body: object, *, key_env: str
) -> ConfigError | RetriableError | FatalError:
    """Our error for one failed answer of Brevo's."""
    detail = _detail(body)
    headers = headers or {}
    if status == 401:
        return ConfigError(
            f"Brevo refused the API key in {key_env} (401: {detail})",
            hint=f"create an API key in Brevo (Settings > SMTP & API > API keys) and export "
            f"it as {key_env} (or point {key_env}_FILE at a file holding it); if the account "
            "restricts API calls to authorised IPs, add this host's",
        )
    if status == 403:
        return ConfigError(
            f"Brevo refused the call with the key in {key_env} (403: {detail})",
            hint="use a key of an account whose plan includes contacts and campaigns",
        )
    if status == 429:
        return RetriableError(
            f"Brevo's rate limit was reached (429: {detail})",
            vendor=VENDOR,
            status=429,
            retry_after_s=_seconds(headers, _RESET_HEADER) or _seconds(headers, "retry-after"),
            hint="try again later; the limits per endpoint are in Brevo's API limits page",
        )
    if status is not None and status >= 500:
        return RetriableError(
            f"Brevo answered {status}: {detail}",
            vendor=VENDOR,
            status=status,
            retry_after_s=_seconds(headers, "retry-after"),
            hint="try again later",
        )
    return BrevoRefusedError(f"Brevo answered {status}: {detail}", status=status)


class BrevoApi:
    """The few reads leadsync makes, each retried as ``connector.retry`` says."""

    def __init__(
        self,
        client: Brevo,
        *,
        key_env: str,
        policy: RetryPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._key_env = key_env
        self._policy = policy
        self._sleep = sleep

    def account(self) -> GetAccountResponse:
        """``GET /account``: what the key belongs to."""
        account: GetAccountResponse = self._call("GET /account", self._client.account.get_account)
        return account

    def marketing_webhooks(self) -> list[GetWebhook]:
        """``GET /webhooks?type=marketing``: the account's marketing webhooks."""
        found = self._call(
            "GET /webhooks", lambda: self._client.webhooks.get_webhooks(type="marketing")
        )
        return list(found.webhooks or ())

    def list_contacts(self, list_id: int, *, offset: int, limit: int) -> GetContacts | None:
        """``GET /contacts/lists/{id}/contacts``, oldest first, so that contacts added to
        the list meanwhile come after those already read; None if there is no such list."""
        return self._call_or_none(
            f"GET /contacts/lists/{list_id}/contacts",
            lambda: self._client.contacts.get_contacts_from_list(
                list_id, offset=offset, limit=limit, sort="asc"
            ),
        )

    def contact_stats(
        self, contact_id: int, *, start: date, end: date
    ) -> GetContactStatsResponse | None:
        """``GET /contacts/{id}/campaignStats`` from ``start`` to ``end`` (both included, at
        most 90 days apart); None if the contact no longer exists."""
        return self._call_or_none(
            "GET /contacts/{id}/campaignStats",
            lambda: self._client.contacts.get_contact_stats(
                contact_id, start_date=start.isoformat(), end_date=end.isoformat()
            ),
        )

    def _call(self, what: str, call: Callable[[], T]) -> T:
        try:
            return self._retried(what, call)
        except _NotFoundError:
            raise FatalError(f"Brevo answered 404 to {what}") from None

    def _call_or_none(self, what: str, call: Callable[[], T]) -> T | None:
        try:
            return self._retried(what, call)
        except _NotFoundError:
            return None

    def _retried(self, what: str, call: Callable[[], T]) -> T:
        return call_retried(
            lambda: self._translated(call),
            what=what,
            vendor=VENDOR,
            policy=self._policy,
            sleep=self._sleep,
        )

    def _translated(self, call: Callable[[], T]) -> T:
        from brevo.core.api_error import ApiError
        from brevo.core.parse_error import ParsingError

        try:
            return call()
        except (ApiError, ParsingError) as exc:
            status: int | None = exc.status_code
            if status == 404:
                raise _NotFoundError from exc
            if status is not None and status < 400:
                raise FatalError(
                    f"Brevo answered {status} with a body the client cannot read: "
                    f"{_detail(exc.body)}"
                ) from exc
            raise error_for(status, exc.headers, _body_of(exc), key_env=self._key_env) from exc
        except httpx.TransportError as exc:
            raise RetriableError(
                f"Brevo unreachable: {type(exc).__name__}: {redact(str(exc))[:200]}",
                vendor=VENDOR,
                hint="check the network, and base_url if set",
            ) from exc


def _body_of(exc: Any) -> object:
    return getattr(exc, "body", None)


class _NotFoundError(Exception):
    """A 404, which some reads answer with None: never leaves this module."""
