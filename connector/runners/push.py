"""Push: what changed since the last successful write, through a CRM writer, recorded.

Vendor-free. The write plan (``connector.crm.plan``) compares each scored contact's
desired CRM fields with what was last written; only the difference goes to the writer,
and only what the CRM accepted is recorded, in one transaction per chunk, so a rerun
writes nothing twice and a crash loses nothing (the unrecorded chunk is sent again).
Rejected records go to the rejects table with the CRM's reason; deferred ones (unknown to
the CRM, not to be created) are counted and tried again next push.

One push per CRM at a time: a second one beside it would plan from the same "last
written" and send the same records again (creating twice what the CRM lacks), so a push
holds the store's lock for its CRM from its plan to its last record, and one that finds
it taken stops at once or, asked to, waits. Scores of a pass ``--as-of`` another moment
are not pushed unless forced: they would overwrite the CRM's current scores.

A rewrite (``push --all``) plans every scored contact's fields whatever was last written,
in contact order, and records with each chunk the last contact it wrote, so a rerun
after a stop goes on after it; the checkpoint is dropped when the rewrite ends, and the
next one starts over. It goes through the same lock, chunks, pacing and retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from connector.crm.mapping import CrmMapping
from connector.crm.plan import (
    MISSING_MARK,
    UNAPPLIED_MARK,
    CreatePolicy,
    PlannedPush,
    plan_push,
)
from connector.errors import FatalError, LimitReachedError, WriteInterruptedError
from connector.model import StoredScore
from connector.ports import (
    RECORDS_PER_WRITE,
    CrmRecordWrite,
    CrmWriter,
    ReportsBudget,
    WriteResult,
    WritesInChunks,
)
from connector.runners.recorded import RecordedRun
from connector.runners.rescore import scores_as_of
from connector.store.cursors import forget_cursor, read_cursor, rewrite_checkpoint_name
from connector.store.locks import push_lock
from connector.store.pushes import PushOutcome, read_crm_state, record_push_outcome, reject_row
from connector.store.scores import list_scores

__all__ = ["PushSummary", "plan_from_store", "push"]

log = structlog.get_logger(__name__)


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
    skipped: str | None = None  # why it did not run (sync: another push held the lock)
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    rewrite_all: bool = False  # push --all: every contact, whatever was last written
    # The last contact an unfinished rewrite had written: this one went on after it.
    resumed_after: int | None = None
    # The CRM's API calls used and allowed in its period, as its last answer said.
    api_used: int | None = None
    api_allowed: int | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def kept(self) -> str:
        if self.rewrite_all:
            return (
                f"{self.written:,} of {self.planned:,} {self.crm} records rewritten and "
                "recorded; the next push --all goes on after them"
            )
        return (
            f"{self.written:,} of {self.planned:,} {self.crm} records written and recorded; "
            "the next push sends the rest"
        )


def plan_from_store(
    connection: sa.Connection,
    mapping: CrmMapping,
    *,
    create: CreatePolicy,
    scores: Sequence[StoredScore] | None = None,
    rewrite: bool = False,
) -> PlannedPush:
    """The write plan for ``mapping``'s CRM, from the scores stored (or ``scores``) and
    what the store remembers of the CRM (with ``rewrite``, every field, see
    ``plan_push``)."""
    known = read_crm_state(connection, mapping.crm, with_stages="stage" in mapping.fields)
    return plan_push(
        list_scores(connection) if scores is None else scores,
        known,
        mapping,
        create=create,
        now=datetime.now(UTC),
        rewrite=rewrite,
    )


def push(
    engine: Engine,
    writer: CrmWriter | None,
    mapping: CrmMapping,
    *,
    create: CreatePolicy,
    dry_run: bool = False,
    wait: bool = False,
    force: bool = False,
    rewrite_all: bool = False,
    summary: PushSummary | None = None,
    on_planned: Callable[[PlannedPush], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_wait: Callable[[], None] | None = None,
) -> PushSummary:
    """Send ``mapping``'s CRM what changed and record what it accepted.

    The push holds the store's lock for its CRM (a dry run, which sends and records
    nothing, takes none); with ``wait`` it waits for another push to that CRM to end
    (``on_wait`` is called once if it has to), else it stops at once. ``force`` pushes
    scores a pass ``--as-of`` left in the store. ``rewrite_all`` writes every scored
    contact's fields whatever was last written, from where an unfinished one stopped.

    ``summary`` is filled in as the push goes (a new one when None), so a caller that
    catches a limit stop still has the figures of what was done before it.

    Raises:
        BusyError: another push to this CRM is running and ``wait`` is false; nothing
            was planned or sent.
        FatalError: the stored scores are those of a pass ``--as-of`` (and no ordinary
            pass has run since), without ``force``; nothing was sent.
        LimitReachedError: the CRM's API limit stopped the push; what was written is
            recorded, the rest is planned again by the next push after ``retry_after``.
    """
    started = time.perf_counter()
    if summary is None:
        summary = PushSummary(crm=mapping.crm)
    summary.dry_run = dry_run
    summary.rewrite_all = rewrite_all
    checkpoint = rewrite_checkpoint_name(mapping.crm) if rewrite_all else None
    if dry_run:
        with engine.connect() as connection:
            as_of = scores_as_of(connection)
        if as_of is not None:
            log.warning("push.scores_as_of", crm=mapping.crm, as_of=_shown(as_of))
        _plan(engine, mapping, create, summary, on_planned, checkpoint)
        summary.duration_s = round(time.perf_counter() - started, 3)
        return summary
    if writer is None:
        raise ValueError("a push that is not a dry run needs a writer")

    def waiting() -> None:
        log.info("push.waiting", crm=mapping.crm, reason=f"another push to {mapping.crm} runs")
        if on_wait is not None:
            on_wait()

    # From the plan to the last record: a push planned beside another would plan the same
    # records, the other's writes not yet recorded.
    with push_lock(engine, mapping.crm, wait=wait, on_wait=waiting):
        if not force:
            _refuse_scores_as_of(engine, mapping.crm)
        planned = _plan(engine, mapping, create, summary, on_planned, checkpoint)
        _send(engine, writer, mapping, planned, summary, started, on_progress, checkpoint)
        if checkpoint is not None:
            forget_cursor(engine, checkpoint)  # finished: the next rewrite starts over
    summary.duration_s = round(time.perf_counter() - started, 3)
    log.info("push.finished", **summary.as_dict())
    return summary


def _shown(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _refuse_scores_as_of(engine: Engine, crm: str) -> None:
    with engine.connect() as connection:
        as_of = scores_as_of(connection)
    if as_of is not None:
        raise FatalError(
            f"the stored scores are as of {_shown(as_of)} (score --as-of), so nothing was "
            f"pushed to {crm}",
            hint="run `leadsync score` first, or push them anyway with --force",
        )


def _plan(
    engine: Engine,
    mapping: CrmMapping,
    create: CreatePolicy,
    summary: PushSummary,
    on_planned: Callable[[PlannedPush], None] | None,
    checkpoint: str | None,
) -> PlannedPush:
    """The plan; for a rewrite (``checkpoint`` names its cursor), every scored contact
    after the last one an unfinished rewrite wrote, in contact order."""
    after = None if checkpoint is None else _last_rewritten(engine, checkpoint)
    summary.resumed_after = after
    with engine.connect() as connection:
        if checkpoint is None:
            planned = plan_from_store(connection, mapping, create=create)
        else:
            scores = sorted(
                (score for score in list_scores(connection) if score.contact_id > (after or 0)),
                key=lambda score: score.contact_id,
            )
            planned = plan_from_store(
                connection, mapping, create=create, scores=scores, rewrite=True
            )
    summary.unchanged = planned.unchanged
    summary.planned = len(planned.records)
    summary.deferred = planned.still_missing
    if on_planned is not None:
        on_planned(planned)
    return planned


def _last_rewritten(engine: Engine, checkpoint: str) -> int | None:
    value = read_cursor(engine, checkpoint)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        log.warning("push.checkpoint_unreadable", checkpoint=checkpoint, value=value[:40])
        return None  # not a contact id: the rewrite starts over, which is only slower


def _send(
    engine: Engine,
    writer: CrmWriter,
    mapping: CrmMapping,
    planned: PlannedPush,
    summary: PushSummary,
    started: float,
    on_progress: Callable[[int, int], None] | None,
    checkpoint: str | None,
) -> None:
    records = planned.records
    # Each chunk is recorded once written: a crash resends at most one chunk's records.
    size = (
        writer.records_per_write(len(records))
        if isinstance(writer, WritesInChunks)
        else RECORDS_PER_WRITE
    )
    with RecordedRun(engine, "push", summary, kept=summary.kept):
        try:
            for start in range(0, len(records), size):
                chunk = records[start : start + size]
                try:
                    results = writer.write(chunk, linked=planned.linked)
                except LimitReachedError as stop:
                    # What the CRM took before refusing is recorded; the rest is planned again by
                    # the next push, so nothing is lost and nothing is written twice.
                    _record(engine, mapping.crm, chunk, stop.results, planned, summary)
                    summary.stopped = stop.message
                    summary.duration_s = round(time.perf_counter() - started, 3)
                    kept = len(records) - start - len(stop.results)
                    log.warning("push.stopped", kept=kept, **summary.as_dict())
                    retry_after = stop.retry_after.astimezone(UTC).isoformat(timespec="seconds")
                    raise LimitReachedError(
                        f"{mapping.crm} push stopped: {stop.message}; {summary.written:,} written, "
                        f"{kept:,} kept for the next push; retry after "
                        f"{retry_after.replace('+00:00', 'Z')}",
                        retry_after=stop.retry_after,
                        vendor=mapping.crm,
                    ) from None
                except WriteInterruptedError as interrupted:
                    _record(engine, mapping.crm, chunk, interrupted.results, planned, summary)
                    stopped = isinstance(interrupted.cause, KeyboardInterrupt)
                    (log.warning if stopped else log.error)(
                        "push.interrupted", error=interrupted.message, **summary.as_dict()
                    )
                    raise interrupted.cause from None
                # A rewrite's records go in contact order: the chunk's last is how far it got.
                done = None if checkpoint is None else (checkpoint, str(chunk[-1].contact_id))
                _record(engine, mapping.crm, chunk, results, planned, summary, checkpoint=done)
                if on_progress is not None:
                    on_progress(min(start + size, len(records)), len(records))
        finally:
            _note_budget(writer, summary)
        summary.duration_s = round(time.perf_counter() - started, 3)


def _note_budget(writer: CrmWriter, summary: PushSummary) -> None:
    """The CRM's API budget as its last answer said, for `status` and the metrics."""
    budget = writer.api_budget() if isinstance(writer, ReportsBudget) else None
    if budget is not None:
        summary.api_used, summary.api_allowed = budget.used, budget.allowed


