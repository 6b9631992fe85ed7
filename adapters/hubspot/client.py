"""The official HubSpot client, built once: token, base URL, retries; and paced calls.

One retry layer: urllib3's ``Retry`` inside the client retries 429 and 5xx (every
method: batch calls are POSTs, and repeating an update by id is safe), honouring
``Retry-After``. ``Caller`` paces each call, reads answers as raw JSON and turns
HubSpot's errors into ``connector.errors`` at this boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
import urllib3
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from urllib3.util.retry import Retry

from adapters.hubspot.pacing import Pacer
from connector.errors import ConfigError, FatalError, RetriableError
from connector.secrets import read_secret

__all__ = ["TOKEN_ENV", "Caller", "hubspot_client", "message_of"]

from adapters.hubspot.settings import TOKEN_ENV

RETRIED_STATUSES = (429, 500, 502, 503, 504)
# Each API module of the generated client has its own exception class.
_API_ERRORS = (ContactsApiException, PropertiesApiException)


def hubspot_client(base_url: str, *, pool_size: int = 4) -> HubSpot:
    token = read_secret(TOKEN_ENV)
    if token is None:
        raise ConfigError(
            f"{TOKEN_ENV} is not set",
            key="crm.hubspot",
            hint=f"export {TOKEN_ENV} (a private app's access token) or {TOKEN_ENV}_FILE "
            "(a file holding it); the token never goes in config.toml",
        )
    retry = Retry(
        total=5,
        backoff_factor=0.5,
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

    2xx (207 included) return; 400 and 409 return for the caller to handle (a batch to
    split, an object that exists); 401/403 raise FatalError; 429 and 5xx still failing
    after the client's retries raise RetriableError, as does an unreachable server.
    """

    def __init__(self, pacer: Pacer) -> None:
        self._pacer = pacer

    def call(self, send: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
        self._pacer.before_call()
        try:
            response = send()
            status, data = int(response.status), response.data  # the body, read here too
        except _API_ERRORS as error:
            self._pacer.after_response(dict(error.headers or {}))
            if not error.status:  # the client's own transport error (TLS, connection)
                raise RetriableError(
                    f"HubSpot unreachable: {error.reason}",
                    hint="check [crm.hubspot] base_url and the network",
                ) from None
            body = _json(error.body)
            if error.status in (400, 409):
                return int(error.status), body
            if error.status in (401, 403):
                raise FatalError(
                    f"HubSpot refused the access token ({error.status}: {message_of(body)})",
                    hint=f"check {TOKEN_ENV} (or {TOKEN_ENV}_FILE): a private-app token with "
                    "the crm.objects.contacts.read and .write and crm.schemas.contacts "
                    "scopes",
                ) from None
            if error.status in RETRIED_STATUSES:
                raise RetriableError(
                    f"HubSpot kept answering {error.status} after retries: {message_of(body)}",
                    hint="try again later; lower [crm.hubspot] requests_per_10s if it is 429",
                ) from None
            raise FatalError(f"HubSpot answered {error.status}: {message_of(body)}") from None
        except urllib3.exceptions.HTTPError as error:
            raise RetriableError(
                f"HubSpot unreachable after retries: {type(error).__name__}",
                hint="check [crm.hubspot] base_url and the network",
            ) from None
        self._pacer.after_response(dict(response.headers))
        return status, _json(data)
