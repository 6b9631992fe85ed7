"""``leadsync check --online`` for SendGrid: the API key reads the account's Event Webhooks,
and one of them signs with ``webhook_public_key``.

``GET /v3/user/webhooks/event/settings/all`` lists each webhook with its URL, the events
it sends and, when it signs, its ``public_key`` (spec: ``sendgrid/tsg_webhooks_v3.json``,
``ListEventWebhook``). One cheap call proves the key and catches the commonest mistake:
the verification key of another webhook, which would have every request refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit

import orjson
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from adapters.sendgrid.settings import SendGridSettings, public_key_der
from connector.errors import ConfigError, RetriableError
from connector.ports import SourceContext
from connector.retry import RetryPolicy, call_retried
from connector.secrets import read_secret

__all__ = ["ONLINE_POLICY", "REQUEST_TIMEOUT_S", "check_online"]

REQUEST_TIMEOUT_S = 30.0
# A check answers a person at a terminal: a few quick tries, not a pull's patience.
ONLINE_POLICY = RetryPolicy(attempts=3, backoff_s=0.5, max_wait_s=10.0)
# The webhook's event switches, as the settings name them (ListEventWebhook example).
_EVENT_SWITCHES = (
    "processed",
    "delivered",
    "deferred",
    "dropped",
    "bounce",
    "open",
    "click",
    "spam_report",
    "unsubscribe",
    "group_unsubscribe",
    "group_resubscribe",
)
_WHERE_THE_KEY_IS = (
    "copy the Verification Key of the webhook that posts to /webhooks/{name} (SendGrid: "
    "Settings → Mail Settings → Event Webhooks → Signed Event Webhook)"
)


def check_online(
    settings: SendGridSettings,
    context: SourceContext,
    *,
    policy: RetryPolicy = ONLINE_POLICY,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """What SendGrid says of the webhook signing with ``webhook_public_key``.

    Raises:
        ConfigError: the API key is not set, refused (401) or may not read the webhook
            settings (403); no webhook signs with the key, or that webhook is disabled.
        RetriableError: SendGrid kept answering 429 or 5xx, or could not be reached.
    """
    variable = settings.api_key_env
    api_key = read_secret(variable)
    if api_key is None:
        raise ConfigError(
            f"{variable} is not set; check --online tries the SendGrid API key it holds",
            key=f"sources.{context.name}.api_key_env",
            hint=f"export {variable} (an API key with read access to Mail Settings → Event "
            f"Webhook) or point {variable}_FILE at a file holding it",
        )
    client = SendGridAPIClient(api_key.get_secret_value(), host=settings.api_host)

    def list_webhooks() -> Any:
        try:
            return client.client.user.webhooks.event.settings._("all").get(
                timeout=REQUEST_TIMEOUT_S
            )
        except HTTPError as error:
            raise _translated(error, settings, context) from None
        except (URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise RetriableError(
                f"SendGrid at {settings.api_host} cannot be reached ({reason})",
                vendor="sendgrid",
            ) from None

    response = call_retried(
        list_webhooks,
        what="the Event Webhook settings",
        vendor="sendgrid",
        policy=policy,
        sleep=sleep,
    )
    return _described(_webhooks(response.body, settings), settings, context)


def _translated(
    error: HTTPError, settings: SendGridSettings, context: SourceContext
) -> ConfigError | RetriableError:
    status = int(error.status_code)
    said = _error_message(error.body)
    if status == 429 or status >= 500:
        return RetriableError(
            f"SendGrid answered {status}{said}",
            vendor="sendgrid",
            status=status,
            retry_after_s=_retry_after_s(error.headers),
        )
    variable = settings.api_key_env
    if status == 401:
        return ConfigError(
            f"SendGrid refused the API key in {variable} (401){said}",
            key=f"sources.{context.name}.api_key_env",
            hint=f"create an API key in SendGrid (Settings → API Keys) and export it as {variable}",
        )
    if status == 403:
        return ConfigError(
            f"the API key in {variable} may not read the Event Webhook settings (403){said}",
            key=f"sources.{context.name}.api_key_env",
            hint="give it read access to Mail Settings → Event Webhook (Settings → API Keys "
            "→ Edit API Key → Restricted Access)",
        )
    return ConfigError(
        f"SendGrid at {settings.api_host} answered {status} to "
        f"GET /v3/user/webhooks/event/settings/all{said}",
        key=f"sources.{context.name}.api_host",
        hint='api_host is "https://api.sendgrid.com", or "https://api.eu.sendgrid.com" for '
        "EU regional subusers",
    )


def _error_message(body: object) -> str:
    # {"errors": [{"field": null, "message": "..."}]}: SendGrid's words, which name no secret.
    try:
        errors = orjson.loads(body)["errors"]  # type: ignore[arg-type]
        message = str(errors[0]["message"])
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return ""
    return f": {message[:200]}"


def _retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    if headers is None:
        return None
    asked = headers.get("Retry-After")
    if asked:
        try:
            return max(float(asked), 0.0)
        except ValueError:
            try:
                return max(parsedate_to_datetime(asked).timestamp() - time.time(), 0.0)
            except (TypeError, ValueError):
                return None
    # SendGrid's rate limit says when the window resets, in epoch seconds (X-RateLimit-Reset).
    reset = headers.get("X-RateLimit-Reset")
    if reset and reset.isdigit():
        return max(int(reset) - time.time(), 0.0)
    return None


def _webhooks(body: bytes, settings: SendGridSettings) -> list[dict[str, Any]]:
    try:
        listed = orjson.loads(body)["webhooks"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise ConfigError(
            f"{settings.api_host} did not answer with SendGrid's list of Event Webhooks",
            hint='check api_host: "https://api.sendgrid.com" or "https://api.eu.sendgrid.com"',
        ) from None
    return [webhook for webhook in listed if isinstance(webhook, dict)]


def _signs_with(webhook: Mapping[str, Any], ours: bytes) -> bool:
    theirs = webhook.get("public_key")
    if not isinstance(theirs, str) or not theirs:
        return False
    try:
        return public_key_der(theirs) == ours
    except ValueError:
        return False


def _described(
    webhooks: list[dict[str, Any]], settings: SendGridSettings, context: SourceContext
) -> str:
    ours = public_key_der(settings.webhook_public_key)
    signing = [webhook for webhook in webhooks if _signs_with(webhook, ours)]
    if not signing:
        signed = sum(1 for webhook in webhooks if webhook.get("public_key"))
        raise ConfigError(
            f"none of the {len(webhooks)} Event Webhook(s) of this SendGrid account "
            f"({signed} signed) signs with webhook_public_key",
            key=f"sources.{context.name}.webhook_public_key",
            hint=_WHERE_THE_KEY_IS.format(name=context.name),
        )
    webhook = signing[0]
    shown = str(webhook.get("friendly_name") or webhook.get("id") or "(unnamed)")
    if webhook.get("enabled") is False:
        raise ConfigError(
            f'the SendGrid Event Webhook "{shown}" that signs with webhook_public_key is '
            "disabled: SendGrid sends it nothing",
            key=f"sources.{context.name}.webhook_public_key",
            hint="enable it (Settings → Mail Settings → Event Webhooks)",
        )
    url = _shown_url(webhook.get("url"))
    sent = [switch for switch in _EVENT_SWITCHES if webhook.get(switch) is True]
    where = f" to {url}" if url else ""
    if url and not urlsplit(url).path.rstrip("/").endswith(f"/webhooks/{context.name}"):
        where += f" (not /webhooks/{context.name}: check its URL)"
    return (
        f'SendGrid Event Webhook "{shown}" signs with webhook_public_key and posts{where}: '
        f"{', '.join(sent) or 'no events'}"
    )


def _shown_url(url: object) -> str | None:
    # The URL may carry basic-auth credentials (user:password@host): never shown.
    if not isinstance(url, str) or not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
