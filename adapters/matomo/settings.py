"""``[sources.NAME] type = "matomo"``: the keys, and the variable holding the token.

The token (``token_auth``, from Matomo's Personal → Security → Auth tokens) comes from the
environment; ``token_env`` names another variable, so two Matomo servers can be two
sources.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from connector.model import EventKind
from connector.ports import SourceSettings

__all__ = ["TOKEN_ENV", "MatomoSettings"]

TOKEN_ENV = "MATOMO_TOKEN"  # noqa: S105 - a variable's name
# What an identity namespace may be called (connector.ingest.identity's rule, which
# adapters do not import: the canonical record checks it again on every event).
_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_VISITOR_SUFFIX = "_visitor"


def _namespace(value: str, *, key: str) -> str:
    if value == "email" or not _NAMESPACE.match(value):
        raise ValueError(
            f"{key} = {value!r} is not an identity namespace: lower-case letters, digits, "
            "'_', '.' and '-', at most 64, and not 'email'"
        )
    return value


class MatomoSettings(SourceSettings):
    """A Matomo site's visits, pulled from ``Live.getLastVisitsDetails``."""

    type: Literal["matomo"]
    # Matomo's root ("https://analytics.example.com/"); index.php is appended.
    url: str = Field(pattern=r"^https?://[^\s/?#]+[^\s?#]*$")
    site_id: int = Field(ge=1)
    token_env: str = TOKEN_ENV
    # Goal names or ids -> the kind a conversion of that goal is stored as.
    goals: dict[str, EventKind] = Field(default_factory=dict)
    # Read the person's id from the visit-scoped custom dimension of this id
    # (``dimensionN``) instead of the visit's ``userId``.
    user_dimension: int | None = Field(default=None, ge=1)
    # Where a user id that is not an e-mail goes ("hubspot" when the site sets the
    # HubSpot contact id with setUserId).
    user_id_namespace: str = "matomo_user"
    # Where the visitorId goes: an anonymous visitor's key, so its name ends in _visitor.
    visitor_namespace: str = "matomo_visitor"
    # The first pull reads the visits of this many days back.
    lookback_days: int = Field(default=7, ge=1, le=3650)
    # Each pull reads again from this long before the newest visit seen: a visit still
    # in progress comes back with more actions, and late tracking requests land.
    lag_minutes: int = Field(default=10, ge=1, le=24 * 60)
    # Visits per call (filter_limit).
    page_size: int = Field(default=500, ge=1, le=10_000)
    timeout_s: float = Field(default=60.0, gt=0, le=600)

    @field_validator("user_id_namespace")
    @classmethod
    def _user_namespace(cls, value: str) -> str:
        _namespace(value, key="user_id_namespace")
        if value.endswith(_VISITOR_SUFFIX):
            raise ValueError(
                f"user_id_namespace = {value!r} ends in {_VISITOR_SUFFIX!r}, which marks an "
                "anonymous visitor's key; a user id names a person: use another name"
            )
        return value

    @field_validator("visitor_namespace")
    @classmethod
    def _visitor_namespace(cls, value: str) -> str:
        _namespace(value, key="visitor_namespace")
        if not value.endswith(_VISITOR_SUFFIX):
            raise ValueError(
                f"visitor_namespace = {value!r} must end in {_VISITOR_SUFFIX!r}: the "
                "visitorId is an anonymous browser's key, and the suffix tells leadsync so"
            )
        return value

    @property
    def api_url(self) -> str:
        root = self.url.rstrip("/")
        return root if root.endswith("/index.php") else root + "/index.php"
