"""``[sources.NAME] type = "brevo"``: the keys of a Brevo account and the variables holding
its secrets (never the secrets themselves)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from connector.ports import SourceSettings

__all__ = ["API_KEY_ENV", "BASE_URL", "WEBHOOK_TOKEN_ENV", "BrevoSettings"]

WEBHOOK_TOKEN_ENV = "BREVO_WEBHOOK_TOKEN"  # noqa: S105 - the variable's name, not a secret
API_KEY_ENV = "BREVO_API_KEY"
BASE_URL = "https://api.brevo.com/v3"

_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# An HTTP header name (RFC 9110 token), as Brevo's ``headers: [{key, value}]`` sends it.
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class BrevoSettings(SourceSettings):
    """``[sources.NAME] type = "brevo"``: Brevo's marketing webhook into `leadsync serve`,
    and a backfill of campaign activity by API (the contacts of ``lists``)."""

    type: Literal["brevo"]
    # Where Brevo puts the token it was given when the webhook was registered: unset, the
    # ``Authorization: Bearer <token>`` of ``auth: {type: "bearer", token}``; a header
    # name (``"X-Leadsync-Token"``), that header of ``headers: [{key, value}]``.
    token_header: str | None = None
    # The variables holding the webhook's token and the API key (two Brevo sources, two
    # accounts: name other variables here). Each may be NAME_FILE instead.
    webhook_token_env: str = WEBHOOK_TOKEN_ENV
    api_key_env: str = API_KEY_ENV
    # The contact lists whose contacts `leadsync backfill` reads campaign activity of.
    lists: tuple[int, ...] = ()
    # Contacts asked for per call when reading a list (Brevo's maximum is 500).
    contacts_per_page: int = Field(default=500, ge=1, le=500)
    base_url: str = BASE_URL
    timeout_s: float = Field(default=30, gt=0)

    @field_validator("webhook_token_env", "api_key_env")
    @classmethod
    def _variable_name(cls, value: str) -> str:
        if not _VARIABLE.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an environment variable's name (letters, digits, '_')"
            )
        return value

    @field_validator("token_header")
    @classmethod
    def _header_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _HEADER.fullmatch(value):
            raise ValueError(f"{value!r} is not an HTTP header name (like X-Leadsync-Token)")
        if value.lower() == "authorization":
            raise ValueError(
                "leave token_header out for the Authorization header (Brevo's bearer auth)"
            )
        return value

    @field_validator("lists")
    @classmethod
    def _list_ids(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(list_id < 1 for list_id in value):
            raise ValueError("list ids are Brevo's, 1 or more (Contacts > Lists shows them)")
        return tuple(dict.fromkeys(value))

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("base_url must start with https:// (or http:// for a test server)")
        return value.rstrip("/")
