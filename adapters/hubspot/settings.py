"""``[crm.hubspot]``: the keys of a HubSpot portal and the variable holding its token."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

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
    # The portal's time zone (Settings > Account defaults), an IANA name like
    # "Europe/Paris": its midnight frees a spent daily limit, so a push stopped by it
    # says when. Without it, "retry after" is an estimate 25 hours on.
    time_zone: str | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone name; write the portal's as in its account "
                'defaults, like "Europe/Paris" or "America/New_York"'
            ) from None
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # Parsed by urllib3's parser, which the official client sends with: a pattern of
        # our own read "http://localhost:1@evil.example" as localhost, where urllib3 sends
        # the token to evil.example. The value is never echoed: it may hold a password.
        try:
            url = parse_url(value)
        except LocationParseError:
            raise ValueError("is not a URL; write it like https://api.hubapi.com") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an https URL like https://api.hubapi.com")
        if url.auth is not None:
            raise ValueError(
                "holds a user name or password (user@ or user:password@ before the host); "
                "remove it: the token comes from HUBSPOT_ACCESS_TOKEN, and the URL would send "
                "whatever stands there to the host after the @"
            )
        if url.query is not None or url.fragment is not None:
            raise ValueError(
                "must be a base URL without ?query or #fragment, like https://api.hubapi.com"
            )
        if url.scheme == "http" and not _is_loopback(url.host):
            raise ValueError(
                "uses http:// for a host other than this machine: the token would travel "
                "unencrypted; use https:// (http:// is only for a local test server or proxy "
                "on 127.0.0.1, ::1 or localhost)"
            )
        return value.rstrip("/")


def _is_loopback(host: str) -> bool:
    """``host`` as urllib3 parsed it (lower case, IPv6 in brackets) is this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere
