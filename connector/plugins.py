"""Adapters are found through entry points, not imported by the core.

Each adapter registers its declaration (``connector.ports.SourceAdapter`` or
``CrmAdapter``) under its own entry point in the ``leadsync.adapters`` group, named for its
``type``; ``pyproject.toml`` lists leadsync's own, and another installed package adds
more the same way. Adding a source is a new module plus one entry-point line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TypeVar

from connector.config import Settings
from connector.crm.mapping import CrmMapping, load_mapping
from connector.errors import ConfigError, FatalError
from connector.ingest.canonical import MAX_SOURCE_LENGTH
from connector.ports import (
    CrmAdapter,
    CrmContext,
    CrmReader,
    CrmSettings,
    CrmWriter,
    EventSource,
    RangeSource,
    SizedSource,
    SourceAdapter,
    SourceContext,
    WebhookReceiver,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "FILE_SOURCE",
    "Adapters",
    "configured_crms",
    "crm_adapter_of",
    "crm_context",
    "crm_mapping_of",
    "crm_reader",
    "crm_writer",
    "default_crm_settings",
    "file_source",
    "installed_adapters",
    "pulled_sources",
    "range_source_of",
    "source_adapter_of",
    "source_context",
    "source_of",
    "webhook_of",
    "webhook_sources",
]

ENTRY_POINT_GROUP = "leadsync.adapters"


@dataclass(frozen=True, slots=True)
class Adapters:
    """The installed adapters by ``type``."""

    sources: dict[str, SourceAdapter]
    crms: dict[str, CrmAdapter]

    def source(self, type_name: str, *, key: str | None = None) -> SourceAdapter:
        """The source adapter of ``type_name``; a ConfigError naming ``key`` if none."""
        return _find(self.sources, type_name, "source", key)

    def crm(self, type_name: str, *, key: str | None = None) -> CrmAdapter:
        """The CRM adapter of ``type_name``; a ConfigError naming ``key`` if none."""
        return _find(self.crms, type_name, "CRM", key)


_Declared = TypeVar("_Declared", SourceAdapter, CrmAdapter)


def _find(
    declared: Mapping[str, _Declared], type_name: str, kind: str, key: str | None
) -> _Declared:
    found = declared.get(type_name)
    if found is None:
        raise ConfigError(
            f"no {kind} adapter has the type {type_name!r}",
            key=key,
            hint=f"the {kind} types installed are: {_listed(declared)}",
        )
    return found


def _listed(names: Mapping[str, object]) -> str:
    return ", ".join(f'"{name}"' for name in sorted(names)) or "none"


@cache
def installed_adapters() -> Adapters:
    """Every adapter registered in the ``leadsync.adapters`` entry point group.

    Raises:
        FatalError: an entry point does not load, declares something else than an
            adapter, or declares another type than its name; or none is registered.
    """
    sources: dict[str, SourceAdapter] = {}
    crms: dict[str, CrmAdapter] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            declared = point.load()
        except Exception as exc:
            raise FatalError(
                f"the adapter {point.name!r} ({point.value}) does not load: "
                f"{type(exc).__name__}: {exc}",
                hint="reinstall the package that provides it",
            ) from exc
        if not isinstance(declared, SourceAdapter | CrmAdapter):
            raise FatalError(
                f"the entry point {point.name!r} ({point.value}) is not a SourceAdapter "
                f"or a CrmAdapter but a {type(declared).__name__}"
            )
        if declared.type_name != point.name:
            raise FatalError(
                f"the entry point {point.name!r} ({point.value}) declares the type "
                f"{declared.type_name!r}; name the entry point for its type"
            )
        if isinstance(declared, SourceAdapter):
            sources[declared.type_name] = declared
        else:
            crms[declared.type_name] = declared
    if not sources and not crms:
        raise FatalError(
            f"no adapters registered under the entry point group {ENTRY_POINT_GROUP!r}",
            hint="reinstall leadsync (pip install -e . or make install)",
        )
    return Adapters(sources, crms)


# -- the adapters the config names ---------------------------------------------------------

# The source type `leadsync ingest FILE` reads with: canonical events in a JSONL or CSV file.
FILE_SOURCE = "file"


def source_context(settings: Settings, name: str) -> SourceContext:
    return SourceContext(
        name=name,
        base_dir=settings.base_dir,
        max_line_bytes=settings.ingest.max_line_bytes,
        page_size=settings.ingest.page_size,
    )


def source_adapter_of(settings: Settings, name: str) -> SourceAdapter:
    """The adapter of the source configured as ``[sources.NAME]``."""
    configured = settings.sources[name]
    return installed_adapters().source(configured.type, key=f"sources.{name}.type")


def pulled_sources(settings: Settings) -> list[str]:
    """The configured sources read from a cursor (`pull`, `sync`, the daemon), in the
    file's order: every one but those that only send, by webhook."""
    return [name for name in settings.sources if source_adapter_of(settings, name).source]


def webhook_sources(settings: Settings) -> list[str]:
    """The configured sources with a webhook (`leadsync serve`), in the file's order."""
    return [name for name in settings.sources if source_adapter_of(settings, name).webhook]


