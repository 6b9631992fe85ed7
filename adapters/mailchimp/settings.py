"""``[sources.NAME] type = "mailchimp"``: the keys, and the variables holding the secrets.

The API key (``<key>-<data center>``, as Mailchimp shows it under Profile → Extras → API
keys) and the webhook's secrets come from the environment; a ``..._env`` key names another
variable, so two Mailchimp accounts can be two sources.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connector.ports import SourceSettings

__all__ = [
    "API_KEY_ENV",
    "SERVER_PATTERN",
    "WEBHOOK_SECRET_ENV",
    "WEBHOOK_TOKEN_ENV",
    "MailchimpSettings",
]

API_KEY_ENV = "MAILCHIMP_API_KEY"
WEBHOOK_SECRET_ENV = "MAILCHIMP_WEBHOOK_SECRET"  # noqa: S105 - a variable's name
WEBHOOK_TOKEN_ENV = "MAILCHIMP_WEBHOOK_TOKEN"  # noqa: S105 - a variable's name

# Mailchimp's data centers are named like "us19": a letter prefix and a number. Nothing else
# may reach the API's host name, which is built from it.
SERVER_PATTERN = r"^[a-z]{2,8}[0-9]{1,4}$"


class MailchimpSettings(SourceSettings):
    """A Mailchimp account: its campaigns' e-mail activity, pulled, and one audience's
    webhook, received by ``leadsync serve``."""

    type: Literal["mailchimp"]
    api_key_env: str = API_KEY_ENV
    # The data center ("us19"); by default the part of the API key after its last "-".
    server: str | None = Field(default=None, pattern=SERVER_PATTERN)
    # Campaigns sent this many days back are still read for new opens and clicks.
    lookback_days: int = Field(default=30, ge=1, le=3650)
    # Each campaign's activity is read again from this long before the last event seen:
    # Mailchimp records some activity late, and the ledger drops what was already stored.
    overlap_minutes: int = Field(default=5, ge=0, le=24 * 60)
    # Members per call (Mailchimp's maximum is 1,000).
    page_size: int = Field(default=1_000, ge=1, le=1_000)
    # Read each page a second time with ``filter_bots=true`` and mark what that read
    # leaves out as machine activity (twice the calls).
    mark_bot_activity: bool = True
    webhook_secret_env: str = WEBHOOK_SECRET_ENV
    webhook_token_env: str = WEBHOOK_TOKEN_ENV
    timeout_s: float = Field(default=120.0, gt=0, le=600)
