"""The SendGrid adapter's declaration (the ``sendgrid`` entry point)."""

from __future__ import annotations

import base64
import hashlib

from adapters.sendgrid.online import check_online
from adapters.sendgrid.receiver import SendGridReceiver
from adapters.sendgrid.settings import DEFAULT_API_KEY_ENV, SendGridSettings
from connector.ports import (
    SourceAdapter,
    SourceContext,
    SourceSettings,
    WebhookReceiver,
    settings_of,
)
from connector.secrets import read_secret

__all__ = ["ADAPTER"]


def _webhook(settings: SourceSettings, context: SourceContext) -> WebhookReceiver:
    return SendGridReceiver(context.name, settings_of(settings, SendGridSettings))


def _check(settings: SourceSettings, context: SourceContext) -> str:
    # The key parsed when the config was loaded; the API key is only for --online, so its
    # absence is said, not refused: the webhook works without it.
    sendgrid = settings_of(settings, SendGridSettings)
    der = base64.b64decode(sendgrid.webhook_public_key)
    fingerprint = hashlib.sha256(der).hexdigest()[:16]
    api_key = "set" if read_secret(sendgrid.api_key_env) is not None else "not set"
    return (
        f"Event Webhook at POST /webhooks/{context.name}, signatures checked with the P-256 "
        f"key sha256:{fingerprint}; {sendgrid.api_key_env} (for check --online) {api_key}"
    )


def _check_online(settings: SourceSettings, context: SourceContext) -> str:
    return check_online(settings_of(settings, SendGridSettings), context)


ADAPTER = SourceAdapter(
    type_name="sendgrid",
    settings_model=SendGridSettings,
    # No pull and no backfill: SendGrid's Email Activity API is a paid add-on.
    source=None,
    webhook=_webhook,
    check=_check,
    check_online=_check_online,
    secrets=(DEFAULT_API_KEY_ENV,),
)
