"""Pages from a source into the ledger, with figures and progress."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import structlog
from sqlalchemy.engine import Engine

from connector.ports import EventSource
from connector.runners._gc import paused_gc
from connector.runners.pipeline import encoded_pages
from connector.store.cursors import read_cursor
from connector.store.ledger import Ledger
from connector.store.ledger_rows import EncodedPage
from connector.store.runs import finish_run, start_run

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
    contacts_created: int = 0
    identity_conflicts: int = 0
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def ingest(
    engine: Engine,
    source: EventSource,
    *,
    command: str,
    resume: bool,
    on_progress: ProgressCallback | None = None,
    subprocess_above_bytes: int | None = None,
) -> IngestSummary:
    """Read ``source`` into the ledger page by page.

    With ``resume``, the source's stored cursor is the starting point and each page's
    cursor is committed with the page; without it (one-off ``ingest FILE``), the whole
    source is read and the ledger's dedupe makes a rerun store nothing new. A source that
    allows it and holds at least ``subprocess_above_bytes`` is read in a child process.
    """
    run_id = start_run(engine, command)
    cursor_name = source.name if resume else None
    cursor = read_cursor(engine, source.name) if resume else None
    summary = IngestSummary(source=source.name)
    ledger = Ledger(engine, run_id=run_id)
    started = time.perf_counter()
    status = "failed"
    pages: Iterator[EncodedPage] = encoded_pages(
        source,
        cursor,
        subprocess_above_bytes=subprocess_above_bytes,
        # A forked reader must hold none of the store's sockets: were it left behind, a
        # PostgreSQL session would stay open (holding the ledger's lock) until it ended.
        before_child=engine.dispose,
    )
    interrupted: BaseException | None = None
    try:
        with paused_gc():
            for page in pages:
                result = ledger.write_page(page, cursor_name=cursor_name)
                summary.read += result.read
                summary.stored += result.stored
                summary.duplicates += result.duplicates
                summary.rejected += result.rejected
                summary.contacts_created += result.contacts_created
                summary.identity_conflicts += result.identity_conflicts
                log.debug("ingest.page", stored=result.stored, rejected=result.rejected)
                if on_progress is not None:
                    on_progress(page.bytes_read)
        status = "ok"
    except KeyboardInterrupt as stop:
        # The page in flight rolled back whole. Its connection was invalidated mid-write
        # and, still held by the traceback, would keep SQLite's write lock: let it go
        # before the run is recorded.
        status, interrupted = "interrupted", stop
        stop.__traceback__ = None
        del stop
        _close_reader(pages)
        gc.collect()
    finally:
        summary.duration_s = round(time.perf_counter() - started, 3)
        finish_run(engine, run_id, status, summary.as_dict())
    if interrupted is not None:
        log.warning("ingest.interrupted", run_id=run_id, **summary.as_dict())
        raise KeyboardInterrupt
    log.info("ingest.finished", run_id=run_id, **summary.as_dict())
    return summary


def _close_reader(pages: Iterator[EncodedPage]) -> None:
    close = getattr(pages, "close", None)
    if close is not None:
        close()  # stops the reader process, if there is one
