"""Contacts whose stage in a CRM, as last read, is not leadsync's, and why.

Pure and vendor-free, for ``leadsync check --online``: the same rules the push plans with
(``connector.crm.stages``), told as reasons an admin can act on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from connector.crm.mapping import CrmMapping
from connector.crm.plan import UNAPPLIED_MARK, CrmState
from connector.crm.stages import StageCall, StageOrder, held_stage, stage_call
from connector.model import Stage, StoredScore

__all__ = ["StageDifference", "stage_differences"]


@dataclass(frozen=True, slots=True)
class StageDifference:
    contact_id: int
    email: str | None
    in_crm: str  # the value the CRM held when last read ("" blank)
    ours: str  # the value leadsync's stage is written as
    why: str


def stage_differences(
    scores: Iterable[StoredScore], known: CrmState, mapping: CrmMapping, *, shown_as: str
) -> list[StageDifference]:
    """Each scored contact read from the CRM whose stage there differs from leadsync's;
    ``shown_as`` names the CRM in the reasons. Contacts the push leaves unwritten (no
    points, never written) are not listed: leadsync has nothing to say about them."""
    stage_field = mapping.fields.get("stage")
    if stage_field is None:
        return []
    order = StageOrder.of(mapping)
    found: list[StageDifference] = []
    for score in scores:
        read = known.crm_stages.get(score.contact_id)
        ours = mapping.stages.get(Stage(score.stage))
        if read is None or ours is None or read == ours:
            continue
        previous = known.last_written.get(score.contact_id, {})
        written = previous.get(stage_field)
        if written is None and score.score == 0 and score.stage == Stage.LEAD.value:
            continue
        why = _why(
            shown_as,
            read=read,
            written=None if written is None else str(written),
            ours=ours,
            unapplied=previous.get(UNAPPLIED_MARK),
            call=stage_call(
                held := held_stage(
                    read=read,
                    read_at=known.stage_read_at.get(score.contact_id),
                    written=None if written is None else str(written),
                    written_at=known.written_at.get(score.contact_id),
                    scored_at=score.scored_at,
                ),
                ours,
                order,
            ),
            is_read_newer=held.changed_there,
            is_placed=read in order.funnel or read in order.crm,
        )
        found.append(StageDifference(score.contact_id, score.email, read, ours, why))
    return found


def _why(
    crm: str,
    *,
    read: str,
    written: str | None,
    ours: str,
    unapplied: object,
    call: StageCall,
    is_read_newer: bool,
    is_placed: bool,
) -> str:
    if call is StageCall.THEIRS:
        if not is_placed:
            return f"a stage the mapping does not place: {crm}'s, left alone"
        return f"set in {crm} after our last write, ahead of ours: theirs, left alone"
    if call is StageCall.WAIT_FOR_SCORING:
        return "set by sales after the last scoring pass: the next `leadsync score` takes it in"
    if isinstance(unapplied, str):
        return f"at the last push: {unapplied}"
    if written is None:
        return "not yet pushed: the next push writes it"
    if is_read_newer:
        return (
            f"{crm} did not apply our write of {written!r}, or it was changed there: the "
            f"next push sets {ours!r}"
            + (", clearing first" if call is StageCall.CLEAR_AND_SET else "")
        )
    if written == ours:
        return f"read before our last write of {ours!r}: the next `leadsync crm read` shows it"
    return "changed since the last push: the next push writes it"
