"""The write plan: the CRM fields a contact's score should be written as, by the
mapping's names, compared with what the CRM was last told.

Pure: ``connector.runners.push`` reads what the CRM was told (``CrmState``) from the store,
plans here, sends the difference and records what the CRM accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime, timedelta
from typing import Literal

from connector.crm.mapping import CrmMapping
from connector.crm.stages import HeldStage, StageCall, StageOrder, held_stage, stage_call
from connector.model import Stage, StoredScore, Temperature
from connector.ports import CrmRecordWrite, CrmValue

__all__ = [
    "LOOK_UP_MISSING_AFTER",
    "MISSING_MARK",
    "UNAPPLIED_MARK",
    "CreatePolicy",
    "CrmState",
    "PlannedPush",
    "desired_fields",
    "plan_push",
]

CreatePolicy = Literal["never", "mql", "always"]
# A contact the CRM did not know is looked up again after this; meanwhile a CRM read that
# finds it links its id, and the next push updates it by id at once. Without the wait,
# every push would look up every contact that never reached the CRM.
LOOK_UP_MISSING_AFTER = timedelta(days=1)
MISSING_MARK = "_missing_since"
# Why the CRM holds what was recorded for a record not written (``WriteResult.applied``):
# the next push repairs it, and ``check --online`` says so meanwhile. Marks start with
# "_" and are never sent.
UNAPPLIED_MARK = "_not_applied"
_QUALIFIED = frozenset({Stage.MQL.value, Stage.SQL.value, Stage.CUSTOMER.value})


@dataclass(frozen=True, slots=True)
class CrmState:
    """What one CRM was told and holds, as the store remembers it."""

    # Contact -> the fields last written (with MISSING_MARK for one the CRM did not know).
    last_written: dict[int, dict[str, CrmValue]] = dataclass_field(default_factory=dict)
    # Contact -> its CRM id; with several, the one linked last (a Salesforce Lead, then the
    # Contact it was converted to).
    crm_ids: dict[int, str] = dataclass_field(default_factory=dict)
    # Contact -> the stage value the CRM held when last read (CRM reads keep it).
    crm_stages: dict[int, str] = dataclass_field(default_factory=dict)
    # Contact -> when its fields were last written; when its stage was last read (by the
    # same clock). Whichever is newer says what the CRM holds.
    written_at: dict[int, datetime] = dataclass_field(default_factory=dict)
    stage_read_at: dict[int, datetime] = dataclass_field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlannedPush:
    records: list[CrmRecordWrite]
    linked: dict[str, int]  # CRM id -> our contact, for every id already linked
    desired: dict[int, dict[str, CrmValue]]  # everything a record should hold once written
    unchanged: int
    # Not in the CRM when last looked up, less than LOOK_UP_MISSING_AFTER ago: not sent.
    still_missing: int = 0
    # For each record with ``clear_first``: what the CRM was last told of it. A clear
    # (or a set) is a call of its own, so the CRM may take it and not the rest; with the
    # result's ``applied`` over it, this is what the CRM then holds.
    held: dict[int, dict[str, CrmValue]] = dataclass_field(default_factory=dict)


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


def _held(score: StoredScore, known: CrmState, written: CrmValue) -> HeldStage:
    contact_id = score.contact_id
    return held_stage(
        read=known.crm_stages.get(contact_id),
        read_at=known.stage_read_at.get(contact_id),
        written=written if isinstance(written, str) or written is None else str(written),
        written_at=known.written_at.get(contact_id),
        scored_at=score.scored_at,
    )


def plan_push(
    scores: Iterable[StoredScore],
    known: CrmState,
    mapping: CrmMapping,
    *,
    create: CreatePolicy,
    now: datetime,
    rewrite: bool = False,
) -> PlannedPush:
    """The records to write: changed fields only (``scored_at`` only with another one),
    the stage judged against what the CRM is known to hold (``connector.crm.stages``: a
    move back cleared first, a value someone else set left alone), creation as the
    policy allows.

    With ``rewrite`` (``push --all``, after a mapping change or a CRM restore) every
    field is written whatever was last written, our stage too where the CRM is thought to
    hold it already, and a contact the CRM did not know is looked up again at once; a
    stage someone else set is still left alone.
    """
    last_written, crm_ids = known.last_written, known.crm_ids
    stage_field = mapping.fields.get("stage")
    scored_at_field = mapping.fields.get("scored_at")
    order = StageOrder.of(mapping)
    records: list[CrmRecordWrite] = []
    desired: dict[int, dict[str, CrmValue]] = {}
    held: dict[int, dict[str, CrmValue]] = {}
    unchanged = still_missing = 0
    look_up_before = (now - LOOK_UP_MISSING_AFTER).isoformat()
    for score in scores:
        previous = last_written.get(score.contact_id, {})
        if not previous and score.score == 0 and score.stage == Stage.LEAD.value:
            # Nothing to say about a contact with no points that was never written (one
            # only read from the CRM, say): writing would only overwrite the CRM's stage.
            unchanged += 1
            continue
        if score.email is None and score.contact_id not in crm_ids:
            # Nothing the CRM could find it by: an anonymous visitor (its points count
            # once a later event ties it to a contact), or a contact known by an
            # analytics id alone.
            unchanged += 1
            continue
        wanted = desired_fields(score, mapping)
        missing_since = previous.get(MISSING_MARK)
        may_create = create == "always" or (create == "mql" and score.stage in _QUALIFIED)
        if (
            not rewrite
            and isinstance(missing_since, str)
            and missing_since > look_up_before
            and score.contact_id not in crm_ids
            and not may_create
        ):
            still_missing += 1
            continue
        call = StageCall.KEEP
        if stage_field is not None and stage_field in wanted:
            in_crm = _held(score, known, previous.get(stage_field))
            call = stage_call(in_crm, str(wanted[stage_field]), order)
            if call in (StageCall.THEIRS, StageCall.WAIT_FOR_SCORING, StageCall.KEEP):
                # Not ours to write, or there already: recorded as what the CRM holds, so
                # that a later write of other fields (a newer pushed_at) does not make an
                # older value of ours look like the newer news.
                wanted[stage_field] = in_crm.value
        changed = {
            name: value for name, value in wanted.items() if rewrite or previous.get(name) != value
        }
        if stage_field is not None and call in (StageCall.SET, StageCall.CLEAR_AND_SET):
            # Also when it was written already: the CRM is known to hold something else
            # (a write it did not apply, a blank a cut push left).
            changed[stage_field] = wanted[stage_field]
        elif stage_field is not None and not (rewrite and call is StageCall.KEEP):
            changed.pop(stage_field, None)
        if scored_at_field is not None:
            changed.pop(scored_at_field, None)
        if not changed:
            unchanged += 1
            continue
        if scored_at_field is not None and scored_at_field in wanted:
            changed[scored_at_field] = wanted[scored_at_field]
        clear_first: tuple[str, ...] = ()
        if stage_field is not None and call is StageCall.CLEAR_AND_SET:
            clear_first = (stage_field,)
        told = {name: value for name, value in previous.items() if not name.startswith("_")}
        desired[score.contact_id] = {**told, **wanted}
        if clear_first:
            held[score.contact_id] = told
        records.append(
            CrmRecordWrite(
                contact_id=score.contact_id,
                email=score.email,
                crm_id=crm_ids.get(score.contact_id),
                fields=changed,
                clear_first=clear_first,
                may_create=may_create,
            )
        )
    linked = {crm_id: contact_id for contact_id, crm_id in crm_ids.items()}
    return PlannedPush(records, linked, desired, unchanged, still_missing, held)
