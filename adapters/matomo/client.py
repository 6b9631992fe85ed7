"""Matomo's HTTP Reporting API over ``requests``, and its failures as ``connector.errors``.

Every call is ``POST index.php?module=API&method=...&format=JSON`` with ``token_auth`` in
the form body, never in the URL: Matomo takes a token as sent securely only from POST
(``Request::isTokenAuthProvidedSecurely``, core/API/Request.php), and a URL ends up in
proxy and server logs.

Matomo answers a refused call with HTTP 200 and ``{"result": "error", "message": ...}``
(a bad token, an unknown site, a disabled visits log); ``error_for_message`` decides what
such a message means, ``error_for_status`` what an HTTP status does, and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
import requests

from connector.errors import ConfigError, FatalError, RetriableError
from connector.retry import DEFAULT_POLICY, RetryPolicy, call_retried
from connector.secrets import redact

__all__ = ["VENDOR", "MatomoApi", "error_for_message", "error_for_status"]

VENDOR = "matomo"
_DETAIL_CHARS = 300
# Words of Matomo's messages for a token it does not take ("You must be logged in to
# access this functionality", "Unable to authenticate with the provided token", "You
# can't access this resource as it requires 'view' access...").
_AUTH_WORDS = ("token", "authenticat", "logged in", "access", "permission")
_SITE_WORDS = ("idsite", "website id", "site id")


def _retry_after_s(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    try:
        return None if raw is None else max(float(raw), 0.0)
    except ValueError:
        return None


def error_for_status(
    status: int, detail: str, *, retry_after_s: float | None = None, url_key: str
) -> Exception:
    """Our error for an HTTP answer other than 200."""
    if status == 429 or status >= 500:
        return RetriableError(
            f"Matomo answered {status}: {detail}",
            vendor=VENDOR,
            status=status,
            retry_after_s=retry_after_s,
            hint="Matomo or its web server is busy or down; try again later",
        )
    if status in (401, 403, 404):
        return ConfigError(
            f"Matomo's address answered {status} ({detail})",
            key=url_key,
            hint="url is Matomo's root, the folder holding its index.php",
        )
    return FatalError(f"Matomo refused the call ({status}: {detail})")


def error_for_message(
    message: str, *, token_env: str, token_key: str, site_key: str, site_id: int
) -> Exception:
    """Our error for Matomo's ``{"result": "error"}`` answer."""
    lowered = message.lower()
    if "visits log is deactivated" in lowered or "visitor log" in lowered:
        return ConfigError(
            f"Matomo site {site_id} does not keep its visits log ({message})",
            key=site_key,
            hint="turn the visits log on in Matomo: Administration → Privacy → Anonymize "
            "data, or the site's settings",
        )
    if any(word in lowered for word in _AUTH_WORDS):
        return ConfigError(
            f"Matomo refused the token in {token_env} ({message})",
            key=token_key,
            hint=f"check {token_env} (or {token_env}_FILE): a token_auth of a user with "
            f"view access to site {site_id} (Matomo: Personal → Security → Auth tokens), "
            "and site_id",
        )
    if any(word in lowered for word in _SITE_WORDS):
        return ConfigError(
            f"Matomo does not know site {site_id} ({message})",
            key=site_key,
            hint="site_id is the idSite Matomo shows under Administration → Websites",
        )
    return FatalError(f"Matomo refused the call: {message}")


