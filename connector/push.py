"""Push: what changed since the last successful write, through a CRM writer, recorded.

Vendor-free. For each scored contact the desired CRM fields (``crm_plan``) are compared
with what was last written (``pushed_state``); only the difference goes to the writer,
and only what the CRM accepted is recorded, in one transaction per chunk, so a rerun
writes nothing twice and a crash loses nothing (the unrecorded chunk is sent again).
Rejected records go to the rejects table with the CRM's reason; deferred ones (unknown to
the CRM, not to be created) are counted and tried again next push.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import orjson
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from connector.crm_mapping import CrmMapping
from connector.crm_plan import desired_fields
from connector.errors import LimitReached
from connector.model import Stage
from connector.ports import (
    RECORDS_PER_WRITE,
    CrmRecordWrite,
    CrmValue,
    CrmWriter,
    WriteInterrupted,
    WriteResult,
    WritesInChunks,
    WriteStopped,
)
from connector.sales_signals import crm_stage_field
from connector.store._raw import dialect_insert
from connector.store.schema import contacts, identities, pushed_state, rejects
from connector.store.scores import StoredScore, list_scores

__all__ = ["CreatePolicy", "PlannedPush", "PushStopped", "PushSummary", "plan_push", "push"]

log = structlog.get_logger(__name__)

CreatePolicy = Literal["never", "mql", "always"]
# A contact the CRM did not know is looked up again after this; meanwhile a CRM read that
# finds it links its id, and the next push updates it by id at once. Without the wait,
# every push would look up every contact that never reached the CRM.
LOOK_UP_MISSING_AFTER = timedelta(days=1)
MISSING_MARK = "_missing_since"
_QUALIFIED = frozenset({Stage.MQL.value, Stage.SQL.value, Stage.CUSTOMER.value})


@dataclass(slots=True)
class PushSummary:
    crm: str
    planned: int = 0  # records with changes to send (all of them sent unless dry run)
    written: int = 0
    unchanged: int = 0
    rejected: int = 0
    deferred: int = 0
    dry_run: bool = False
    duration_s: float = 0.0
    stopped: str | None = None  # why the CRM stopped the push before its end
    rejected_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class PushStopped(LimitReached):
    """The CRM's API limit stopped a push; ``summary`` says what it did before."""

    def __init__(self, message: str, *, summary: PushSummary) -> None:
        super().__init__(message)
        self.summary = summary

    def attrs(self) -> dict[str, object]:
        return {"crm": self.summary.crm, "written": self.summary.written}


@dataclass(frozen=True, slots=True)
class PlannedPush:
    records: list[CrmRecordWrite]
    linked: dict[str, int]  # CRM id -> our contact, for every id already linked
    desired: dict[int, dict[str, CrmValue]]  # everything a record should hold once written
    unchanged: int
    # Not in the CRM when last looked up, less than LOOK_UP_MISSING_AFTER ago: not sent.
    still_missing: int = 0


def _stage_order(mapping: CrmMapping) -> dict[str, int]:
    """The CRM's stage values in funnel order (the order of [stages] in the mapping)."""
    order: dict[str, int] = {}
    for value in mapping.stages.values():
        order.setdefault(value, len(order))
    return order


def _stages_in_crm(connection: sa.Connection, crm: str) -> dict[int, str]:
    """Contact -> the stage value the CRM held when last read (CRM reads keep it)."""
    field = crm_stage_field(crm)
    found: dict[int, str] = {}
    for contact_id, profile in connection.execute(sa.select(contacts.c.id, contacts.c.profile)):
        value = (profile or {}).get(field)
        if isinstance(value, str) and value:
            found[int(contact_id)] = value
    return found


