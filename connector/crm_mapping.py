"""Mapping files: which CRM field holds each of our fields, and how our values read there.

Vendor-free: the CRM's names are data in ``mappings/*.toml``; the core only reads them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from connector.config import config_error_from_validation
from connector.errors import ConfigError
from connector.model import Stage, Temperature

__all__ = ["CrmMapping", "OurField", "load_mapping"]

OurField = Literal[
    "score",
    "behaviour_score",
    "fit_score",
    "normalised_score",
    "temperature",
    "route",
    "treatment",
    "reasons",
    "scored_at",
    "stage",
]


class CrmMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    crm: str
    fields: dict[OurField, str]
    stages: dict[Stage, str] = {}
    temperatures: dict[Temperature, str] = {}
    # Our route names (those rules may use) -> the value the CRM field holds.
    routes: dict[str, str] = {}


def load_mapping(path: Path, *, shown_as: str | None = None) -> CrmMapping:
    shown = shown_as or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "mapping file not found", file=shown, hint="run `leadsync init` to write the defaults"
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"is not valid TOML: {exc}", file=shown) from None
    try:
        return CrmMapping.model_validate(raw)
    except ValidationError as exc:
        raise config_error_from_validation(exc, file=shown, text=text) from None
