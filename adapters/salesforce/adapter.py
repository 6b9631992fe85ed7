"""Salesforce's declaration: ``type = "salesforce"``, its settings, its factories.

The factories import simple-salesforce only when called: loading the declaration (every
command does, to validate the config) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.salesforce.records import KNOWN_OBJECTS
from adapters.salesforce.settings import SECRET_VARIABLES, SalesforceSettings
from connector.errors import ConfigError
from connector.ports import (
    CrmAdapter,
    CrmContext,
    CrmReader,
    CrmSettings,
    CrmWriter,
    MappingProblem,
    SetupReport,
    settings_of,
)

if TYPE_CHECKING:
    from adapters.salesforce.client import SalesforceApi
    from connector.crm.mapping import CrmMapping

__all__ = ["ADAPTER", "salesforce_api"]


def salesforce_api(settings: SalesforceSettings) -> SalesforceApi:
    """The org's API, logged in from the environment (see ``adapters.salesforce.auth``)."""
    from adapters.salesforce.auth import connect, session_with_timeout
    from adapters.salesforce.client import SalesforceApi
    from connector.retry import RetryPolicy

    sf = connect(
        domain=settings.domain,
        api_version=settings.api_version,
        session=session_with_timeout(settings.timeout_s),
    )
    return SalesforceApi(
        sf,
        api_share=settings.api_share,
        timeout_s=settings.timeout_s,
        retry_policy=RetryPolicy(attempts=settings.retry_attempts),
    )


def _objects(mapping: CrmMapping) -> tuple[str, ...]:
    unknown = [name for name in mapping.objects if name not in KNOWN_OBJECTS]
    if unknown or not mapping.objects:
        raise ConfigError(
            f"objects {list(mapping.objects)} must name Lead, Contact or both",
            key="objects",
            hint="fix `objects` in the Salesforce mapping file",
        )
    return mapping.objects


def _writer(settings: CrmSettings, context: CrmContext) -> CrmWriter:
    from adapters.salesforce.writer import SalesforceWriter

    own = settings_of(settings, SalesforceSettings)
    objects = _objects(context.mapping)
    return SalesforceWriter(salesforce_api(own), objects=objects, bulk_above=own.bulk_above)


def _reader(settings: CrmSettings, context: CrmContext) -> CrmReader:
    from adapters.salesforce.reader import SalesforceReader

    objects = _objects(context.mapping)
    api = salesforce_api(settings_of(settings, SalesforceSettings))
    return SalesforceReader(api, mapping=context.mapping, objects=objects)


def _setup(settings: CrmSettings, context: CrmContext) -> SetupReport:
    raise ConfigError(
        "leadsync does not create Salesforce fields: custom fields need the admin's "
        "field-level security choices",
        hint="create the LeadSync_* fields the README lists, then run `leadsync check "
        "--online` to see what is still missing",
    )


def _check_online(settings: CrmSettings, context: CrmContext) -> list[MappingProblem]:
    from adapters.salesforce.setup import mapping_problems

    _objects(context.mapping)
    return mapping_problems(
        salesforce_api(settings_of(settings, SalesforceSettings)), context.mapping
    )


ADAPTER = CrmAdapter(
    type_name="salesforce",
    settings_model=SalesforceSettings,
    reader=_reader,
    writer=_writer,
    setup=_setup,
    check_online=_check_online,
    secrets=SECRET_VARIABLES,
)
