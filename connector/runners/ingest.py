"""Pages from a source into the ledger, with figures and progress."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import structlog
from sqlalchemy.engine import Engine

from connector.ports import EventSource, SizedSource
from connector.runners._gc import paused_gc
from connector.runners.pipeline import encoded_pages
from connector.runners.recorded import RecordedRun
from connector.store.cursors import read_cursor
from connector.store.ledger import Ledger, PageResult, committed_by_run
from connector.store.ledger_rows import EncodedPage
from connector.store.scores import latest_event_id

__all__ = ["IngestSummary", "ingest"]

log = structlog.get_logger(__name__)

ProgressCallback = Callable[[int], None]


@dataclass(slots=True)
class IngestSummary:
    source: str
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    # Read and left out, neither stored nor set aside: outside a backfill's range.
    skipped: int = 0
    contacts_created: int = 0
    identity_conflicts: int = 0
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def add(self, page: PageResult) -> None:
        self.read += page.read
        self.stored += page.stored
        self.duplicates += page.duplicates
        self.rejected += page.rejected
        self.contacts_created += page.contacts_created
        self.identity_conflicts += page.identity_conflicts

    def kept(self) -> str:
        return (
            f"{self.stored:,} new events from {self.source} stored and kept, "
            f"{self.rejected:,} set aside"
        )


def ingest(
    engine: Engine,
    source: EventSource,
    *,
    command: str,
    resume: bool,
    checkpoint: str | None = None,
    summary: IngestSummary | None = None,
    on_progress: ProgressCallback | None = None,
    subprocess_above_bytes: int | None = None,
) -> IngestSummary:
    """Read ``source`` into the ledger page by page.

    With ``resume``, the stored cursor named ``checkpoint`` (by default the source's
    name, its regular cursor) is the starting point and each page's cursor is committed
    under that name with the page; without it (one-off ``ingest FILE``), the whole
    source is read and the ledger's dedupe makes a rerun store nothing new. A source that
    allows it and holds at least ``subprocess_above_bytes`` is read in a child process.
    ``summary`` (a new one when None) is filled in as the pages commit.
    """
    cursor_name = (checkpoint or source.name) if resume else None
    sized = isinstance(source, SizedSource)
    cursor = read_cursor(engine, cursor_name) if cursor_name is not None else None
    if summary is None:
        summary = IngestSummary(source=source.name)
    started = time.perf_counter()
    with engine.connect() as connection:
        newest_before = latest_event_id(connection)

    def kept() -> str:
        summary.stored, summary.rejected = committed_by_run(
            engine, run_id, after_event_id=newest_before
        )
        return summary.kept()

    with RecordedRun(engine, command, summary, kept=kept) as run_id:
        ledger = Ledger(engine, run_id=run_id)
        pages: Iterator[EncodedPage] = encoded_pages(
            source,
            cursor,
            subprocess_above_bytes=subprocess_above_bytes,
            # A forked reader must hold none of the store's sockets: were it left behind, a
            # PostgreSQL session would stay open (holding the ledger's lock) until it ended.
            before_child=engine.dispose,
        )
        try:
            with paused_gc():
                for page in pages:
                    result = ledger.write_page(page, cursor_name=cursor_name)
                    summary.add(result)
                    summary.skipped += page.skipped
                    log.debug("ingest.page", stored=result.stored, rejected=result.rejected)
                    if on_progress is not None:
                        # A file counts its bytes; an API its records (the bar's unit).
                        on_progress(
                            page.bytes_read
                            if sized
                            else len(page.rows) + len(page.rejects) + page.skipped
                        )
        finally:
            _close_reader(pages)  # stops the reader process, if there is one
            summary.duration_s = round(time.perf_counter() - started, 3)
    log.info("ingest.finished", run_id=run_id, **summary.as_dict())
    return summary


def _close_reader(pages: Iterator[EncodedPage]) -> None:
    close = getattr(pages, "close", None)
    if close is not None:
        close()
