"""Adapters are found through the package's entry points, not imported by the core.

``pyproject.toml`` declares ``[project.entry-points."leadsync.adapters"] sources =
"adapters.registry"``; the CLI asks here for that registry, so ``connector/`` keeps no
static dependency on any adapter, and another package can provide the adapters.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from connector.errors import FatalError
from connector.ports import CrmReader, CrmWriter, EventSource

if TYPE_CHECKING:
    from connector.config import Settings
    from connector.crm_mapping import CrmMapping

__all__ = ["SizedSource", "SourceRegistry", "source_registry"]

ENTRY_POINT_GROUP = "leadsync.adapters"


class SizedSource(EventSource, Protocol):
    def size(self) -> int:
        """Bytes to read, for progress bars and the choice to read in a child process."""
        ...


class SourceRegistry(Protocol):
    def file_source(
        self, settings: Settings, path: Path, *, name: str, file_format: str = "auto"
    ) -> SizedSource: ...

    def source_from_settings(self, settings: Settings, name: str) -> EventSource: ...

    def crm_writer(self, settings: Settings, crm: str, mapping: CrmMapping) -> CrmWriter: ...

    def crm_reader(self, settings: Settings, crm: str, mapping: CrmMapping) -> CrmReader: ...

    def crm_setup(self, settings: Settings, crm: str, mapping: CrmMapping) -> dict[str, object]: ...

    def crm_mapping_problems(
        self, settings: Settings, crm: str, mapping: CrmMapping
    ) -> list[tuple[tuple[str, ...], str]]: ...


def source_registry() -> SourceRegistry:
    found = entry_points(group=ENTRY_POINT_GROUP, name="sources")
    if not found:
        raise FatalError(
            f"no adapters registered under the entry point group {ENTRY_POINT_GROUP!r}",
            hint="reinstall leadsync (pip install -e . or make install)",
        )
    return cast("SourceRegistry", next(iter(found)).load())
