"""The official HubSpot client, built once (token, base URL), and paced, retried calls.

``Caller`` sends each call in its turn (``adapters.hubspot.pacing``), reads answers as raw
JSON and turns HubSpot's failures into ``connector.errors`` at this boundary, as the
table in ``adapters.hubspot.errors`` says. Retries are ``connector.retry``'s, around the
whole attempt: each retry takes its own slot from the pacer, which reads the headers of
every answer, a 429's included; urllib3's own retries are off, so no call goes unseen.
The daily limit is not retried: no wait of seconds frees it, and once an answer says the
day is spent (a 429 naming it, or ``-Daily-Remaining: 0``), no further call is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import tzinfo
from typing import Any

import orjson
import urllib3
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from urllib3.util.retry import Retry

from adapters.hubspot.errors import (
    RETURNED_STATUSES,
    VENDOR,
    daily_limit_error,
    error_for,
    is_daily_limit,
)
from adapters.hubspot.pacing import Pacer
from adapters.hubspot.settings import TOKEN_ENV
from connector.errors import ConfigError, LimitReachedError
from connector.ports import ApiBudget
from connector.retry import DEFAULT_POLICY, RetryPolicy, call_retried
from connector.secrets import read_secret

__all__ = ["TOKEN_ENV", "Caller", "hubspot_client", "message_of"]

# Each API module of the generated client has its own exception class.
_API_ERRORS = (ContactsApiException, PropertiesApiException)
# urllib3 tries each call once: the retries are ``Caller``'s, where the pacer sees them.
_NO_RETRY = Retry(total=0, raise_on_status=False, raise_on_redirect=False)


def hubspot_client(base_url: str, *, pool_size: int = 4) -> HubSpot:
    """The official client for ``base_url``, its token read from the environment.

    Raises:
        ConfigError: the token variable is not set.
    """
    token = read_secret(TOKEN_ENV)
    if token is None:
        raise ConfigError(
            f"{TOKEN_ENV} is not set",
            key="crm.hubspot",
            hint=f"export {TOKEN_ENV} (a private app's access token) or {TOKEN_ENV}_FILE "
            "(a file holding it); the token never goes in config.toml",
        )
    return HubSpot(
        access_token=token.get_secret_value(),
        retry=_NO_RETRY,
        host=base_url,
        # Connections kept per host: as many as calls in flight.
        connection_pool_maxsize=max(pool_size, 1),
    )


def message_of(body: Mapping[str, Any]) -> str:
    category = body.get("category") or body.get("status") or "error"
    return f"HubSpot {category}: {body.get('message') or 'no message'}"


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        return float(lowered["retry-after"])
    except (KeyError, ValueError):
        return None


def _json(data: bytes | str | None) -> dict[str, Any]:
    if not data:
        return {}
    try:
        loaded = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {"message": str(data[:200])}
    return loaded if isinstance(loaded, dict) else {"results": loaded}


class Caller:
    """Paced, retried calls answering (status, JSON body).

    2xx (207 included) return, and so do 400 and 409 for the caller to handle (a batch
    to split, an object that exists); any other status, or no answer, raises the error
    ``adapters.hubspot.errors`` maps it to (429 and 5xx once the retries are spent).
    Once HubSpot said the day's calls are spent, every later call raises that stop
    again without being sent.
    """

    def __init__(
        self,
        pacer: Pacer,
        *,
        time_zone: tzinfo | None = None,
        retry: RetryPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._pacer = pacer
        self._time_zone = time_zone  # the portal's, when known: its midnight frees the day
        self._retry = retry
        self._sleep = sleep
        self._day_spent: LimitReachedError | None = None

    def call(
        self, send: Callable[[], Any], *, what: str = "a call", safe_to_repeat: bool = True
    ) -> tuple[int, dict[str, Any]]:
        """Send one call through ``send`` in its turn, again while HubSpot's answer says
        to try later (``connector.retry``).

        Args:
            what: the call, for the log of its retries.
            safe_to_repeat: whether sending it twice does no harm; a create is resent
                only after an answer saying it was not done.

        Raises:
            ConfigError: HubSpot refused the token (401).
            LimitReachedError: the portal's daily limit is spent (now or at an earlier
                call); not retried.
            RetriableError: 429 or 5xx after the retries, or HubSpot did not answer.
            FatalError: any other refusal (403, 404, ...).
        """
        return call_retried(
            lambda: self._attempt(send),
            what=what,
            vendor=VENDOR,
            safe_to_repeat=safe_to_repeat,
            policy=self._retry,
            sleep=self._sleep,
        )

    def api_budget(self) -> ApiBudget | None:
        day = self._pacer.day_budget()
        return None if day is None else ApiBudget(*day)

    def _stop_if_the_day_is_spent(self) -> None:
        if self._day_spent is None and self._pacer.day_spent:
            self._day_spent = daily_limit_error(
                429,
                "its last answer said X-HubSpot-RateLimit-Daily-Remaining: 0",
                time_zone=self._time_zone,
            )
        if self._day_spent is not None:
            raise self._day_spent

    def _attempt(self, send: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
        self._stop_if_the_day_is_spent()
        self._pacer.before_call()
        self._stop_if_the_day_is_spent()  # met by another call in flight meanwhile
        try:
            response = send()
            status, data = int(response.status), response.data  # the body, read here too
        except _API_ERRORS as error:
            headers = dict(error.headers or {})
            if not error.status:  # the client's own transport error (TLS, connection)
                raise error_for(None, str(error.reason)) from None
            body = _json(error.body)
            self._pacer.after_response(headers, policy=str(body.get("policyName") or ""))
            if error.status in RETURNED_STATUSES:
                return int(error.status), body
            if is_daily_limit(int(error.status), body, headers):
                self._day_spent = daily_limit_error(
                    int(error.status), message_of(body), time_zone=self._time_zone
                )
                raise self._day_spent from None
            raise error_for(
                int(error.status), message_of(body), retry_after_s=_retry_after_s(headers)
            ) from None
        except urllib3.exceptions.HTTPError as error:
            # MaxRetryError wraps what the attempt met (NewConnectionError...).
            cause = getattr(error, "reason", None) or error
            raise error_for(None, type(cause).__name__) from None
        self._pacer.after_response(dict(response.headers))
        return status, _json(data)
