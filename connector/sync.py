"""One pass of the whole job: pull the sources, read the CRMs, score, push.

``leadsync sync`` runs it once; the daemon will schedule it. Each step commits as it
goes (pages with their cursors, snapshots with theirs, scores by chunk, pushes by chunk),
so a pass cut short anywhere is finished by the next one, writing nothing twice.

A CRM another push is writing to (a `leadsync push` beside it) is skipped with a warning
rather than waited for: the next pass pushes what changed, and a daemon's pass should not
stall behind a long push.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import structlog
from sqlalchemy.engine import Engine

from connector.config import Settings, scoring_rules
from connector.errors import BusyError, LimitReachedError
from connector.plugins import (
    configured_crms,
    crm_mapping_of,
    crm_reader,
    crm_writer,
    pulled_sources,
)
from connector.runners.crm_read import CrmReadSummary, read_crm
from connector.runners.ingest import IngestSummary
from connector.runners.pull import SourceFailure, pull_source
from connector.runners.push import PushSummary, push
from connector.runners.rescore import RescoreSummary, rescore

__all__ = ["SyncPlan", "SyncSummary", "sync_once"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """Which steps a pass runs: the daemon gives a step a schedule of its own by running a
    pass of that step alone. None: every source (or CRM) configured."""

    sources: tuple[str, ...] | None = None
    read: tuple[str, ...] | None = None
    push: tuple[str, ...] | None = None
    score: bool = True
    # Wait for a push to the same CRM running beside it instead of skipping that CRM.
    wait_for_push: bool = False

    @classmethod
    def nothing(cls) -> SyncPlan:
        return cls(sources=(), read=(), push=(), score=False)


@dataclass(slots=True)
class SyncSummary:
    pulled: list[IngestSummary] = field(default_factory=list)
    failed: list[SourceFailure] = field(default_factory=list)
    read: list[CrmReadSummary] = field(default_factory=list)
    scored: RescoreSummary | None = None
    pushed: list[PushSummary] = field(default_factory=list)
    # CRMs whose API limit stopped a read or a push: the ISO time each frees up at.
    limited: dict[str, str] = field(default_factory=dict)
    # The first of those stops: the command exits with it once the pass is reported.
    stopped: LimitReachedError | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, object]:
        figures = asdict(self)
        figures.pop("stopped")
        figures["failed"] = [failure.as_dict() for failure in self.failed]
        return figures


def sync_once(
    engine: Engine,
    settings: Settings,
    plan: SyncPlan | None = None,
    *,
    summary: SyncSummary | None = None,
) -> SyncSummary:
    """One pass of ``plan``'s steps (all of them by default), in order: pull, read the
    CRMs, score, push.

    A CRM's API limit stops that CRM's read or push, not the pass: the others and the
    steps after go on, and ``summary.limited`` says until when; ``summary.stopped`` is the
    first such stop, for the caller to end with. ``summary`` is filled in as the pass
    goes, so a caller whose pass was stopped still has the figures of what was done.
    """
    plan = plan or SyncPlan()
    summary = SyncSummary() if summary is None else summary
    for name in pulled_sources(settings) if plan.sources is None else plan.sources:
        # A source that fails is reported and the pass goes on: what the others pulled is
        # still scored and pushed. The caller exits non-zero for it at the end.
        outcome = pull_source(engine, settings, name, command="sync")
        if isinstance(outcome, SourceFailure):
            summary.failed.append(outcome)
        else:
            summary.pulled.append(outcome)
    crms = configured_crms(settings)
    limited: LimitReachedError | None = None
    out_of_calls: set[str] = set()
    for crm in crms if plan.read is None else plan.read:
        try:
            summary.read.append(read_crm(engine, crm_reader(settings, crm)))
        except LimitReachedError as stop:
            # The pages read are kept; scoring and the other CRMs go on.
            log.warning("sync.read_stopped", crm=crm, error=stop.message)
            limited = limited or stop
            out_of_calls.add(crm)
            summary.limited[crm] = stop.retry_after.isoformat()
    if plan.score:
        summary.scored = rescore(engine, scoring_rules(settings), workers=settings.scoring.workers)
    stopped: LimitReachedError | None = limited
    for crm in crms if plan.push is None else plan.push:
        if crm in out_of_calls:
            continue  # its API limit was reached by the read: no call until it frees up
        mapping = crm_mapping_of(settings, crm)
        pushed = PushSummary(crm=mapping.crm)
        try:
            push(
                engine,
                crm_writer(settings, crm, mapping),
                mapping,
                create=settings.crm[crm].create,
                wait=plan.wait_for_push,
                summary=pushed,
            )
        except BusyError as busy:
            pushed.skipped = busy.message
            log.warning("sync.push_skipped", crm=crm, reason=busy.message)
        except LimitReachedError as stop:
            # One CRM's API limit does not hold back the others; the pass ends with it.
            stopped = stopped or stop
            summary.limited[crm] = stop.retry_after.isoformat()
        summary.pushed.append(pushed)
    log.info(
        "sync.finished",
        pulled=sum(item.stored for item in summary.pulled),
        sources_failed=[failure.source for failure in summary.failed],
        crm_contacts_changed=sum(item.contacts_changed for item in summary.read),
        scored=summary.scored.contacts_scored if summary.scored else 0,
        written=sum(item.written for item in summary.pushed),
    )
    summary.stopped = stopped
    return summary
