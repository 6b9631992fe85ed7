"""The official ``mailchimp-marketing`` client, and its failures as ``connector.errors``.

``MailchimpApi`` owns the client and sends every call through ``connector.retry``: an
answer that failed becomes our error here, in one table (``error_for``), so nothing else
decides what a Mailchimp status means.

The client (3.0.80) raises ``ApiClientError(text, status_code)`` for an answer with a body
and returns the bare ``requests.Response`` for one without (a 502 from a proxy, say), and
it keeps no headers on its error: the API client below remembers the last response, so a
``Retry-After`` is honoured when Mailchimp sends one.

Errors: https://mailchimp.com/developer/marketing/docs/errors/
Limits (10 connections at once per user, then 429):
https://mailchimp.com/developer/marketing/docs/fundamentals/#api-limits
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

import orjson
import requests
from mailchimp_marketing.api.campaigns_api import (  # type: ignore[import-untyped]
    CampaignsApi,
)
from mailchimp_marketing.api.ping_api import PingApi  # type: ignore[import-untyped]
from mailchimp_marketing.api.reports_api import ReportsApi  # type: ignore[import-untyped]
from mailchimp_marketing.api_client import (  # type: ignore[import-untyped]
    ApiClient,
    ApiClientError,
)

from adapters.mailchimp.settings import SERVER_PATTERN
from connector.errors import ConfigError, FatalError, RetriableError
from connector.retry import DEFAULT_POLICY, RetryPolicy, call_retried
from connector.secrets import redact

__all__ = ["VENDOR", "MailchimpApi", "NotFoundError", "error_for", "server_of"]

VENDOR = "mailchimp"
# The hypermedia links of the page and of each member: never read, so not sent.
_ACTIVITY_LEFT_OUT = ("_links", "emails._links")
_DETAIL_CHARS = 300


class NotFoundError(Exception):
    """Mailchimp answered 404: the campaign (or report) is gone, deleted since it was
    listed. The reader skips it; nothing else is wrong."""


def server_of(api_key: str, configured: str | None) -> str | None:
    """The data center calls go to: ``configured``, else the API key's suffix ("us19")."""
    if configured:
        return configured
    _, dash, suffix = api_key.rpartition("-")
    return suffix if dash and re.fullmatch(SERVER_PATTERN, suffix) else None


class _ApiClient(ApiClient):  # type: ignore[misc]
    """The client's transport, remembering the last response (its headers)."""

    def __init__(self, config: Mapping[str, object]) -> None:
        super().__init__(dict(config))
        self.last_response: requests.Response | None = None

    def request(
        self,
        method: str,
        url: str,
        query_params: object = None,
        headers: dict[str, str] | None = None,
        body: object = None,
    ) -> requests.Response:
        self.last_response = None
        response = cast(
            "requests.Response", super().request(method, url, query_params, headers, body)
        )
        self.last_response = response
        return response


def _detail(text: object) -> str:
    """Mailchimp's ``title: detail`` (problem+json), or the text it sent, cut short."""
    if isinstance(text, str) and text.startswith("{"):
        # Mailchimp's errors are application/problem+json, which the client does not take
        # for JSON (it looks for "application/json"): their body arrives as text.
        with contextlib.suppress(orjson.JSONDecodeError):
            text = orjson.loads(text)
    if isinstance(text, Mapping):
        title, detail = text.get("title"), text.get("detail")
        found = ": ".join(str(part) for part in (title, detail) if part)
        if found:
            return redact(found[:_DETAIL_CHARS])
    return redact(str(text)[:_DETAIL_CHARS])


def _retry_after_s(response: requests.Response | None) -> float | None:
    raw = None if response is None else response.headers.get("Retry-After")
    try:
        return None if raw is None else max(float(raw), 0.0)
    except ValueError:
        return None


def error_for(
    status: int | None,
    detail: str,
    *,
    api_key_env: str,
    key: str,
    retry_after_s: float | None = None,
) -> Exception:
    """Our error for a failed Mailchimp call.

    ``status`` None: no answer (refused connection, timeout, DNS). ``key`` is the dotted
    config key of the API key's variable (``sources.NAME.api_key_env``).
    """
    if status is None:
        return RetriableError(
            f"Mailchimp did not answer: {detail}",
            vendor=VENDOR,
            hint="check the network and [sources] server",
        )
    if status in (401, 403):
        return ConfigError(
            f"Mailchimp refused the API key in {api_key_env} ({status}: {detail})",
            key=key,
            hint=f"check {api_key_env} (or {api_key_env}_FILE): a key from Profile → "
            "Extras → API keys, ending in its data center like -us19",
        )
    if status == 404:
        return NotFoundError(detail)
    if status == 429 or status >= 500:
        return RetriableError(
            f"Mailchimp answered {status}: {detail}",
            vendor=VENDOR,
            status=status,
            retry_after_s=retry_after_s,
            hint="Mailchimp allows 10 connections at once per user; try again later",
        )
    return FatalError(f"Mailchimp refused the call ({status}: {detail})")


