"""Run an iterator one step ahead in a background thread.

Ingest parses page N+1 while page N is written: the SQLite driver releases the GIL while
it steps through an insert, so parsing and writing overlap on two cores. The queue is
bounded, so memory stays at a few pages whatever the input size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["prefetch"]

T = TypeVar("T")
_DONE = object()


class _Failure(Generic[T]):
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(source: Iterator[T], *, depth: int = 2) -> Iterator[T]:
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            items.put(_Failure[T](error))

    worker = threading.Thread(target=produce, name="leadsync-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=5)
