"""Profiles, sales stages, BANT answers and won deals from a CRM into the store.

A ``CrmReader`` (the CRM adapters) yields snapshots changed since its cursor; each page is
merged into the contacts' profiles with the cursor in one transaction, and every contact
whose profile changed is rescored (and its stage moved) by the next scoring pass.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import structlog
from sqlalchemy.engine import Engine

from connector.ports import CrmReader
from connector.runners._gc import paused_gc
from connector.runners.recorded import RecordedRun
from connector.store.cursors import read_cursor
from connector.store.ledger import Ledger

__all__ = ["CrmReadSummary", "cursor_name_of", "read_crm"]

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class CrmReadSummary:
    crm: str
    snapshots: int = 0
    contacts_changed: int = 0
    rejected: int = 0
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def kept(self) -> str:
        return (
            f"{self.snapshots:,} {self.crm} records read and stored, "
            f"{self.contacts_changed:,} contacts changed"
        )


def cursor_name_of(reader: CrmReader) -> str:
    # Apart from event sources' cursors: a CRM may be both a reader and an event source.
    return f"crm:{reader.name}"


def read_crm(engine: Engine, reader: CrmReader) -> CrmReadSummary:
    """Read what changed in the CRM since the last read and store it."""
    cursor_name = cursor_name_of(reader)
    summary = CrmReadSummary(crm=reader.name)
    started = time.perf_counter()
    with RecordedRun(engine, "crm-read", summary, kept=summary.kept) as run_id:
        ledger = Ledger(engine, run_id=run_id)
        try:
            with paused_gc():
                for page in reader.read_changes(read_cursor(engine, cursor_name)):
                    changed, rejected = ledger.write_snapshots(page, cursor_name=cursor_name)
                    summary.contacts_changed += changed
                    summary.snapshots += len(page.snapshots)
                    summary.rejected += rejected
        finally:
            summary.duration_s = round(time.perf_counter() - started, 3)
    log.info("crm_read.finished", run_id=run_id, **summary.as_dict())
    return summary