class MatomoApi:
    """The calls the matomo source makes, retried, their failures translated."""

    def __init__(
        self,
        *,
        api_url: str,
        token: str,
        site_id: int,
        token_env: str,
        keys: Mapping[str, str],
        timeout_s: float = 60.0,
        policy: RetryPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._url = api_url
        self._token = token
        self._site_id = site_id
        self._token_env = token_env
        self._keys = keys  # "url", "token_env", "site_id" -> dotted config keys
        self._timeout_s = timeout_s
        self._policy = policy
        self._sleep = sleep
        self._session = requests.Session()

    @property
    def site_id(self) -> int:
        return self._site_id

    def version(self) -> str:
        """``API.getMatomoVersion``: Matomo's version, which needs a token it takes."""
        answer = self.call("API.getMatomoVersion", {}, what="the version")
        value = answer.get("value") if isinstance(answer, dict) else answer
        return str(value)

    def goals(self) -> list[dict[str, Any]]:
        """``Goals.getGoals``: the site's goals (a list, or an object by goal id)."""
        answer = self.call("Goals.getGoals", {"idSite": self._site_id}, what="the goals")
        listed = answer.values() if isinstance(answer, dict) else answer
        return [goal for goal in listed if isinstance(goal, dict)] if listed else []

    def custom_dimensions(self) -> list[dict[str, Any]]:
        """``CustomDimensions.getConfiguredCustomDimensions``: the site's dimensions."""
        answer = self.call(
            "CustomDimensions.getConfiguredCustomDimensions",
            {"idSite": self._site_id},
            what="the custom dimensions",
        )
        return [item for item in answer if isinstance(item, dict)] if answer else []

    def visits(
        self, *, min_timestamp: int, date_from: str, limit: int, offset: int
    ) -> tuple[list[object], int]:
        """One page of ``Live.getLastVisitsDetails``, oldest last action first, with
        last action time after ``min_timestamp`` (UTC epoch), and the bytes read."""
        params: dict[str, str | int] = {
            "idSite": self._site_id,
            "period": "range",
            "date": f"{date_from},today",
            "minTimestamp": min_timestamp,
            "filter_limit": limit,
            "filter_offset": offset,
            "filter_sort_order": "asc",
        }
        answer, size = self._call(
            "Live.getLastVisitsDetails", params, what="a page of visits", sized=True
        )
        if not isinstance(answer, list):
            raise FatalError(
                f"Matomo answered a page of visits with {type(answer).__name__}, not a list"
            )
        return answer, size

    def call(self, method: str, params: Mapping[str, str | int], *, what: str) -> Any:
        return self._call(method, params, what=what, sized=False)[0]

    def _call(
        self, method: str, params: Mapping[str, str | int], *, what: str, sized: bool
    ) -> tuple[Any, int]:
        query: dict[str, str | int] = {
            "module": "API",
            "format": "JSON",
            "method": method,
            **params,
        }

        def attempt() -> tuple[Any, int]:
            try:
                response = self._session.post(
                    self._url,
                    params=query,
                    data={"token_auth": self._token},
                    timeout=self._timeout_s,
                )
            except requests.RequestException as exc:
                # The exception's text holds the URL (never the token, which is in the
                # body), redacted all the same.
                raise RetriableError(
                    f"Matomo did not answer {what}: {redact(type(exc).__name__)}",
                    vendor=VENDOR,
                    hint="check the network and [sources] url",
                ) from None
            if response.status_code != 200:
                raise error_for_status(
                    response.status_code,
                    redact((response.reason or "no reason")[:_DETAIL_CHARS]),
                    retry_after_s=_retry_after_s(response),
                    url_key=self._keys["url"],
                )
            try:
                answer = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                raise ConfigError(
                    f"Matomo's address answered {what} with something not JSON "
                    f"({response.headers.get('Content-Type', 'no content type')})",
                    key=self._keys["url"],
                    hint="url is Matomo's root, the folder holding its index.php",
                ) from None
            if isinstance(answer, dict) and answer.get("result") == "error":
                message = redact(str(answer.get("message", "no message"))[:_DETAIL_CHARS])
                raise error_for_message(
                    message,
                    token_env=self._token_env,
                    token_key=self._keys["token_env"],
                    site_key=self._keys["site_id"],
                    site_id=self._site_id,
                )
            return answer, len(response.content) if sized else 0

        if self._sleep is None:
            return call_retried(attempt, what=what, vendor=VENDOR, policy=self._policy)
        return call_retried(
            attempt, what=what, vendor=VENDOR, policy=self._policy, sleep=self._sleep
        )
