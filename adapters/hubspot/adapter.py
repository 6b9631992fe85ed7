"""HubSpot's declaration: ``type = "hubspot"``, its settings, its factories.

The factories import the official client only when called: loading the declaration (every
command does, to validate the config) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from adapters.hubspot.settings import TOKEN_ENV, HubSpotSettings
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
    from hubspot import HubSpot

    from adapters.hubspot.client import Caller

__all__ = ["ADAPTER"]

# The search API has its own, lower limit: about 4 calls a second.
SEARCH_CALLS_PER_S = 4


def _client(settings: HubSpotSettings) -> tuple[HubSpot, Caller]:
    from adapters.hubspot.client import Caller, hubspot_client
    from adapters.hubspot.pacing import Pacer

    return hubspot_client(settings.base_url), Caller(Pacer(settings.requests_per_10s, 10.0))


def _writer(settings: CrmSettings, context: CrmContext) -> CrmWriter:
    from adapters.hubspot.writer import hubspot_writer

    own = settings_of(settings, HubSpotSettings)
    return hubspot_writer(
        base_url=own.base_url,
        requests_per_10s=own.requests_per_10s,
        batch_size=own.batch_size,
        timeout_s=own.timeout_s,
        in_flight=own.in_flight,
        time_zone=None if own.time_zone is None else ZoneInfo(own.time_zone),
    )


def _reader(settings: CrmSettings, context: CrmContext) -> CrmReader:
    from adapters.hubspot.client import Caller
    from adapters.hubspot.pacing import Pacer
    from adapters.hubspot.reader import HubSpotReader

    own = settings_of(settings, HubSpotSettings)
    client, _ = _client(own)
    return HubSpotReader(
        client,
        caller=Caller(Pacer(SEARCH_CALLS_PER_S, 1.0)),
        mapping=context.mapping,
        timeout_s=own.timeout_s,
    )


def _setup(settings: CrmSettings, context: CrmContext) -> SetupReport:
    from adapters.hubspot.setup import ensure_properties

    client, caller = _client(settings_of(settings, HubSpotSettings))
    return ensure_properties(client, caller, context.mapping)


def _check_online(settings: CrmSettings, context: CrmContext) -> list[MappingProblem]:
    from adapters.hubspot.setup import mapping_problems

    client, caller = _client(settings_of(settings, HubSpotSettings))
    return mapping_problems(client, caller, context.mapping)


ADAPTER = CrmAdapter(
    type_name="hubspot",
    settings_model=HubSpotSettings,
    reader=_reader,
    writer=_writer,
    setup=_setup,
    check_online=_check_online,
    secrets=(TOKEN_ENV,),
)
