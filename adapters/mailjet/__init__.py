"""Mailjet: ``[sources.NAME] type = "mailjet"``.

Its events arrive by the Event API webhook (``webhook``: basic auth on the callback URL,
``adapters.mailjet.webhook``); ``leadsync backfill`` reads a past range of opens and
clicks from the REST statistics through the official ``mailjet-rest`` client
(``adapters.mailjet.backfill``). There is nothing to pull: ``source`` is None.
"""

from __future__ import annotations

from adapters.mailjet.backfill import MailjetBackfill
from adapters.mailjet.client import MailjetApi
from adapters.mailjet.settings import (
    API_KEY_ENV,
    API_SECRET_ENV,
    WEBHOOK_PASSWORD_ENV,
    WEBHOOK_USER_ENV,
    MailjetSettings,
    api_keys,
    webhook_credentials,
)
from adapters.mailjet.webhook import MailjetWebhook
from connector.errors import ConfigError
from connector.ports import (
    RangeSource,
    SourceAdapter,
    SourceContext,
    SourceSettings,
    WebhookReceiver,
    settings_of,
)

__all__ = ["ADAPTER", "MailjetBackfill", "MailjetSettings", "MailjetWebhook"]


def _webhook(settings: SourceSettings, context: SourceContext) -> WebhookReceiver:
    own = settings_of(settings, MailjetSettings)
    return MailjetWebhook(context.name, webhook_credentials(own, context.name))


def _api(own: MailjetSettings, context: SourceContext) -> MailjetApi:
    return MailjetApi(api_keys(own, context.name), source=context.name, timeout_s=own.timeout_s)


def _range_source(settings: SourceSettings, context: SourceContext) -> RangeSource:
    own = settings_of(settings, MailjetSettings)
    return MailjetBackfill(
        context.name,
        _api(own, context),
        page_size=own.backfill_page_size,
        look_up_emails=own.backfill_emails,
    )


def _check(settings: SourceSettings, context: SourceContext) -> str:
    own = settings_of(settings, MailjetSettings)
    webhook_credentials(own, context.name)
    try:
        api_keys(own, context.name)
    except ConfigError:
        return (
            f"mailjet: webhook POST /webhooks/{context.name} ready; {own.api_key_env} and "
            f"{own.api_secret_env} not both set, so no backfill and no check --online"
        )
    return f"mailjet: webhook POST /webhooks/{context.name} ready, API key pair set"


def _check_online(settings: SourceSettings, context: SourceContext) -> str:
    own = settings_of(settings, MailjetSettings)
    body = _api(own, context).get("myprofile", what="the account's profile (check --online)")
    rows = body.get("Data") if body is not None else None
    profile = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else {}
    company = profile.get("CompanyName")
    account = f" ({company})" if isinstance(company, str) and company else ""
    return f"mailjet: the API key pair answers for the account{account}"


ADAPTER = SourceAdapter(
    type_name="mailjet",
    settings_model=MailjetSettings,
    webhook=_webhook,
    range_source=_range_source,
    reads_ranges=True,
    check=_check,
    check_online=_check_online,
    secrets=(WEBHOOK_USER_ENV, WEBHOOK_PASSWORD_ENV, API_KEY_ENV, API_SECRET_ENV),
)
