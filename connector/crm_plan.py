"""The CRM fields a contact's score should be written as, by the mapping's names.

``connector.push`` compares them with what was last written and sends the difference.
"""

from __future__ import annotations

from datetime import UTC

from connector.crm_mapping import CrmMapping
from connector.model import Stage, Temperature
from connector.store.scores import StoredScore

__all__ = ["CrmValue", "desired_fields"]

CrmValue = str | float | None


def desired_fields(score: StoredScore, mapping: CrmMapping) -> dict[str, CrmValue]:
    ours: dict[str, CrmValue] = {
        "score": score.score,
        "behaviour_score": score.behaviour_score,
        "fit_score": score.fit_score,
        "temperature": mapping.temperatures.get(Temperature(score.temperature), score.temperature),
        "route": None if score.route is None else mapping.routes.get(score.route, score.route),
        "treatment": score.treatment,
        "reasons": score.reasons,
        # ISO 8601 in UTC to the millisecond: what CRMs' datetime fields take.
        "scored_at": score.scored_at.astimezone(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
    }
    if score.normalised_score is not None:
        ours["normalised_score"] = score.normalised_score
    stage_value = mapping.stages.get(Stage(score.stage))
    if stage_value is not None:
        ours["stage"] = stage_value
    desired = {target: ours[field] for field, target in mapping.fields.items() if field in ours}
    for name, fields in mapping.object_fields.items():
        # "Object.Field": the writer sends it only to records of that object.
        for field, target in fields.items():
            if field == "stage":
                value = mapping.object_stages.get(name, {}).get(Stage(score.stage))
                if value is not None:
                    desired[f"{name}.{target}"] = value
            elif field in ours:
                desired[f"{name}.{target}"] = ours[field]
    return desired
