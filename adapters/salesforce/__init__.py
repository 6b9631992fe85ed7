"""Salesforce: Leads and Contacts read for profiles and sales stages, written with scores."""

from __future__ import annotations

from adapters.salesforce.auth import connect, session_with_timeout
from adapters.salesforce.client import SalesforceApi

__all__ = ["salesforce_api"]


def salesforce_api(
    *, domain: str, api_version: str, api_share: float, timeout_s: float
) -> SalesforceApi:
    """The org's API, logged in from the environment (see ``adapters.salesforce.auth``)."""
    sf = connect(domain=domain, api_version=api_version, session=session_with_timeout(timeout_s))
    return SalesforceApi(sf, api_share=api_share, timeout_s=timeout_s)
