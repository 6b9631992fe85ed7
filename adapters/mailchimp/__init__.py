"""Mailchimp: campaign e-mail activity pulled by API, audience events by webhook.

``[sources.NAME] type = "mailchimp"``. The declaration loads without the vendor's client:
the factories import it when called, so every command that only validates the config
stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.mailchimp.settings import (
    API_KEY_ENV,
    WEBHOOK_SECRET_ENV,
    WEBHOOK_TOKEN_ENV,
    MailchimpSettings,
)
from connector.errors import ConfigError
from connector.ports import (
    EventSource,
    RangeSource,
    SourceAdapter,
    SourceContext,
    SourceSettings,
    WebhookReceiver,
    settings_of,
)
from connector.secrets import read_secret

if TYPE_CHECKING:
    from adapters.mailchimp.client import MailchimpApi
    from adapters.mailchimp.source import MailchimpActivitySource

__all__ = ["ADAPTER", "MailchimpSettings"]


def _key(context: SourceContext, name: str) -> str:
    return f"sources.{context.name}.{name}"


def _api_key_and_server(own: MailchimpSettings, context: SourceContext) -> tuple[str, str]:
    from adapters.mailchimp.client import server_of

    api_key = read_secret(own.api_key_env, purpose=f"the Mailchimp source {context.name!r}")
    if api_key is None:
        raise ConfigError(
            f"{own.api_key_env} is not set (the Mailchimp API key)",
            key=_key(context, "api_key_env"),
            hint=f"export it or point {own.api_key_env}_FILE at a file holding it "
            "(Mailchimp: Profile → Extras → API keys)",
        )
    server = server_of(api_key.get_secret_value(), own.server)
    if server is None:
        raise ConfigError(
            f"the key in {own.api_key_env} does not end in its data center (like -us19)",
            key=_key(context, "server"),
            hint='set server = "us19" (the part of your Mailchimp address before '
            ".admin.mailchimp.com)",
        )
    return api_key.get_secret_value(), server


def _api(own: MailchimpSettings, context: SourceContext) -> MailchimpApi:
    from adapters.mailchimp.client import MailchimpApi

    api_key, server = _api_key_and_server(own, context)
    return MailchimpApi(
        api_key=api_key,
        server=server,
        api_key_env=own.api_key_env,
        key=_key(context, "api_key_env"),
        timeout_s=own.timeout_s,
    )


def _activity(settings: SourceSettings, context: SourceContext) -> MailchimpActivitySource:
    from adapters.mailchimp.source import MailchimpActivitySource

    own = settings_of(settings, MailchimpSettings)
    return MailchimpActivitySource(
        context.name,
        _api(own, context),
        lookback_days=own.lookback_days,
        overlap_minutes=own.overlap_minutes,
        page_size=own.page_size,
        mark_bot_activity=own.mark_bot_activity,
    )


def _source(settings: SourceSettings, context: SourceContext) -> EventSource:
    return _activity(settings, context)


def _range_source(settings: SourceSettings, context: SourceContext) -> RangeSource:
    return _activity(settings, context)


def _webhook_secrets(
    own: MailchimpSettings, context: SourceContext
) -> tuple[str | None, str | None]:
    secret = read_secret(own.webhook_secret_env)
    token = read_secret(own.webhook_token_env)
    if secret is None and token is None:
        raise ConfigError(
            f"neither {own.webhook_secret_env} nor {own.webhook_token_env} is set "
            "(the audience webhook's signing secret or URL token)",
            key=_key(context, "webhook_secret_env"),
            hint=f"export {own.webhook_secret_env} with the signing secret Mailchimp showed "
            f"when the webhook was created, or {own.webhook_token_env} with the token= "
            "of the webhook's URL (or point NAME_FILE at a file holding it)",
        )
    return (
        None if secret is None else secret.get_secret_value(),
        None if token is None else token.get_secret_value(),
    )


def _webhook(settings: SourceSettings, context: SourceContext) -> WebhookReceiver:
    from adapters.mailchimp.webhook import MailchimpWebhook

    own = settings_of(settings, MailchimpSettings)
    secret, token = _webhook_secrets(own, context)
    return MailchimpWebhook(context.name, secret=secret, token=token)


def _check(settings: SourceSettings, context: SourceContext) -> str:
    own = settings_of(settings, MailchimpSettings)
    _, server = _api_key_and_server(own, context)
    secret, token = _webhook_secrets(own, context)
    webhook = " and ".join(
        what for what, given in (("signed", secret), ("with a URL token", token)) if given
    )
    return (
        f"Mailchimp data center {server}: campaigns of the last {own.lookback_days} days, "
        f"webhook {webhook}"
    )


def _check_online(settings: SourceSettings, context: SourceContext) -> str:
    own = settings_of(settings, MailchimpSettings)
    answer = _api(own, context).ping()
    status = answer.get("health_status") or "no health status"
    return f"Mailchimp ({_api_key_and_server(own, context)[1]}) answered the ping: {status}"


ADAPTER = SourceAdapter(
    type_name="mailchimp",
    settings_model=MailchimpSettings,
    source=_source,
    range_source=_range_source,
    reads_ranges=True,
    webhook=_webhook,
    check=_check,
    check_online=_check_online,
    secrets=(API_KEY_ENV, WEBHOOK_SECRET_ENV, WEBHOOK_TOKEN_ENV),
)
