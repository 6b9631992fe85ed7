"""``type`` in config -> adapter. The CLI and the daemon reach adapters only through here."""

from __future__ import annotations

from pathlib import Path

from adapters.files import FileSource
from connector.config import Settings
from connector.errors import ConfigError
from connector.ports import CrmWriter, EventSource

__all__ = ["crm_writer", "file_source", "source_from_settings"]


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


def crm_writer(settings: Settings, crm: str) -> CrmWriter:
    """The writer of a CRM configured under ``[crm.NAME]``."""
    if crm == "hubspot" and settings.crm.hubspot is not None:
        # Imported here: only pushes need the HubSpot client.
        from adapters.hubspot import hubspot_writer

        hubspot = settings.crm.hubspot
        return hubspot_writer(
            base_url=hubspot.base_url,
            requests_per_10s=hubspot.requests_per_10s,
            batch_size=hubspot.batch_size,
            timeout_s=hubspot.timeout_s,
        )
    raise ConfigError(
        f"no [crm.{crm}] table in the config",
        key=f"crm.{crm}",
        hint=f"add [crm.{crm}] (see config.example.toml) to push to {crm}",
    )
