"""What a push would write: desired CRM fields per contact, minus what was last written.

The diff is vendor-free; the pushers send it. ``scored_at`` travels only with a change of
another field, so a rescore that changes nothing writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from connector.crm_mapping import CrmMapping
from connector.model import Stage, Temperature
from connector.store.schema import pushed_state
from connector.store.scores import StoredScore

__all__ = ["PlannedWrite", "desired_fields", "plan_writes"]

CrmValue = str | float | None


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    contact_id: int
    email: str | None
    fields: dict[str, CrmValue]


def desired_fields(score: StoredScore, mapping: CrmMapping) -> dict[str, CrmValue]:
    ours: dict[str, CrmValue] = {
        "score": score.score,
        "behaviour_score": score.behaviour_score,
        "fit_score": score.fit_score,
        "temperature": mapping.temperatures.get(Temperature(score.temperature), score.temperature),
        "route": None if score.route is None else mapping.routes.get(score.route, score.route),
        "treatment": score.treatment,
        "reasons": score.reasons,
        "scored_at": score.scored_at.isoformat().replace("+00:00", "Z"),
    }
    if score.normalised_score is not None:
        ours["normalised_score"] = score.normalised_score
    stage_value = mapping.stages.get(Stage(score.stage))
    if stage_value is not None:
        ours["stage"] = stage_value
    return {target: ours[field] for field, target in mapping.fields.items() if field in ours}


def plan_writes(
    connection: sa.Connection, scores: list[StoredScore], mapping: CrmMapping
) -> tuple[list[PlannedWrite], int]:
    """(the writes a push would make, how many contacts need none)."""
    last_written: Mapping[int, dict[str, CrmValue]] = {
        contact_id: fields
        for contact_id, fields in connection.execute(
            sa.select(pushed_state.c.contact_id, pushed_state.c.fields).where(
                pushed_state.c.crm == mapping.crm
            )
        )
    }
    scored_at_field = mapping.fields.get("scored_at")
    planned: list[PlannedWrite] = []
    unchanged = 0
    for score in scores:
        wanted = desired_fields(score, mapping)
        previous = last_written.get(score.contact_id, {})
        changed = {name: value for name, value in wanted.items() if previous.get(name) != value}
        changed.pop(scored_at_field or "", None)
        if not changed:
            unchanged += 1
            continue
        if scored_at_field is not None:
            changed[scored_at_field] = wanted[scored_at_field]
        planned.append(PlannedWrite(score.contact_id, score.email, changed))
    return planned, unchanged