def source_of(settings: Settings, name: str) -> EventSource:
    """The source configured as ``[sources.NAME]``, as read from its cursor.

    Raises:
        ConfigError: its type only sends, by webhook.
    """
    adapter = source_adapter_of(settings, name)
    if adapter.source is None:
        raise ConfigError(
            f"source {name!r} (type {adapter.type_name!r}) is not pulled: it sends its "
            "events to `leadsync serve` by webhook",
            key=f"sources.{name}.type",
            file=str(settings.config_file) if settings.config_file else None,
            hint=f"run `leadsync serve` and register POST /webhooks/{name} in the router"
            + (f"; `leadsync backfill {name}` reads a past range" if adapter.reads_ranges else ""),
        )
    return adapter.source(settings.sources[name], source_context(settings, name))


def webhook_of(settings: Settings, name: str) -> WebhookReceiver:
    """The webhook of the source configured as ``[sources.NAME]``.

    Raises:
        ConfigError: its type has no webhook.
    """
    adapter = source_adapter_of(settings, name)
    if adapter.webhook is None:
        raise ConfigError(
            f"source {name!r} (type {adapter.type_name!r}) has no webhook",
            key=f"sources.{name}.type",
            file=str(settings.config_file) if settings.config_file else None,
            hint="its events are pulled: `leadsync pull` or the daemon reads them",
        )
    return adapter.webhook(settings.sources[name], source_context(settings, name))


def range_source_of(settings: Settings, name: str) -> RangeSource:
    """The source configured as ``[sources.NAME]``, as one that reads a range of dates.

    Raises:
        ConfigError: its type cannot read a range (`leadsync backfill` needs one); the
            message names the installed types that can.
    """
    adapter = source_adapter_of(settings, name)
    if adapter.range_source is not None:
        return adapter.range_source(settings.sources[name], source_context(settings, name))
    source = (
        adapter.source(settings.sources[name], source_context(settings, name))
        if adapter.source
        else None
    )
    if isinstance(source, RangeSource):
        return source
    configured = settings.sources[name].type
    able = {
        type_name: adapter
        for type_name, adapter in installed_adapters().sources.items()
        if adapter.reads_ranges
    }
    raise ConfigError(
        f"source {name!r} (type {configured!r}) cannot read a range of dates, so it cannot "
        "be backfilled",
        key=f"sources.{name}.type",
        file=str(settings.config_file) if settings.config_file else None,
        hint=f"backfill a source of a type that can: {_listed(able)}"
        + (f"; `leadsync pull {name}` reads it from its cursor" if source else ""),
    )


def file_source(
    settings: Settings, path: Path, *, name: str, file_format: str = "auto"
) -> SizedSource:
    """A source over one file of canonical events, as ``leadsync ingest FILE`` reads it."""
    adapter = installed_adapters().source(FILE_SOURCE)
    if len(name) > MAX_SOURCE_LENGTH:
        raise ConfigError(
            f"the source name {name[:40]!r}... is longer than {MAX_SOURCE_LENGTH} characters",
            hint="pass a shorter --source NAME",
        )
    if file_format not in ("auto", "jsonl", "csv"):
        raise ConfigError(f"--format {file_format!r} is not one of auto, jsonl, csv")
    configured = adapter.settings_model.model_validate(
        # A path given on the command line starts at the working folder, not the config's.
        {"type": FILE_SOURCE, "path": path.absolute(), "format": file_format}
    )
    source = adapter.source(configured, source_context(settings, name)) if adapter.source else None
    if not isinstance(source, SizedSource):  # pragma: no cover - the file adapter's promise
        raise FatalError(f"the {FILE_SOURCE!r} adapter's source cannot tell its size")
    return source


def configured_crms(settings: Settings) -> list[str]:
    """The names of the ``[crm.NAME]`` tables, in the file's order."""
    return list(settings.crm)


def default_crm_settings() -> dict[str, CrmSettings]:
    """What an empty ``[crm.TYPE]`` table gives each installed CRM adapter: its default
    mapping file and create policy, by type."""
    return {
        name: adapter.settings_model.model_validate({})
        for name, adapter in sorted(installed_adapters().crms.items())
    }


def _require(settings: Settings, crm: str) -> None:
    if crm not in settings.crm:
        raise ConfigError(
            f"no [crm.{crm}] table in the config",
            key=f"crm.{crm}",
            hint=f"add [crm.{crm}] (see config.example.toml); configured: "
            f"{', '.join(settings.crm) or 'none'}",
        )


def crm_adapter_of(settings: Settings, crm: str) -> CrmAdapter:
    _require(settings, crm)
    configured = settings.crm[crm]
    return installed_adapters().crm(configured.type or crm, key=f"crm.{crm}.type")


def crm_mapping_of(settings: Settings, crm: str) -> CrmMapping:
    _require(settings, crm)
    path = settings.crm[crm].mapping
    return load_mapping(settings.resolve(path), shown_as=str(path))


def crm_context(settings: Settings, crm: str, mapping: CrmMapping | None = None) -> CrmContext:
    return CrmContext(name=crm, mapping=mapping or crm_mapping_of(settings, crm))


def crm_reader(settings: Settings, crm: str, mapping: CrmMapping | None = None) -> CrmReader:
    """The reader of the CRM configured as ``[crm.NAME]``."""
    adapter = crm_adapter_of(settings, crm)
    return adapter.reader(settings.crm[crm], crm_context(settings, crm, mapping))


def crm_writer(settings: Settings, crm: str, mapping: CrmMapping | None = None) -> CrmWriter:
    """The writer of the CRM configured as ``[crm.NAME]``."""
    adapter = crm_adapter_of(settings, crm)
    return adapter.writer(settings.crm[crm], crm_context(settings, crm, mapping))
