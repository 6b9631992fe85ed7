"""The official HubSpot client, built once: token, base URL, retries; and paced calls.

One retry layer: urllib3's ``Retry`` inside the client retries 429 and 5xx (every
method: batch calls are POSTs, and repeating an update by id is safe), honouring
``Retry-After``; not the 429 of the daily limit, which no wait of seconds frees.
``Caller`` paces each call, reads answers as raw JSON and turns HubSpot's failures into
``connector.errors`` at this boundary, as the table in ``adapters.hubspot.errors`` says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import tzinfo
from types import TracebackType
from typing import Any, Self

import orjson
import urllib3
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from adapters.hubspot.errors import (
    RETRIED_STATUSES,
    RETURNED_STATUSES,
    daily_limit_error,
    error_for,
    is_daily_limit,
)
from adapters.hubspot.pacing import Pacer
from connector.errors import ConfigError, LimitReachedError
from connector.secrets import read_secret

__all__ = ["TOKEN_ENV", "Caller", "hubspot_client", "message_of"]

from adapters.hubspot.settings import TOKEN_ENV

# urllib3 waits 0, 2, 4, 8 and 16 times this between its attempts (or what Retry-After
# says, on 429 and 503).
RETRY_BACKOFF_S = 0.5
# Each API module of the generated client has its own exception class.
_API_ERRORS = (ContactsApiException, PropertiesApiException)


class _Retry(Retry):
    """urllib3's ``Retry``, giving up at once on HubSpot's daily limit: the day does not
    free up between attempts, and every refused call counts against the portal's share
    of error answers."""

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        # The body's policyName tells the day from the 10-second window; read here, it
        # stays cached on the response for the client to read again.
        if (
            response is not None
            and _pool is not None
            and response.status == 429
            and is_daily_limit(429, _json(response.data), dict(response.headers))
        ):
            # With raise_on_status=False, the pool hands this answer back as it is.
            raise MaxRetryError(_pool, url or "", ResponseError("HubSpot's daily limit"))
        return super().increment(method, url, response, error, _pool, _stacktrace)


def hubspot_client(
    base_url: str, *, pool_size: int = 4, retry_backoff_s: float = RETRY_BACKOFF_S
) -> HubSpot:
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
    retry = _Retry(
        total=5,
        backoff_factor=retry_backoff_s,
        status_forcelist=RETRIED_STATUSES,
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    return HubSpot(
        access_token=token.get_secret_value(),
        retry=retry,
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
    """Paced calls answering (status, JSON body).

    2xx (207 included) return, and so do 400 and 409 for the caller to handle (a batch
    to split, an object that exists); any other status, or no answer, raises the error
    ``adapters.hubspot.errors`` maps it to (429 and 5xx only once the client's retries
    are spent). Once HubSpot said the day's calls are spent, every later call raises
    that stop again without being sent.
    """

    def __init__(self, pacer: Pacer, *, time_zone: tzinfo | None = None) -> None:
        self._pacer = pacer
        self._time_zone = time_zone  # the portal's, when known: its midnight frees the day
        self._day_spent: LimitReachedError | None = None

    def call(self, send: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
        """Send one call through ``send`` in its turn.

        Raises:
            ConfigError: HubSpot refused the token (401).
            LimitReachedError: the portal's daily limit is spent (now or at an earlier
                call); not retried.
            RetriableError: 429 or 5xx after the retries, or HubSpot did not answer.
            FatalError: any other refusal (403, 404, ...).
        """
        if self._day_spent is not None:
            raise self._day_spent
        self._pacer.before_call()
        if self._day_spent is not None:  # met by another call in flight meanwhile
            raise self._day_spent
        try:
            response = send()
            status, data = int(response.status), response.data  # the body, read here too
        except _API_ERRORS as error:
            headers = dict(error.headers or {})
            self._pacer.after_response(headers)
            if not error.status:  # the client's own transport error (TLS, connection)
                raise error_for(None, str(error.reason)) from None
            body = _json(error.body)
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
            # MaxRetryError wraps what the last attempt met (NewConnectionError...).
            cause = getattr(error, "reason", None) or error
            raise error_for(None, f"{type(cause).__name__} after retries") from None
        self._pacer.after_response(dict(response.headers))
        return status, _json(data)
