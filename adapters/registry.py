"""``type`` in config -> adapter. The CLI and the daemon reach adapters only through here."""

from __future__ import annotations

from pathlib import Path

from adapters.files import FileSource
from connector.config import Settings
from connector.errors import ConfigError
from connector.ports import EventSource

__all__ = ["file_source", "source_from_settings"]


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
