"""``[sources.NAME] type = "ga4"``: the keys, and the variable naming the key file.

The service account's key file is named by ``GOOGLE_APPLICATION_CREDENTIALS``, as every
Google client expects; it is read by the adapter, never by pydantic, so no config value
holds a secret.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from connector.model import EventKind
from connector.ports import SourceSettings

__all__ = [
    "CREDENTIALS_ENV",
    "DEFAULT_ENDPOINT",
    "DEFAULT_EVENTS",
    "MAX_PAGE_SIZE",
    "Ga4Settings",
]

CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
DEFAULT_ENDPOINT = "https://analyticsdata.googleapis.com"
MAX_PAGE_SIZE = 250_000  # runReport's own cap on `limit`
# GA4's automatically collected events that mean something to a lead score.
DEFAULT_EVENTS: dict[str, EventKind] = {
    "page_view": EventKind.PAGE_VIEW,
    "session_start": EventKind.SITE_VISIT,
    "file_download": EventKind.DOCUMENT_DOWNLOAD,
}
# A custom dimension's parameter name, as GA4 lets one be registered.
_PARAMETER_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,39}$"


class Ga4Settings(SourceSettings):
    """One GA4 property: the events of each user its custom dimension names, by day."""

    type: Literal["ga4"]
    property_id: str = Field(pattern=r"^[0-9]{1,20}$")
    # The user-scoped custom dimension's parameter name: reports ask for
    # ``customUser:<user_dimension>``. It holds an id the site sets, never an e-mail.
    user_dimension: str = Field(pattern=_PARAMETER_PATTERN)
    # The identity namespace that key belongs to: the CRM's name ("hubspot") when the site
    # sets the CRM's contact id, so the activity lands on that contact.
    id_namespace: str = Field(default="ga4_user", pattern=r"^[a-z][a-z0-9_]{0,39}$")
    # Days before the last one read that each pull reads again: GA4 revises recent days.
    window_days: int = Field(default=3, ge=0, le=60)
    # Days the first pull reads.
    lookback_days: int = Field(default=30, ge=1, le=3650)
    # Report the pagePath dimension too, so page views carry the path the URL rules match.
    page_path: bool = False
    # The share of the property's hourly tokens leadsync may leave used: past it the pull
    # stops until the next hour (dashboards share the same tokens).
    quota_share: float = Field(default=0.5, gt=0, le=1)
    # The property's hourly tokens: 40,000 (standard), 400,000 (Analytics 360).
    tokens_per_hour: int = Field(default=40_000, ge=1)
    page_size: int = Field(default=10_000, ge=1, le=MAX_PAGE_SIZE)
    # The Data API's address: Google's, a proxy's, or a test server's.
    api_endpoint: str = Field(default=DEFAULT_ENDPOINT, pattern=r"^https?://[^\s/]+(/.*)?$")
    timeout_s: float = Field(default=60.0, gt=0, le=600)
    # GA4 event name -> our event kind, over the defaults name by name; names not here
    # are skipped. A kind that is not one is a config error naming its key.
    events: dict[str, EventKind] = Field(default_factory=dict, validate_default=True)

    @field_validator("id_namespace")
    @classmethod
    def _not_email(cls, namespace: str) -> str:
        if namespace == "email":
            # The store keys e-mails apart; GA4 must not carry them anyway.
            raise ValueError('"email" is not an id namespace: name the CRM whose ids these are')
        return namespace

    @field_validator("events")
    @classmethod
    def _over_the_defaults(cls, events: dict[str, EventKind]) -> dict[str, EventKind]:
        return {**DEFAULT_EVENTS, **events}
