"""``type`` in config -> adapter. The CLI and the daemon reach adapters only through here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from adapters.files import FileSource
from connector.config import Settings
from connector.crm_mapping import CrmMapping
from connector.errors import ConfigError
from connector.ports import CrmReader, CrmWriter, EventSource

if TYPE_CHECKING:
    from hubspot import HubSpot

    from adapters.hubspot.client import Caller
    from adapters.salesforce.client import SalesforceApi

__all__ = [
    "crm_mapping_problems",
    "crm_reader",
    "crm_setup",
    "crm_writer",
    "file_source",
    "source_from_settings",
]


def file_source(
    settings: Settings, path: Path, *, name: str, file_format: str = "auto"
) -> FileSource:
    if file_format not in ("auto", "jsonl", "csv"):
        raise ConfigError(f"--format {file_format!r} is not one of auto, jsonl, csv")
    return FileSource(
        name,
        path,
        file_format=file_format,
        max_line_bytes=settings.ingest.max_line_bytes,
        page_size=settings.ingest.page_size,
    )


def source_from_settings(settings: Settings, name: str) -> EventSource:
    configured = settings.sources[name]
    if configured.type == "file":
        return file_source(
            settings, settings.resolve(configured.path), name=name, file_format=configured.format
        )
    raise ConfigError(
        f"[sources.{name}] type {configured.type!r} has no adapter"
    )  # pragma: no cover


def _not_configured(crm: str) -> ConfigError:
    return ConfigError(
        f"no [crm.{crm}] table in the config",
        key=f"crm.{crm}",
        hint=f"add [crm.{crm}] (see config.example.toml)",
    )


def _salesforce_api(settings: Settings) -> SalesforceApi:
    salesforce = settings.crm.salesforce
    if salesforce is None:
        raise _not_configured("salesforce")
    # Imported here: only the commands that reach Salesforce need its client.
    from adapters.salesforce import salesforce_api

    return salesforce_api(
        domain=salesforce.domain,
        api_version=salesforce.api_version,
        api_share=salesforce.api_share,
        timeout_s=salesforce.timeout_s,
    )


def _salesforce_objects(mapping: CrmMapping) -> tuple[str, ...]:
    from adapters.salesforce.records import KNOWN_OBJECTS

    unknown = [name for name in mapping.objects if name not in KNOWN_OBJECTS]
    if unknown or not mapping.objects:
        raise ConfigError(
            f"objects {list(mapping.objects)} must name Lead, Contact or both",
            key="objects",
            hint="fix `objects` in the Salesforce mapping file",
        )
    return mapping.objects


def crm_writer(settings: Settings, crm: str, mapping: CrmMapping) -> CrmWriter:
    """The writer of a CRM configured under ``[crm.NAME]``."""
    if crm == "salesforce" and settings.crm.salesforce is not None:
        from adapters.salesforce.writer import SalesforceWriter

        return SalesforceWriter(
            _salesforce_api(settings),
            objects=_salesforce_objects(mapping),
            bulk_above=settings.crm.salesforce.bulk_above,
        )
    if crm == "hubspot" and settings.crm.hubspot is not None:
        # Imported here: only pushes need the HubSpot client.
        from adapters.hubspot import hubspot_writer

        hubspot = settings.crm.hubspot
        return hubspot_writer(
            base_url=hubspot.base_url,
            requests_per_10s=hubspot.requests_per_10s,
            batch_size=hubspot.batch_size,
            timeout_s=hubspot.timeout_s,
            in_flight=hubspot.in_flight,
        )
    raise _not_configured(crm)


def _hubspot_parts(settings: Settings) -> tuple[HubSpot, Caller]:
    from adapters.hubspot.client import Caller, hubspot_client
    from adapters.hubspot.pacing import Pacer

    hubspot = settings.crm.hubspot
    if hubspot is None:
        raise _not_configured("hubspot")
    return hubspot_client(hubspot.base_url), Caller(Pacer(hubspot.requests_per_10s, 10.0))


def crm_setup(settings: Settings, crm: str, mapping: CrmMapping) -> dict[str, object]:
    """Create what the CRM lacks for the mapping (group, properties); say what was done."""
    if crm == "salesforce":
        raise ConfigError(
            "leadsync does not create Salesforce fields: custom fields need the admin's "
            "field-level security choices",
            hint="create the LeadSync_* fields the README lists, then run `leadsync check "
            "--online` to see what is still missing",
        )
    if crm != "hubspot":
        raise ConfigError(
            f"`crm setup` knows no CRM {crm!r}", hint="try: leadsync crm setup hubspot"
        )
    from adapters.hubspot.setup import ensure_properties

    client, caller = _hubspot_parts(settings)
    report = ensure_properties(client, caller, mapping)
    return {
        "group_created": report.group_created,
        "created": report.created,
        "existing": report.existing,
    }


def crm_mapping_problems(
    settings: Settings, crm: str, mapping: CrmMapping
) -> list[tuple[tuple[str, ...], str]]:
    """(mapping key, message) for each entry the live CRM contradicts."""
    if crm == "salesforce":
        from adapters.salesforce.setup import mapping_problems as salesforce_problems

        _salesforce_objects(mapping)
        return [
            (problem.key, problem.message)
            for problem in salesforce_problems(_salesforce_api(settings), mapping)
        ]
    if crm != "hubspot":
        return []
    from adapters.hubspot.setup import mapping_problems

    client, caller = _hubspot_parts(settings)
    return [(problem.key, problem.message) for problem in mapping_problems(client, caller, mapping)]


def crm_reader(settings: Settings, crm: str, mapping: CrmMapping) -> CrmReader:
    """The reader of a CRM configured under ``[crm.NAME]``: contacts changed since its
    cursor, as profile snapshots."""
    if crm == "salesforce":
        from adapters.salesforce.reader import SalesforceReader

        objects = _salesforce_objects(mapping)
        return SalesforceReader(_salesforce_api(settings), mapping=mapping, objects=objects)
    if crm != "hubspot":
        raise ConfigError(f"no reader for the CRM {crm!r}", key=f"crm.{crm}")
    from adapters.hubspot.client import Caller
    from adapters.hubspot.pacing import Pacer
    from adapters.hubspot.reader import HubSpotReader

    client, _ = _hubspot_parts(settings)
    hubspot = settings.crm.hubspot
    if hubspot is None:  # pragma: no cover - _hubspot_parts raised already
        raise _not_configured("hubspot")
    # The search API has its own, lower limit: about 4 calls a second.
    return HubSpotReader(
        client, caller=Caller(Pacer(4, 1.0)), mapping=mapping, timeout_s=hubspot.timeout_s
    )
