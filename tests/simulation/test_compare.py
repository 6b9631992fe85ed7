"""A worker's comparison crosses into the parent whole, and merges keep the moves' order."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime

from connector.simulation.compare import Comparison
from connector.simulation.replay import Side

FIRST_WEEK = date(2026, 9, 14)


def _round_trip(found: Comparison) -> Comparison:
    # What the worker pool does with a worker's result: our own bytes, never a stranger's.
    return pickle.loads(pickle.dumps(found))  # noqa: S301


def _comparison(contacts: range) -> Comparison:
    found = Comparison(FIRST_WEEK)
    for contact_id in contacts:
        was = Side(10.0, "warm", "lead", ())
        now = Side(10.0 + contact_id, "hot", "mql", (datetime(2026, 9, 15, tzinfo=UTC),))
        found.add(contact_id, f"c{contact_id}@acme.example", was, now)
    found.add(999, None, Side(1.0, "cold", "lead", ()), Side(1.0, "cold", "lead", ()))
    return found.put_in_order()


def test_a_comparison_pickles_and_unpickles_whole() -> None:
    found = _comparison(range(1, 6))
    again = _round_trip(found)
    assert again == found
    assert again.moves == found.moves
    assert _round_trip(Comparison(FIRST_WEEK)).moves == []


def test_merged_comparisons_add_up_and_keep_the_biggest_moves_first() -> None:
    first, second = _comparison(range(1, 4)), _comparison(range(10, 12))
    first.merge(_round_trip(second))
    assert first.contacts == 7
    assert first.changed_any == 5
    assert [move.contact_id for move in first.ordered_moves()] == [11, 10, 3, 2, 1]
    shown = first.as_dict([FIRST_WEEK])
    assert shown["mql_per_week"] == [
        {"week": "2026-W38", "start": "2026-09-14", "before": 0, "after": 5}
    ]
