"""Mapping files: which CRM field holds each of our fields, and how our values read there.

Vendor-free: the CRM's names are data in ``mappings/*.toml``; the core only reads them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connector.config import KeyLines, config_error_from_validation
from connector.errors import ConfigError
from connector.model import SalesStatus, Stage, Temperature
from connector.scoring.settings import ROUTE_NAME

__all__ = ["CrmMapping", "OurField", "check_mapping_routes", "load_mapping"]

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
    # The CRM's record types written and read (Salesforce: Lead, Contact); empty for a
    # CRM with one kind of contact record.
    objects: tuple[str, ...] = ()
    fields: dict[OurField, str]
    # Written only on records of one object, as "Object.Field" (opt-in fields sales may
    # own, such as Salesforce's Lead.Rating or Lead.Status); a stage written there takes
    # its values from object_stages.
    object_fields: dict[str, dict[OurField, str]] = {}
    object_stages: dict[str, dict[Stage, str]] = {}
    stages: dict[Stage, str] = {}
    # The CRM's own stage values in its order, those [stages] does not list too (HubSpot's
    # subscriber, opportunity): a value read there is placed by it. Empty: only [stages].
    stage_order: tuple[str, ...] = ()
    temperatures: dict[Temperature, str] = {}
    # Our route names (those rules may use) -> the value the CRM field holds.
    routes: dict[Annotated[str, Field(pattern=ROUTE_NAME)], str] = {}

    # Reading the CRM (optional sections): CRM property -> our profile field (fit rules
    # read these); the property holding the lead status and what its values mean; the
    # properties where sales confirm each BANT answer.
    profile: dict[str, str] = {}
    lead_status_property: str | None = None
    lead_statuses: dict[str, SalesStatus] = {}
    # Lead status values that mean sales qualified the lead (sql) or won it (customer).
    status_stages: dict[str, Literal[Stage.SQL, Stage.CUSTOMER]] = {}
    bant: dict[Literal["budget", "authority", "need", "timing"], str] = {}
    # The won deal's amount (KPIs: margin, ROI): a contact property (HubSpot's
    # total_revenue) or a field of the won deal (Salesforce's Opportunity.Amount). Not
    # set: no amount is read, and margins say so.
    won_amount_property: str | None = None

    @model_validator(mode="after")
    def _objects_known(self) -> CrmMapping:
        for table in ("object_fields", "object_stages"):
            for name in getattr(self, table):
                if name not in self.objects:
                    raise ValueError(
                        f"[{table}.{name}] names an object that is not in objects "
                        f"{list(self.objects)}; add it there or fix the name"
                    )
        return self

    @field_validator("stage_order")
    @classmethod
    def _stage_order_lists_every_stage(
        cls, stage_order: tuple[str, ...], info: ValidationInfo
    ) -> tuple[str, ...]:
        if not stage_order:
            return stage_order
        doubled = sorted({value for value in stage_order if stage_order.count(value) > 1})
        if doubled:
            raise ValueError(
                f"lists {', '.join(repr(value) for value in doubled)} twice; each CRM stage "
                "value once, in the CRM's order"
            )
        stages: dict[Stage, str] = info.data.get("stages") or {}
        missing = [value for value in dict.fromkeys(stages.values()) if value not in stage_order]
        if missing:
            raise ValueError(
                f"lacks {', '.join(repr(value) for value in missing)}, which [stages] "
                "writes; add each where the CRM's order has it, or fix [stages]"
            )
        return stage_order

    def stage_of_value(self) -> dict[str, Stage]:
        """CRM stage value -> the stage sales set, for the stages only sales set (SQL,
        customer): the others are leadsync's own writes coming back."""
        return {
            value: stage
            for stage, value in self.stages.items()
            if stage in (Stage.SQL, Stage.CUSTOMER)
        }

    def field_targets(self) -> list[tuple[str | None, OurField, str]]:
        """(object or None for every object, our field, CRM field) for each mapped field."""
        targets: list[tuple[str | None, OurField, str]] = [
            (None, ours, theirs) for ours, theirs in self.fields.items()
        ]
        for name, fields in self.object_fields.items():
            targets.extend((name, ours, theirs) for ours, theirs in fields.items())
        return targets


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


def check_mapping_routes(
    mapping: CrmMapping, path: Path, needed: frozenset[str], shown: str
) -> None:
    """A mapping with a [routes] table must list every route leads can be handed to."""
    if not mapping.routes:
        return  # no table: route names are written as they are
    missing = sorted(needed - set(mapping.routes))
    if missing:
        text = path.read_text(encoding="utf-8")
        raise ConfigError(
            f"[routes] lacks {', '.join(repr(name) for name in missing)}: hot leads always "
            "go to sales, and the built-in rules also hand leads to telemarketing; add the "
            "value the CRM field should hold for each",
            file=shown,
            line=KeyLines(text).line_of(["routes"]),
            key="routes",
        )
