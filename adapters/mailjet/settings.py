"""``[sources.NAME] type = "mailjet"``: its keys, and the secrets they name.

Secrets never sit in the TOML: the keys only name the environment variables that hold
them (each also read from ``VARIABLE_FILE``), so two Mailjet sources can use two sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, SecretStr

from connector.errors import ConfigError
from connector.ports import SourceSettings
from connector.secrets import read_secret

__all__ = [
    "API_KEY_ENV",
    "API_SECRET_ENV",
    "WEBHOOK_PASSWORD_ENV",
    "WEBHOOK_USER_ENV",
    "ApiKeys",
    "MailjetSettings",
    "WebhookCredentials",
    "api_keys",
    "webhook_credentials",
]

# The basic-auth user and password put in the callback URL registered with Mailjet.
WEBHOOK_USER_ENV = "MAILJET_WEBHOOK_USER"
WEBHOOK_PASSWORD_ENV = "MAILJET_WEBHOOK_PASSWORD"  # noqa: S105 - a variable's name
# The names Mailjet's own documentation and clients use for the API key pair.
API_KEY_ENV = "MJ_APIKEY_PUBLIC"
API_SECRET_ENV = "MJ_APIKEY_PRIVATE"  # noqa: S105 - a variable's name


class MailjetSettings(SourceSettings):
    """``[sources.NAME] type = "mailjet"``: the Event API webhook, and a backfill of opens
    and clicks through the REST statistics."""

    type: Literal["mailjet"]
    webhook_user_env: str = WEBHOOK_USER_ENV
    webhook_password_env: str = WEBHOOK_PASSWORD_ENV
    api_key_env: str = API_KEY_ENV
    api_secret_env: str = API_SECRET_ENV
    # Records per REST call of a backfill: Mailjet's ``Limit`` is at most 1,000.
    backfill_page_size: int = Field(default=1000, ge=1, le=1000)
    # The REST statistics name a contact by its Mailjet id only: look up each one's
    # e-mail (one call per contact, remembered for the run) so a backfill of a period no
    # webhook covered still reaches the person. Off: the events carry the id alone.
    backfill_emails: bool = True
    timeout_s: float = Field(default=30.0, gt=0)


@dataclass(frozen=True, slots=True)
class WebhookCredentials:
    user: SecretStr
    password: SecretStr


@dataclass(frozen=True, slots=True)
class ApiKeys:
    public: SecretStr
    private: SecretStr
    variables: tuple[str, str]  # their variables' names, for messages


def webhook_credentials(settings: MailjetSettings, source: str) -> WebhookCredentials:
    """The callback URL's user and password.

    Raises:
        ConfigError: one is not set; the message names its variable.
    """
    return WebhookCredentials(
        _required(settings.webhook_user_env, source, "webhook_user_env", "the webhook's user"),
        _required(
            settings.webhook_password_env, source, "webhook_password_env", "the webhook's password"
        ),
    )


def api_keys(settings: MailjetSettings, source: str) -> ApiKeys:
    """The API key pair (the backfill and ``check --online``).

    Raises:
        ConfigError: one is not set; the message names its variable.
    """
    purpose = "Mailjet's API key pair, for the backfill and check --online"
    return ApiKeys(
        _required(settings.api_key_env, source, "api_key_env", purpose),
        _required(settings.api_secret_env, source, "api_secret_env", purpose),
        (settings.api_key_env, settings.api_secret_env),
    )


def _required(variable: str, source: str, key: str, purpose: str) -> SecretStr:
    secret = read_secret(variable)
    if secret is None:
        raise ConfigError(
            f"{variable} is not set ({purpose})",
            key=f"sources.{source}.{key}",
            hint=f"export {variable} or point {variable}_FILE at a file holding it; "
            f"or name another variable with [sources.{source}] {key}",
        )
    return secret
