"""Brevo's declaration: ``type = "brevo"``, its settings, its factories and checks.

The official client is imported only when the API is used (a backfill, ``check --online``):
loading the declaration, which every command does, stays cheap.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from adapters.brevo.settings import API_KEY_ENV, WEBHOOK_TOKEN_ENV, BrevoSettings
from adapters.brevo.webhook import BrevoWebhook
from connector.errors import ConfigError
from connector.ports import (
    RangeSource,
    SourceAdapter,
    SourceContext,
    SourceSettings,
    WebhookReceiver,
    settings_of,
)
from connector.secrets import read_secret

if TYPE_CHECKING:
    from brevo.types.get_webhook import GetWebhook

    from adapters.brevo.client import BrevoApi

__all__ = ["ADAPTER"]


def _secret(env: str, *, purpose: str, key: str) -> str:
    value = read_secret(env)
    if value is None:
        raise ConfigError(
            f"{env} is not set ({purpose})",
            key=key,
            hint=f"export it or point {env}_FILE at a file holding it",
        )
    return value.get_secret_value()


def _webhook_token(own: BrevoSettings, name: str) -> str:
    return _secret(
        own.webhook_token_env,
        purpose="the token Brevo sends with each webhook call",
        key=f"sources.{name}.webhook_token_env",
    )


def _api(own: BrevoSettings, name: str) -> BrevoApi:
    from adapters.brevo.client import BrevoApi, brevo_client

    api_key = _secret(
        own.api_key_env,
        purpose="Brevo's API key, for backfills and check --online",
        key=f"sources.{name}.api_key_env",
    )
    client = brevo_client(api_key, base_url=own.base_url, timeout_s=own.timeout_s)
    return BrevoApi(client, key_env=own.api_key_env)


def _webhook(settings: SourceSettings, context: SourceContext) -> WebhookReceiver:
    own = settings_of(settings, BrevoSettings)
    return BrevoWebhook(
        context.name,
        token=_webhook_token(own, context.name),
        token_header=own.token_header,
        token_env=own.webhook_token_env,
    )


def _require_lists(own: BrevoSettings, name: str) -> None:
    if not own.lists:
        raise ConfigError(
            "no lists to backfill: Brevo gives campaign activity per contact",
            key=f"sources.{name}.lists",
            hint="add lists = [ID, ...], the contact lists whose activity to read "
            "(Contacts > Lists in Brevo shows their ids)",
        )


def _range_source(settings: SourceSettings, context: SourceContext) -> RangeSource:
    from adapters.brevo.backfill import BrevoBackfill

    own = settings_of(settings, BrevoSettings)
    _require_lists(own, context.name)
    return BrevoBackfill(
        context.name,
        _api(own, context.name),
        lists=own.lists,
        contacts_per_page=own.contacts_per_page,
    )


def _check(settings: SourceSettings, context: SourceContext) -> str:
    own = settings_of(settings, BrevoSettings)
    _webhook_token(own, context.name)
    where = own.token_header or "Authorization: Bearer"
    if not own.lists:
        return f"brevo: webhook token in {own.webhook_token_env} ({where}); no backfill lists"
    if read_secret(own.api_key_env) is None:
        raise ConfigError(
            f"{own.api_key_env} is not set (Brevo's API key, to backfill the lists)",
            key=f"sources.{context.name}.api_key_env",
            hint=f"export it or point {own.api_key_env}_FILE at a file holding it",
        )
    lists = ", ".join(str(list_id) for list_id in own.lists)
    return (
        f"brevo: webhook token in {own.webhook_token_env} ({where}); backfill of lists "
        f"{lists} with the key in {own.api_key_env}"
    )


# The events leadsync reads, as a marketing webhook is registered with them.
WEBHOOK_EVENTS = (
    "delivered",
    "opened",
    "click",
    "proxy_open",
    "unsubscribed",
    "hardBounce",
    "softBounce",
    "spam",
)


def _registered_token(hook: GetWebhook, token_header: str | None) -> str | None:
    """The token a registered webhook sends, where leadsync looks for it."""
    if token_header is None:
        auth = hook.auth or {}
        token = auth.get("token") if str(auth.get("type", "")).lower() == "bearer" else None
        return token if isinstance(token, str) else None
    for header in hook.headers or ():
        if str(header.get("key", "")).lower() == token_header.lower():
            value = header.get("value")
            return value if isinstance(value, str) else None
    return None


def _webhook_state(own: BrevoSettings, name: str, hooks: list[GetWebhook]) -> str:
    """What Brevo says of the marketing webhook to ``/webhooks/NAME``.

    Raises:
        ConfigError: it sends another token than ours (every call of it would get 401).
    """
    path = f"/webhooks/{name}"
    ours = [hook for hook in hooks if urlsplit(hook.url).path.rstrip("/").endswith(path)]
    if not ours:
        return f"no marketing webhook points at {path} yet (README: Brevo)"
    hook = ours[0]
    sent = _registered_token(hook, own.token_header)
    where = own.token_header or "bearer auth"
    expected = read_secret(own.webhook_token_env)
    if expected is not None and (
        sent is None or not hmac.compare_digest(sent.encode(), expected.get_secret_value().encode())
    ):
        raise ConfigError(
            f"Brevo's marketing webhook {hook.id} to {path} does not send the token in "
            f"{own.webhook_token_env} ({where}): Brevo's calls would all be refused",
            key=f"sources.{name}.webhook_token_env",
            hint=f"update it with PUT /v3/webhooks/{hook.id} (README: Brevo), or export the "
            f"token it sends as {own.webhook_token_env}",
        )
    missing = [event for event in WEBHOOK_EVENTS if event not in set(hook.events or ())]
    left_out = f", without {', '.join(missing)}" if missing else ""
    return f"marketing webhook {hook.id} to {path} ({where}{left_out})"


def _check_online(settings: SourceSettings, context: SourceContext) -> str:
    own = settings_of(settings, BrevoSettings)
    api = _api(own, context.name)
    account = api.account()
    who = account.company_name or account.organization_id or "an account"
    webhook = _webhook_state(own, context.name, api.marketing_webhooks())
    lists: list[str] = []
    for list_id in own.lists:
        page = api.list_contacts(list_id, offset=0, limit=1)
        if page is None:
            raise ConfigError(
                f"Brevo has no contact list {list_id}",
                key=f"sources.{context.name}.lists",
                hint="Contacts > Lists in Brevo shows each list's id",
            )
        lists.append(f"list {list_id}: {page.count or 0:,} contacts")
    shown = f"; {', '.join(lists)}" if lists else ""
    return f"brevo: the key in {own.api_key_env} is {who}'s; {webhook}{shown}"


ADAPTER = SourceAdapter(
    type_name="brevo",
    settings_model=BrevoSettings,
    webhook=_webhook,
    range_source=_range_source,
    reads_ranges=True,
    check=_check,
    check_online=_check_online,
    secrets=(WEBHOOK_TOKEN_ENV, API_KEY_ENV),
)
