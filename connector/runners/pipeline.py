"""Pages from a source, encoded for the ledger, read in this process or in another one.

Reading and validating a large file costs as much CPU as writing it. Two threads would
not help: the parser holds the GIL while the writer waits for it between SQLite steps (a
convoy, measured slower than one thread). A child process reads and encodes instead, on
the second core, and hands pages over through a bounded queue, so memory stays at a few
pages whatever the file size. Sources opt in with ``subprocess_safe = True`` (they must
pickle); small inputs stay in-process, where starting a child would cost more than it
saves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import queue
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from connector.errors import FatalError
from connector.ports import EventSource
from connector.runners._child_failure import ChildFailure
from connector.runners._gc import paused_gc
from connector.store.ledger_rows import EncodedPage, encode_page

__all__ = ["encoded_pages"]

_QUEUE_PAGES = 2
_POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class _Done:
    pass


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with(parent: int) -> None:
    """End this process when ``parent`` does: a reader left behind would hold its memory
    (and, before the fix, the parent's store connection) for ever."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the signal was asked for
        os._exit(1)


def _handed_over(pages: multiprocessing.Queue[object], item: object, parent: int) -> None:
    # Waits in steps, so a reader whose parent is gone (elsewhere than Linux) notices.
    while True:
        try:
            pages.put(item, timeout=_POLL_S)
            return
        except queue.Full:
            if os.getppid() != parent:
                os._exit(1)


def _produce(
    source: EventSource, cursor: str | None, pages: multiprocessing.Queue[object], parent: int
) -> None:
    _die_with(parent)
    # Ctrl-C reaches the whole process group: the parent stops this reader itself, with
    # SIGTERM, which must end it (the parent's own SIGTERM handler is inherited).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with paused_gc():
            for page in source.pull(cursor):
                _handed_over(pages, encode_page(page), parent)
        _handed_over(pages, _Done(), parent)
    except BaseException as error:  # handed to the parent, raised there
        _handed_over(pages, ChildFailure.of(error, doing="reading the source"), parent)


def _in_subprocess(
    source: EventSource, cursor: str | None, before_start: Callable[[], None] | None
) -> Iterator[EncodedPage]:
    # fork starts in milliseconds and re-imports nothing; the writer holds no threads at
    # this point. Elsewhere (macOS, Windows) spawn is the safe default.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context: Any = multiprocessing.get_context(method)
    pages: multiprocessing.Queue[object] = context.Queue(maxsize=_QUEUE_PAGES)
    reader = context.Process(
        target=_produce,
        args=(source, cursor, pages, os.getpid()),
        name="leadsync-reader",
        daemon=True,
    )
    if before_start is not None:
        before_start()
    reader.start()
    try:
        while True:
            try:
                item = pages.get(timeout=_POLL_S)
            except queue.Empty:
                if not reader.is_alive():
                    raise FatalError(
                        f"the reader of source {source.name!r} stopped "
                        f"(exit code {reader.exitcode}) before it finished"
                    ) from None
                continue
            if isinstance(item, _Done):
                return
            if isinstance(item, ChildFailure):
                raise item.error
            if not isinstance(item, EncodedPage):  # pragma: no cover - only we write here
                raise FatalError(f"unexpected item from the reader: {type(item).__name__}")
            yield item
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join(timeout=5)
        pages.close()


def _worth_a_subprocess(source: EventSource, threshold_bytes: int | None) -> bool:
    if threshold_bytes is None or not getattr(source, "subprocess_safe", False):
        return False
    size = getattr(source, "size", None)
    return callable(size) and int(size()) >= threshold_bytes


def encoded_pages(
    source: EventSource,
    cursor: str | None,
    *,
    subprocess_above_bytes: int | None,
    before_child: Callable[[], None] | None = None,
) -> Iterator[EncodedPage]:
    """Encoded pages of ``source``, read in a child process when the source allows it and
    is at least ``subprocess_above_bytes`` large (None: always in this process).

    ``before_child`` runs just before the child starts: the caller closes its pooled store
    connections there, so the child inherits no socket of theirs. The child ends with this
    process, even killed.
    """
    if _worth_a_subprocess(source, subprocess_above_bytes):
        yield from _in_subprocess(source, cursor, before_child)
        return
    for page in source.pull(cursor):
        yield encode_page(page)
