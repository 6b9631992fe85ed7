"""Pause Python's cyclic garbage collector during bulk work.

Ingest and scoring allocate millions of short-lived tuples and dicts that reference
counting frees on its own; the cyclic collector, triggered by the allocation count alone,
keeps rescanning every live object meanwhile. Measured on a 20,000-row page: unpickling
cost 13 µs a row with the collector on, 2.2 µs with it paused. Cycles made meanwhile are
collected when the pause ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused_gc"]


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            gc.collect()
