"""A full scoring pass split over processes, one range of contact ids each.

A full pass is CPU-bound Python (about 3 µs an event, 15 µs a contact) and the database
work of its range: on two cores, two processes score 100,000 contacts in about half the
time. Each worker reads, scores and writes its own range, committing a chunk at a time;
the parent moves the watermark only once every worker has finished, so a worker that
dies leaves work for the next pass, never a gap.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from connector.errors import FatalError
from connector.runners._child_failure import ChildFailure
from connector.runners._gc import paused_gc

__all__ = ["RangeResult", "RangeWork", "ScoreRange", "run_in_workers", "run_ranges"]

_POLL_S = 0.2
# How long the other workers get to stop at their next chunk once one has failed.
_STOP_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class RangeResult:
    contacts_scored: int
    transitions: int


_Result = TypeVar("_Result")
_Result_co = TypeVar("_Result_co", covariant=True)


class RangeWork(Protocol[_Result_co]):
    def __call__(
        self, low: int, high: int, count: Callable[[int], None], stopping: Callable[[], bool]
    ) -> _Result_co:
        """Work through the contacts ``low..high``, reporting them through ``count`` and
        stopping at the next chunk once ``stopping()`` says so."""
        ...


ScoreRange = RangeWork[RangeResult]


# Set in each worker by the pool's initializer: synchronised objects cross into a process
# only when it starts, not as arguments of a task.
_shared: dict[str, Any] = {}


def _start_worker(done: Any, stop: Any, parent: int) -> None:
    _shared.update(done=done, stop=stop, parent=parent)
    # The parent's SIGTERM handler is inherited; a worker told to end must end.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # A pool worker that has finished its range waits for another task; were the parent
    # killed, it would wait for ever (it holds both ends of the task pipe itself).
    threading.Thread(target=_end_when_orphaned, name="leadsync-orphan-watch", daemon=True).start()


def _end_when_orphaned() -> None:
    while not _orphaned():
        time.sleep(_POLL_S)
    os._exit(1)


def _orphaned() -> bool:
    # The parent was killed: its lock on the store is gone and another pass may start.
    parent: int = _shared["parent"]
    return os.getppid() != parent


def _work(score_range: RangeWork[_Result], low: int, high: int) -> _Result | ChildFailure:
    done, stop = _shared["done"], _shared["stop"]

    def count(contacts: int) -> None:
        with done.get_lock():
            done.value += contacts

    def stopping() -> bool:
        return bool(stop.is_set()) or _orphaned()

    try:
        with paused_gc():
            return score_range(low, high, count, stopping)
    except BaseException as error:  # handed to the parent, raised there
        if _orphaned():
            # Nobody will read the answer, and a pool worker would wait for its next
            # task for ever: end here.
            os._exit(1)
        return ChildFailure.of(error, doing="a scoring worker")


def run_in_workers(
    score_range: ScoreRange,
    ranges: list[tuple[int, int]],
    on_progress: Callable[[int], None] | None,
) -> RangeResult:
    """A scoring pass's ranges in worker processes (``run_ranges``), their counts summed."""
    finished = run_ranges(score_range, ranges, on_progress)
    return RangeResult(
        sum(result.contacts_scored for result in finished),
        sum(result.transitions for result in finished),
    )


def run_ranges(
    score_range: RangeWork[_Result],
    ranges: list[tuple[int, int]],
    on_progress: Callable[[int], None] | None,
) -> list[_Result]:
    """Run ``score_range(low, high, count, stopping)`` for each range in its own process;
    their results (picklable), in the order they finished.

    ``score_range`` must open its own database connections: connections do not survive
    a fork. It reports progress through ``count``. When one range fails, the others stop
    at their next chunk and the failure is raised.
    """
    # fork re-imports nothing and starts at once. The parent holds no pooled connection
    # (the caller disposed of its pool); a progress bar's refresh thread may run, which
    # the workers never touch (they neither print nor log: results come back as values).
    # Linux only: elsewhere (macOS) fork is unsafe with system frameworks, and spawn
    # (the job pickles) is the platform's default.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    context: Any = multiprocessing.get_context(method)
    done, stop = context.Value("q", 0), context.Event()
    pool = ProcessPoolExecutor(
        max_workers=len(ranges),
        mp_context=context,
        initializer=_start_worker,
        initargs=(done, stop, os.getpid()),
    )
    pending: set[Future[_Result | ChildFailure]] = {
        pool.submit(_work, score_range, low, high) for low, high in ranges
    }
    finished: list[_Result] = []
    try:
        while pending:
            completed, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
            if on_progress is not None:
                on_progress(int(done.value))
            for future in completed:
                try:
                    item = future.result()
                except BrokenProcessPool:
                    raise FatalError(
                        "a scoring worker stopped before it finished; nothing is lost: "
                        "the next `leadsync score` redoes the pass"
                    ) from None
                if isinstance(item, ChildFailure):
                    raise item.error
                finished.append(item)
    finally:
        if pending:
            stop.set()
            pending = wait(pending, timeout=_STOP_WAIT_S).not_done
        if pending:
            # A worker stuck past its chunk (a lock wait, say): end it. The executor has
            # no public way to (terminate_workers arrives in Python 3.14).
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
    return finished
