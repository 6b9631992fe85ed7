"""``[crm.salesforce]``: the keys of a Salesforce org (credentials come from the
environment: ``adapters.salesforce.auth``)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from connector.ports import CrmSettings

__all__ = [
    "ACCESS_TOKEN_ENV",
    "CONSUMER_KEY_ENV",
    "CONSUMER_SECRET_ENV",
    "ENV_PREFIX",
    "INSTANCE_URL_ENV",
    "PASSWORD_ENV",
    "PRIVATE_KEY_FILE_ENV",
    "SECRET_VARIABLES",
    "SECURITY_TOKEN_ENV",
    "USERNAME_ENV",
    "SalesforceSettings",
]

ENV_PREFIX = "SALESFORCE_"
ACCESS_TOKEN_ENV = "SALESFORCE_ACCESS_TOKEN"  # noqa: S105 - variable names, not secrets
INSTANCE_URL_ENV = "SALESFORCE_INSTANCE_URL"
USERNAME_ENV = "SALESFORCE_USERNAME"
PASSWORD_ENV = "SALESFORCE_PASSWORD"  # noqa: S105
SECURITY_TOKEN_ENV = "SALESFORCE_SECURITY_TOKEN"  # noqa: S105
CONSUMER_KEY_ENV = "SALESFORCE_CONSUMER_KEY"
CONSUMER_SECRET_ENV = "SALESFORCE_CONSUMER_SECRET"  # noqa: S105
PRIVATE_KEY_FILE_ENV = "SALESFORCE_PRIVATE_KEY_FILE"
# The variables holding secrets (each may also come from a file named by NAME_FILE).
SECRET_VARIABLES = (ACCESS_TOKEN_ENV, PASSWORD_ENV, SECURITY_TOKEN_ENV, CONSUMER_SECRET_ENV)


class SalesforceSettings(CrmSettings):
    """``[crm.salesforce]``: present, even empty, means "push to Salesforce". Credentials
    come from SALESFORCE_* environment variables or files, never from this file."""

    # Where logins go: login (production), test (sandbox) or your My Domain
    # ("acme.my" for https://acme.my.salesforce.com; client credentials need it).
    domain: str = "login"
    api_version: str = "62.0"
    mapping: Path = Path("mappings/salesforce.toml")
    # Pushes of more changed records than this go through Bulk API 2.0 ingest jobs.
    bulk_above: int = Field(default=10_000, ge=200)
    # The share of the org's daily API requests a push may bring usage up to (read from
    # the Sforce-Limit-Info header); reaching it stops the push until later.
    api_share: float = Field(default=0.8, gt=0, le=1)
    timeout_s: float = Field(default=60, gt=0)
    # Attempts of one call that failed for a passing reason (429, 5xx, a reset, a
    # timeout), the first included; 1 turns retries off (connector.retry).
    retry_attempts: int = Field(default=5, ge=1, le=10)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9.-]*$", value) or value.endswith(".salesforce.com"):
            raise ValueError(
                'must be "login", "test" or your My Domain without ".salesforce.com" '
                '(e.g. "acme.my")'
            )
        return value

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str) -> str:
        if not re.match(r"^[1-9][0-9]\.0$", value):
            raise ValueError('must be an API version like "62.0"')
        return value
