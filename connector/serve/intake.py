"""From a verified request to committed events: the part of the intake that is the same
for every router.

Writes go through one thread that owns the ledger (a ``Ledger`` has one writer). It
commits the requests that arrived while it was committing the previous ones together, in
one transaction (each page in its own savepoint): a commit, and on PostgreSQL its flush
to disk, is most of what a one-event request costs, and shared it is paid once. Each
request is answered only once its transaction has committed.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from connector.errors import StoreError
from connector.ports import Page
from connector.store.ledger import Ledger, PageResult
from connector.store.ledger_rows import EncodedPage, encode_page

__all__ = ["IntakeFigures", "StoreUnavailableError", "WebhookWriter"]

log = structlog.get_logger(__name__)

# A commit takes the requests waiting, up to these: enough to share a commit among every
# client a router opens, few enough that one request's answer never waits long.
_PAGES_PER_COMMIT = 64
_ROWS_PER_COMMIT = 20_000


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


@dataclass(slots=True)
class _Waiting:
    name: str
    page: EncodedPage
    answer: Future[PageResult]


class WebhookWriter:
    """Commits pages to the ledger from one thread, for the run ``run_id``."""

    def __init__(self, engine: Engine, *, run_id: int, figures: IntakeFigures) -> None:
        self._ledger = Ledger(engine, run_id=run_id)
        self._waiting: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._figures = figures
        self._figures_lock = threading.Lock()
        self._thread = threading.Thread(target=self._commit_loop, name="ledger writer", daemon=True)
        self._thread.start()

    def submit(self, name: str, page: Page, received_at: datetime) -> Future[PageResult]:
        """The page of source ``name`` to be committed; its future raises
        ``StoreUnavailableError`` when the store does not take it."""
        # A reject says which request it came from: the router, the source and when.
        moment = received_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        rejects = [
            replace(reject, source=name, location=f"webhook {name}, request of {moment}")
            for reject in page.rejects
        ]
        answer: Future[PageResult] = Future()
        self._waiting.put(
            _Waiting(name, encode_page(replace(page, rejects=rejects, cursor=None)), answer)
        )
        return answer

    def _commit_loop(self) -> None:
        while True:
            first = self._waiting.get()
            if first is None:
                return
            together = [first]
            rows = len(first.page.rows)
            stop_after = False
            while len(together) < _PAGES_PER_COMMIT and rows < _ROWS_PER_COMMIT:
                try:
                    more = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop_after = True
                    break
                together.append(more)
                rows += len(more.page.rows)
            self._commit(together)
            if stop_after:
                return

    def _commit(self, together: list[_Waiting]) -> None:
        try:
            results = self._ledger.write_pages([waiting.page for waiting in together])
        except (*_STORE_DOWN, StoreError) as error:
            failure = StoreUnavailableError(str(getattr(error, "orig", None) or error))
            for waiting in together:
                waiting.answer.set_exception(failure)
            return
        except Exception as error:  # a bug: each request gets its 500, the loop goes on
            log.exception("serve.write_failed", pages=len(together))
            for waiting in together:
                waiting.answer.set_exception(error)
            return
        with self._figures_lock:
            figures = self._figures
            for waiting, result in zip(together, results, strict=True):
                figures.requests += 1
                figures.stored += result.stored
                figures.duplicates += result.duplicates
                figures.rejected += result.rejected
                figures.by_source[waiting.name] = (
                    figures.by_source.get(waiting.name, 0) + result.stored
                )
        for waiting, result in zip(together, results, strict=True):
            waiting.answer.set_result(result)

    def refused(self) -> None:
        with self._figures_lock:
            self._figures.refused += 1

    def close(self) -> None:
        """Commit what is waiting, then stop."""
        self._waiting.put(None)
        self._thread.join()
