"""A command's row in the runs table, closed with how the command ended.

Every runner that changes the store runs inside one, so the runs table says for each
command whether it finished, failed, met a vendor's limit or was interrupted, with its
figures so far. Ctrl-C and SIGTERM (which the CLI turns into ``KeyboardInterrupt``) end
the run as ``interrupted`` and leave as ``Interrupted``, which says what was kept.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

import structlog
from sqlalchemy.engine import Engine

from connector.errors import Interrupted, LimitReachedError, interrupted_underneath
from connector.store.runs import INTERRUPTED, finish_run, start_run

__all__ = ["RecordedRun"]

log = structlog.get_logger(__name__)


class Figures(Protocol):
    def as_dict(self) -> dict[str, object]: ...


class RecordedRun:
    """``with RecordedRun(engine, "score", summary, kept=...) as run_id:`` around the work.

    ``summary`` is read when the run ends, so it holds the figures of what was done even
    when the run is cut short. On an interruption ``kept`` is called first: it may bring
    the summary up to what the store holds (a page can commit as the signal lands, before
    the summary counts it), and it says what was kept, in words.
    """

    def __init__(
        self, engine: Engine, command: str, summary: Figures, *, kept: Callable[[], str]
    ) -> None:
        self.engine = engine
        self.command = command
        self.summary = summary
        self.kept = kept
        self.run_id = 0

    def __enter__(self) -> int:
        self.run_id = start_run(self.engine, self.command)
        return self.run_id

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            status = "ok"
        elif interrupted_underneath(exc):
            status = INTERRUPTED
            # A store connection cut mid-write is invalidated, not closed; the frames
            # the traceback holds keep it alive, and with it SQLite's write lock, which
            # recording the run needs. Let them go first.
            exc.__traceback__ = None
            del traceback
            gc.collect()
            # A PostgreSQL connection cut mid-statement may go back to the pool still
            # busy; the run's end is recorded on a new one.
            self.engine.dispose()
        elif isinstance(exc, LimitReachedError):
            status = "limit_reached"
        else:
            status = "failed"
        if status != INTERRUPTED:
            finish_run(self.engine, self.run_id, status, self.summary.as_dict())
            return
        try:
            kept = self.kept()
            finish_run(self.engine, self.run_id, status, self.summary.as_dict())
        except Exception as failure:
            # The store is busy or gone (often why Ctrl-C was pressed): the command still
            # ends as interrupted; the next command marks the run from its dead process.
            log.warning("run.end_not_recorded", run_id=self.run_id, error=str(failure)[:300])
            kept = "what was stored is kept"
        log.warning(
            "run.interrupted", command=self.command, run_id=self.run_id, **self.summary.as_dict()
        )
        raise Interrupted(kept) from None
