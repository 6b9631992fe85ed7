"""Mailjet's REST API through its official client, with its failures as ``connector.errors``.

Every call goes through ``MailjetApi.get``: one attempt is one request, tried again by
``connector.retry.call_retried`` on a ``RetriableError``. ``mailjet-rest`` (1.9) raises
on every non-2xx answer (``Client.api_call`` calls ``raise_for_status``) with its own
classes, which ``MailjetApi._error_for`` turns into ours:

- 401, 403 (``MailjetAuthError``): ``ConfigError`` naming the key pair's variables;
- 429 (``ApiRateLimitError``), 5xx, a timeout or no connection (``MailjetNetworkError``):
  ``RetriableError``, with the ``Retry-After`` Mailjet sent;
- 404 (``DoesNotExistError``): None from ``get(..., missing_ok=True)``, else ``FatalError``;
- 400 and the rest: ``FatalError``.

Mailjet's statuses: https://dev.mailjet.com/email/reference/overview/errors/
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
from mailjet_rest import Client
from mailjet_rest.errors import (
    ApiError,
    DoesNotExistError,
    MailjetApiError,
    MailjetAuthError,
    MailjetNetworkError,
)
from mailjet_rest.utils.guardrails import SecureHTTPAdapter

from adapters.mailjet.settings import ApiKeys
from connector.errors import ConfigError, FatalError, LeadsyncError, RetriableError
from connector.retry import DEFAULT_POLICY, RetryPolicy, call_retried
from connector.secrets import redact

__all__ = ["VENDOR", "MailjetApi"]

VENDOR = "mailjet"
_DETAIL_CHARS = 300


class MailjetApi:
    """Read-only calls to Mailjet's REST API v3 (``https://api.mailjet.com/v3/REST/``)."""

    def __init__(
        self,
        keys: ApiKeys,
        *,
        source: str,
        timeout_s: float,
        policy: RetryPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._keys = keys
        self._source = source
        self._policy = policy
        self._sleep = sleep
        self._client = Client(
            auth=(keys.public.get_secret_value(), keys.private.get_secret_value()),
            version="v3",
            timeout=timeout_s,
        )
        # One retry layer, ours: the client mounts urllib3 retries of its own (three, on
        # 429 and 5xx, without Retry-After) for https://, which under call_retried would
        # multiply the attempts. The same TLS adapter, without them.
        self._client.session.mount("https://", SecureHTTPAdapter(max_retries=0))

    def get(
        self,
        resource: str,
        *,
        what: str,
        id: int | str | None = None,
        filters: dict[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> dict[str, Any] | None:
        """``GET /v3/REST/RESOURCE[/ID]?FILTERS``: its JSON body (``{"Count", "Data",
        "Total"}``); None for a 404 when ``missing_ok``.

        Raises:
            ConfigError: the key pair is refused.
            RetriableError: 429, 5xx or the network, still failing after the retries.
            FatalError: any other refusal, or a body that is not a JSON object.
        """

        def attempt() -> dict[str, Any] | None:
            endpoint = getattr(self._client, resource)
            try:
                response = endpoint.get(id=id, filters=filters)
            except DoesNotExistError:
                if missing_ok:
                    return None
                raise FatalError(f"Mailjet has no {resource} {id}") from None
            except ApiError as exc:
                raise self._error_for(exc, what) from exc
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise FatalError(
                    f"Mailjet answered {what} with {response.status_code} and a body that "
                    "is not a JSON object"
                )
            return body

        return call_retried(
            attempt, what=what, vendor=VENDOR, policy=self._policy, sleep=self._sleep
        )

    def _error_for(self, exc: ApiError, what: str) -> LeadsyncError:
        response = _response_of(exc)
        status = response.status_code if response is not None else None
        if status is None and isinstance(exc, MailjetApiError) and exc.status_code:
            status = exc.status_code
        detail = _detail(response, exc)
        if isinstance(exc, MailjetAuthError) or status in (401, 403):
            public, private = self._keys.variables
            return ConfigError(
                f"Mailjet refused the API key pair ({status}: {detail})",
                key=f"sources.{self._source}.api_key_env",
                hint=f"check {public} (the API key) and {private} (its secret key), "
                "in Mailjet: Account settings → REST API → API key management",
            )
        if isinstance(exc, MailjetNetworkError) or status is None or status == 429 or status >= 500:
            return RetriableError(
                f"Mailjet did not answer {what}"
                + (f" ({status}: {detail})" if status else f": {detail}"),
                vendor=VENDOR,
                status=status,
                retry_after_s=_retry_after_s(response),
                hint="try again later",
            )
        return FatalError(f"Mailjet refused {what} ({status}: {detail})")


def _response_of(exc: BaseException) -> requests.Response | None:
    """The HTTP answer behind the client's error: it raises its own class ``from`` the
    ``requests`` error that holds the answer (status, headers)."""
    seen: BaseException | None = exc
    for _ in range(4):  # the chain is one or two links deep; never loop on a cycle
        if seen is None:
            return None
        response = getattr(seen, "response", None)
        if isinstance(response, requests.Response):
            return response
        seen = seen.__cause__
    return None


def _retry_after_s(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the backoff is near enough


def _detail(response: requests.Response | None, exc: BaseException) -> str:
    """Mailjet's own words (its ``ErrorMessage``), else the error's, redacted and cut."""
    text = ""
    if response is not None:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("ErrorMessage"), str):
            text = body["ErrorMessage"]
        else:
            text = response.text
    return redact(text or str(exc))[:_DETAIL_CHARS]