def plan_push(
    connection: sa.Connection,
    scores: Sequence[StoredScore],
    mapping: CrmMapping,
    *,
    create: CreatePolicy,
    now: datetime | None = None,
) -> PlannedPush:
    """The records to write: changed fields only (``scored_at`` only with another one),
    a stage moving back down the funnel cleared first, creation as the policy allows."""
    last_written: dict[int, dict[str, CrmValue]] = dict(
        connection.execute(
            sa.select(pushed_state.c.contact_id, pushed_state.c.fields).where(
                pushed_state.c.crm == mapping.crm
            )
        ).all()
    )
    # A contact with several ids in the CRM (a Salesforce Lead, then the Contact it was
    # converted to) is written through the one linked last.
    crm_ids: dict[int, str] = {
        int(contact_id): str(value)
        for contact_id, value in connection.execute(
            sa.select(identities.c.contact_id, identities.c.value)
            .where(identities.c.namespace == mapping.crm)
            .order_by(identities.c.linked_at, identities.c.id)
        )
    }
    stage_field = mapping.fields.get("stage")
    scored_at_field = mapping.fields.get("scored_at")
    order = _stage_order(mapping)
    crm_stages = _stages_in_crm(connection, mapping.crm) if stage_field else {}
    records: list[CrmRecordWrite] = []
    desired: dict[int, dict[str, CrmValue]] = {}
    unchanged = still_missing = 0
    look_up_before = ((now or datetime.now(UTC)) - LOOK_UP_MISSING_AFTER).isoformat()
    for score in scores:
        previous = last_written.get(score.contact_id, {})
        if not previous and score.score == 0 and score.stage == Stage.LEAD.value:
            # Nothing to say about a contact with no points that was never written (one
            # only read from the CRM, say): writing would only overwrite the CRM's stage.
            unchanged += 1
            continue
        wanted = desired_fields(score, mapping)
        missing_since = previous.get(MISSING_MARK)
        may_create = create == "always" or (create == "mql" and score.stage in _QUALIFIED)
        if (
            isinstance(missing_since, str)
            and missing_since > look_up_before
            and score.contact_id not in crm_ids
            and not may_create
        ):
            still_missing += 1
            continue
        in_crm = crm_stages.get(score.contact_id)
        if stage_field is not None and in_crm and in_crm not in order:
            # A stage sales set that the mapping does not know (HubSpot's "opportunity",
            # say): theirs to move, not ours.
            wanted.pop(stage_field, None)
        changed = {name: value for name, value in wanted.items() if previous.get(name) != value}
        if scored_at_field is not None:
            changed.pop(scored_at_field, None)
        if not changed:
            unchanged += 1
            continue
        if scored_at_field is not None and scored_at_field in wanted:
            changed[scored_at_field] = wanted[scored_at_field]
        clear_first: tuple[str, ...] = ()
        if stage_field is not None and stage_field in changed:
            # Compared with what the CRM held when last read, if read: sales may have
            # moved it since our last write.
            before, after = in_crm or previous.get(stage_field), changed[stage_field]
            if (
                isinstance(before, str)
                and isinstance(after, str)
                and order.get(after, 0) < order.get(before, 0)
            ):
                clear_first = (stage_field,)
        desired[score.contact_id] = {
            **{name: value for name, value in previous.items() if name != MISSING_MARK},
            **wanted,
        }
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
    return PlannedPush(records, linked, desired, unchanged, still_missing)