def _record(
    engine: Engine,
    crm: str,
    chunk: Sequence[CrmRecordWrite],
    results: Sequence[WriteResult],
    planned: PlannedPush,
    summary: PushSummary,
    *,
    checkpoint: tuple[str, str] | None = None,
) -> None:
    """What the CRM accepted becomes the new 'last written'; refusals become rejects;
    ``checkpoint`` (a cursor's name and value) is set in the same transaction.

    A record not written that still changed the CRM (``applied``: a clear no set followed,
    a stage set back alone, a set the CRM answered without applying) is recorded as what
    the CRM now holds, so the next push plans from that and finishes the move.
    """
    desired = planned.desired
    by_contact = {record.contact_id: record for record in chunk}
    now = datetime.now(UTC)
    outcome = PushOutcome(checkpoint=checkpoint)
    for result in results:
        record = by_contact[result.contact_id]
        if result.status != "ok" and result.applied:
            outcome.written.append(
                {
                    "crm": crm,
                    "contact_id": result.contact_id,
                    "fields": {
                        **planned.held.get(result.contact_id, {}),
                        **result.applied,
                        UNAPPLIED_MARK: result.reason or "not applied",
                    },
                    "pushed_at": now,
                }
            )
        if result.status == "ok":
            summary.written += 1
            outcome.written.append(
                {
                    "crm": crm,
                    "contact_id": result.contact_id,
                    "fields": desired[result.contact_id],
                    "pushed_at": now,
                }
            )
            # A new id: found by e-mail, created, or the Contact a Lead was converted to.
            if result.crm_id is not None and result.crm_id != record.crm_id:
                outcome.new_ids.append(
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
            outcome.rejected.append(reject_row(crm, record, reason, now))
        elif (record.crm_id is None or result.unlink) and result.crm_id is None:
            summary.deferred += 1
            if result.unlink:
                outcome.dead_links.append(result.unlink)
            # Not in the CRM: remembered, so the next pushes do not look it up again for
            # a while.
            outcome.missing.append(
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
    record_push_outcome(engine, crm, outcome)
