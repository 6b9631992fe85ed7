"""What sales said, kept in the contact's profile under reserved field names.

CRM readers (through ``connector.ports.ProfileSnapshot``) bring the stage sales set, the
lead status, the BANT answers and won deals; the store keeps them with the other profile
fields, so a change bumps the contact for rescoring like any profile change, and the
lifecycle machine reads them back with ``signals_from_profile``.
"""

from __future__ import annotations

from collections.abc import Mapping

from connector.lifecycle import BANT, SalesSignals, SalesStatus
from connector.model import ProfileValue, Stage

__all__ = [
    "BANT_FIELDS",
    "CRM_STAGE_PREFIX",
    "DEAL_WON_FIELD",
    "RESERVED_FIELDS",
    "SALES_STAGE_FIELD",
    "SALES_STATUS_FIELD",
    "crm_stage_field",
    "is_crm_owned",
    "profile_fields_of",
    "signals_from_profile",
]

SALES_STAGE_FIELD = "sales_stage"
SALES_STATUS_FIELD = "sales_status"
DEAL_WON_FIELD = "deal_won"
BANT_FIELDS = {answer: f"bant_{answer}" for answer in BANT}
# "crm_stage:hubspot": the stage value the CRM held when last read (what pushes compare
# with, so a stage is never moved over one sales set, nor backward without a clear).
CRM_STAGE_PREFIX = "crm_stage:"
RESERVED_FIELDS = frozenset(
    {SALES_STAGE_FIELD, SALES_STATUS_FIELD, DEAL_WON_FIELD, *BANT_FIELDS.values()}
)
_TRUE_TEXT = frozenset({"true", "1", "yes", "y"})


def _truthy(value: ProfileValue) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return isinstance(value, str) and value.strip().lower() in _TRUE_TEXT


_NOTHING_SAID = SalesSignals()
_STAGES = {stage.value: stage for stage in Stage}
_STATUSES = {status.value: status for status in SalesStatus}


def signals_from_profile(profile: Mapping[str, ProfileValue]) -> SalesSignals:
    """The signals in a stored profile; unknown values count as "nothing said"."""
    if RESERVED_FIELDS.isdisjoint(profile):
        return _NOTHING_SAID
    stage_text = profile.get(SALES_STAGE_FIELD)
    status_text = profile.get(SALES_STATUS_FIELD)
    stage = _STAGES.get(str(stage_text).strip().lower()) if stage_text is not None else None
    status = _STATUSES.get(str(status_text).strip().lower()) if status_text is not None else None
    return SalesSignals(
        stage=stage,
        status=status,
        bant=frozenset(
            answer for answer, name in BANT_FIELDS.items() if _truthy(profile.get(name))
        ),
        won=_truthy(profile.get(DEAL_WON_FIELD)),
    )


def profile_fields_of(signals: SalesSignals) -> dict[str, ProfileValue]:
    """The reserved profile fields that carry ``signals`` (the inverse of the above)."""
    fields: dict[str, ProfileValue] = {
        SALES_STAGE_FIELD: None if signals.stage is None else signals.stage.value,
        SALES_STATUS_FIELD: None if signals.status is None else signals.status.value,
        DEAL_WON_FIELD: signals.won,
    }
    for answer, name in BANT_FIELDS.items():
        fields[name] = answer in signals.bant
    return fields


def crm_stage_field(crm: str) -> str:
    return f"{CRM_STAGE_PREFIX}{crm}"


def is_crm_owned(field: str) -> bool:
    """Fields only a CRM read may set (events' profiles cannot)."""
    return field in RESERVED_FIELDS or field.startswith(CRM_STAGE_PREFIX)