class MailchimpApi:
    """The calls the mailchimp source makes, retried, their failures translated."""

    def __init__(
        self,
        *,
        api_key: str,
        server: str,
        api_key_env: str,
        key: str,
        timeout_s: float = 120.0,
        host: str | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._client = _ApiClient({"api_key": api_key, "server": server, "timeout": timeout_s})
        if host is not None:
            # A test server: the client replaces "server" anywhere in the URL with the data
            # center, so such a host must not hold that word (API-FACTS §8).
            self._client.host = host
        self._campaigns = CampaignsApi(self._client)
        self._reports = ReportsApi(self._client)
        self._ping = PingApi(self._client)
        self._api_key_env = api_key_env
        self._key = key
        self._policy = policy
        self._sleep = sleep

    def ping(self) -> dict[str, Any]:
        """``GET /ping``: Mailchimp's health check, which needs a valid key."""
        return self._call(self._ping.get, what="a ping")

    def sent_campaigns(
        self,
        *,
        since_send_time: str,
        before_send_time: str | None,
        count: int,
        offset: int,
    ) -> dict[str, Any]:
        """``GET /campaigns?status=sent&since_send_time=``: one page, oldest sent first."""
        bounds = {} if before_send_time is None else {"before_send_time": before_send_time}
        return self._call(
            lambda: self._campaigns.list(
                status="sent",
                since_send_time=since_send_time,
                count=count,
                offset=offset,
                sort_field="send_time",
                sort_dir="ASC",
                fields=["campaigns.id", "campaigns.send_time", "total_items"],
                **bounds,
            ),
            what="a campaign list",
        )

    def email_activity(
        self,
        campaign_id: str,
        *,
        since: str | None,
        count: int,
        offset: int,
        filter_bots: bool = False,
    ) -> dict[str, Any]:
        """``GET /reports/{campaign_id}/email-activity``: one page of members.

        Raises:
            NotFoundError: the campaign is gone.
        """
        bounds = {} if since is None else {"since": since}
        if not filter_bots:
            return self._call(
                lambda: self._reports.get_email_activity_for_campaign(
                    campaign_id,
                    count=count,
                    offset=offset,
                    exclude_fields=list(_ACTIVITY_LEFT_OUT),
                    **bounds,
                ),
                what="an e-mail activity page",
            )
        # The client (3.0.80) predates ``filter_bots``, which its method refuses as an
        # unknown argument; its generic call sends it all the same.
        query: list[tuple[str, object]] = [
            ("exclude_fields", ",".join(_ACTIVITY_LEFT_OUT)),
            ("count", count),
            ("offset", offset),
            *bounds.items(),
            ("filter_bots", "true"),
        ]
        return self._call(
            lambda: self._client.call_api(
                "/reports/{campaign_id}/email-activity",
                "GET",
                path_params={"campaign_id": campaign_id},
                query_params=query,
                header_params={"Accept": "application/json"},
            ),
            what="an e-mail activity page without bot activity",
        )

    def _call(self, call: Callable[[], object], *, what: str) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            try:
                answer = call()
            except ApiClientError as exc:
                status = getattr(exc, "status_code", None)
                raise self._error(status, _detail(exc.text)) from None
            if isinstance(answer, requests.Response):
                # An answer without a body: the client hands it back as it came.
                if answer.ok:
                    return {}
                raise self._error(answer.status_code, answer.reason or "no body") from None
            if not isinstance(answer, dict):
                raise FatalError(f"Mailchimp answered {what} with {type(answer).__name__}")
            return answer

        if self._sleep is None:
            return call_retried(attempt, what=what, vendor=VENDOR, policy=self._policy)
        return call_retried(
            attempt, what=what, vendor=VENDOR, policy=self._policy, sleep=self._sleep
        )

    def _error(self, status: int | None, detail: str) -> Exception:
        return error_for(
            status,
            detail,
            api_key_env=self._api_key_env,
            key=self._key,
            retry_after_s=_retry_after_s(self._client.last_response),
        )
