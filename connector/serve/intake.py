"""From a verified request to committed events: the part of the intake that is the same
for every router.

Writes go through one thread that owns the ledger (a ``Ledger`` has one writer), so
requests never wait on each other's locks inside the store: they queue for that thread,
each page committed with its rejects in one transaction before its request is answered.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from connector.errors import StoreError
from connector.ports import Page
from connector.store.ledger import Ledger, PageResult
from connector.store.ledger_rows import encode_page

__all__ = ["IntakeFigures", "StoreUnavailableError", "WebhookWriter"]

log = structlog.get_logger(__name__)


class StoreUnavailableError(Exception):
    """The store did not take the page: the request gets 503 and the router retries."""


# What says the store is down or busy, not that a record is wrong (the ledger sets those
# aside itself): the connection refused or cut, a lock not granted in time, a full disk.
_STORE_DOWN = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError)


@dataclass(slots=True)
class IntakeFigures:
    """What the intake took since it started, for its row in the runs table."""

    requests: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    refused: int = 0
    by_source: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class WebhookWriter:
    """Commits pages to the ledger from one thread, for the run ``run_id``."""

    def __init__(self, engine: Engine, *, run_id: int, figures: IntakeFigures) -> None:
        self._ledger = Ledger(engine, run_id=run_id)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger writer")
        self._figures = figures
        self._figures_lock = threading.Lock()

    def submit(self, name: str, page: Page, received_at: datetime) -> Future[PageResult]:
        """The page of source ``name`` to be committed; its future raises
        ``StoreUnavailableError`` when the store does not take it."""
        return self._thread.submit(self._write, name, page, received_at)

    def _write(self, name: str, page: Page, received_at: datetime) -> PageResult:
        # A reject says which request it came from: the router, the source and when.
        moment = received_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        rejects = [
            replace(reject, source=name, location=f"webhook {name}, request of {moment}")
            for reject in page.rejects
        ]
        encoded = encode_page(replace(page, rejects=rejects, cursor=None))
        try:
            result = self._ledger.write_page(encoded, cursor_name=None)
        except (*_STORE_DOWN, StoreError) as error:
            raise StoreUnavailableError(str(getattr(error, "orig", None) or error)) from error
        with self._figures_lock:
            figures = self._figures
            figures.requests += 1
            figures.stored += result.stored
            figures.duplicates += result.duplicates
            figures.rejected += result.rejected
            figures.by_source[name] = figures.by_source.get(name, 0) + result.stored
        return result

    def refused(self) -> None:
        with self._figures_lock:
            self._figures.refused += 1

    def close(self) -> None:
        """Let the page in flight commit, then stop."""
        self._thread.shutdown(wait=True)
