"""``[crm.hubspot]``: the keys of a HubSpot portal and the variable holding its token."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from connector.ports import CrmSettings

__all__ = ["TOKEN_ENV", "HubSpotSettings"]

TOKEN_ENV = "HUBSPOT_ACCESS_TOKEN"  # noqa: S105 - the variable's name, not a secret


class HubSpotSettings(CrmSettings):
    """``[crm.hubspot]``: present means "push to HubSpot". The token comes from
    HUBSPOT_ACCESS_TOKEN or HUBSPOT_ACCESS_TOKEN_FILE, never from this file."""

    base_url: str = "https://api.hubapi.com"
    mapping: Path = Path("mappings/hubspot.toml")
    # Pacing: at most this many calls in any 10 s (private apps get 190, public apps 100).
    requests_per_10s: int = Field(default=100, ge=1, le=1000)
    # Inputs per batch call; HubSpot's limit is 100.
    batch_size: int = Field(default=100, ge=1, le=100)
    # Write calls in flight at once (the pacing still holds): one at a time, round trips
    # would leave most of the rate limit unused.
    in_flight: int = Field(default=4, ge=1, le=10)
    timeout_s: float = Field(default=30, gt=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        match = re.match(r"^(https?)://([^\s/:]+)", value)
        if not match:
            raise ValueError("must be an https URL like https://api.hubapi.com")
        scheme, host = match.groups()
        if scheme == "http" and host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
            raise ValueError(
                "uses http:// for a host other than this machine: the token would travel "
                "unencrypted; use https:// (http:// is only for a local test server)"
            )
        return value.rstrip("/")