def push(
    engine: Engine,
    writer: CrmWriter | None,
    mapping: CrmMapping,
    *,
    create: CreatePolicy,
    dry_run: bool = False,
    on_planned: Callable[[PlannedPush], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> PushSummary:
    started = time.perf_counter()
    summary = PushSummary(crm=mapping.crm, dry_run=dry_run)
    with engine.connect() as connection:
        planned = plan_push(connection, list_scores(connection), mapping, create=create)
    summary.unchanged = planned.unchanged
    summary.planned = len(planned.records)
    summary.deferred = planned.still_missing
    if on_planned is not None:
        on_planned(planned)
    if dry_run:
        summary.duration_s = round(time.perf_counter() - started, 3)
        return summary
    if writer is None:
        raise ValueError("a push that is not a dry run needs a writer")
    records = planned.records
    # Each chunk is recorded once written: a crash resends at most one chunk's records.
    size = (
        writer.records_per_write(len(records))
        if isinstance(writer, WritesInChunks)
        else RECORDS_PER_WRITE
    )
    for start in range(0, len(records), size):
        chunk = records[start : start + size]
        try:
            results = writer.write(chunk, linked=planned.linked)
        except WriteStopped as stop:
            # What the CRM took before refusing is recorded; the rest is planned again by
            # the next push, so nothing is lost and nothing is written twice.
            _record(engine, mapping.crm, chunk, stop.results, planned.desired, summary)
            summary.stopped = stop.message
            summary.duration_s = round(time.perf_counter() - started, 3)
            kept = len(records) - start - len(stop.results)
            log.warning("push.stopped", kept=kept, **summary.as_dict())
            retry_after = stop.retry_after.astimezone(UTC).isoformat(timespec="seconds")
            raise PushStopped(
                f"{mapping.crm} push stopped: {stop.message}; {summary.written:,} written, "
                f"{kept:,} kept for the next push; retry after "
                f"{retry_after.replace('+00:00', 'Z')}",
                summary=summary,
            ) from None
        except WriteInterrupted as interrupted:
            _record(engine, mapping.crm, chunk, interrupted.results, planned.desired, summary)
            log.error("push.interrupted", error=interrupted.message, **summary.as_dict())
            raise interrupted.cause from None
        _record(engine, mapping.crm, chunk, results, planned.desired, summary)
        if on_progress is not None:
            on_progress(min(start + size, len(records)), len(records))
    summary.duration_s = round(time.perf_counter() - started, 3)
    log.info("push.finished", **summary.as_dict())
    return summary


def _record(
    engine: Engine,
    crm: str,
    chunk: Sequence[CrmRecordWrite],
    results: Sequence[WriteResult],
    desired: dict[int, dict[str, CrmValue]],
    summary: PushSummary,
) -> None:
    """What the CRM accepted becomes the new 'last written'; refusals become rejects."""
    by_contact = {record.contact_id: record for record in chunk}
    now = datetime.now(UTC)
    written_rows: list[dict[str, object]] = []
    new_ids: list[dict[str, object]] = []
    rejected_rows: list[dict[str, object]] = []
    missing_rows: list[dict[str, object]] = []
    dead_links: list[str] = []
    for result in results:
        record = by_contact[result.contact_id]
        if result.status == "ok":
            summary.written += 1
            written_rows.append(
                {
                    "crm": crm,
                    "contact_id": result.contact_id,
                    "fields": desired[result.contact_id],
                    "pushed_at": now,
                }
            )
            # A new id: found by e-mail, created, or the Contact a Lead was converted to.
            if result.crm_id is not None and result.crm_id != record.crm_id:
                new_ids.append(
                    {
                        "namespace": crm,
                        "value": result.crm_id,
                        "contact_id": result.contact_id,
                        "source": f"push:{crm}",
                        "linked_at": now,
                    }
                )
        elif result.status == "rejected":
            summary.rejected += 1
            reason = result.reason or "rejected without a reason"
            summary.rejected_reasons[reason] = summary.rejected_reasons.get(reason, 0) + 1
            rejected_rows.append(_reject_row(crm, record, reason, now))
        elif (record.crm_id is None or result.unlink) and result.crm_id is None:
            summary.deferred += 1
            if result.unlink:
                dead_links.append(result.unlink)
            # Not in the CRM: remembered, so the next pushes do not look it up again for
            # a while.
            missing_rows.append(
                {
                    "crm": crm,
                    "contact_id": result.contact_id,
                    "fields": {MISSING_MARK: now.isoformat()},
                    "pushed_at": now,
                }
            )
        else:
            # Known to the CRM but not written this time (a row locked past the retries):
            # what was last written stands, and the next push sends the change again.
            summary.deferred += 1
    with engine.begin() as connection:
        if dead_links:
            connection.execute(
                sa.delete(identities).where(
                    identities.c.namespace == crm, identities.c.value.in_(dead_links)
                )
            )
        for rows in (written_rows, missing_rows):
            if not rows:
                continue
            statement = dialect_insert(connection.dialect, pushed_state)
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[pushed_state.c.crm, pushed_state.c.contact_id],
                    set_={
                        "fields": statement.excluded.fields,
                        "pushed_at": statement.excluded.pushed_at,
                    },
                ),
                rows,
            )
        if new_ids:
            connection.execute(
                dialect_insert(connection.dialect, identities).on_conflict_do_nothing(), new_ids
            )
        if rejected_rows:
            connection.execute(
                dialect_insert(connection.dialect, rejects).on_conflict_do_nothing(), rejected_rows
            )


def _reject_row(crm: str, record: CrmRecordWrite, reason: str, now: datetime) -> dict[str, object]:
    raw = orjson.dumps(
        {"email": record.email, "id": record.crm_id, "fields": dict(record.fields)}
    ).decode()
    location = f"contact {record.email or record.contact_id}"
    # The same refusal of the same write is one reject, however many pushes see it.
    fingerprint = hashlib.blake2b(
        f"{location}\0{reason}\0{raw}".encode(), digest_size=16
    ).hexdigest()
    return {
        "run_id": None,
        "source": f"push:{crm}",
        "location": location,
        "line": None,
        "reason": reason,
        "raw": raw,
        "fingerprint": fingerprint,
        "created_at": now,
    }
