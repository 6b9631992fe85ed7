"""A new store used by several commands at once: one migrates it, the others wait."""

from __future__ import annotations

import multiprocessing
from typing import Any

from connector.store.engine import create_store_engine, open_store, store_revision

OPENERS = 4


def _open(url: str, start: Any, failures: Any) -> None:
    start.wait(timeout=30)
    try:
        open_store(url).dispose()
    except Exception as error:  # reported to the test, which fails with it
        failures.put(f"{type(error).__name__}: {error}")


def test_commands_opening_a_new_store_at_once_all_succeed(store_url: str) -> None:
    context = multiprocessing.get_context("fork")
    start, failures = context.Barrier(OPENERS), context.Queue()
    openers = [
        context.Process(target=_open, args=(store_url, start, failures)) for _ in range(OPENERS)
    ]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join(timeout=120)
    found = []
    while not failures.empty():
        found.append(failures.get())
    assert found == []
    assert [opener.exitcode for opener in openers] == [0] * OPENERS
    engine = create_store_engine(store_url)
    current, head = store_revision(engine)
    engine.dispose()
    assert current == head
