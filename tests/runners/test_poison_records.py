"""No record can stop a file: each poison record is set aside with its line and reason, and
the same on SQLite and PostgreSQL, the rest stored."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.files import FileSource
from connector.runners.ingest import ingest
from connector.store.schema import contacts, events, rejects

LINES = 2_000
POISON_AT = LINES // 2 + 1


def _good(number: int) -> bytes:
    return orjson.dumps(
        {
            "id": f"e{number}",
            "kind": "site_visit",
            "occurred_at": "2026-11-02T10:00:00Z",
            "email": f"p{number % 50}@acme.example",
            "url": "https://acme.example/pricing",
        }
    )


def _record(**fields: object) -> bytes:
    base: dict[str, object] = {
        "id": "poison",
        "kind": "site_visit",
        "occurred_at": "2026-11-02T10:00:00Z",
        "email": "poison@acme.example",
    }
    return orjson.dumps({**base, **fields})


def _nested(depth: int) -> object:
    value: object = "bottom"
    for _ in range(depth):
        value = {"a": value}
    return value


POISON = {
    "offset-past-the-calendar-end": (
        _record(occurred_at="9999-12-31T23:59:59-01:00"),
        "occurred_at '9999-12-31T23:59:59-01:00' is outside the years 1970 to 2199",
    ),
    "offset-before-the-calendar-start": (
        _record(occurred_at="0001-01-01T00:00:00+01:00"),
        "occurred_at '0001-01-01T00:00:00+01:00' is outside the years 1970 to 2199",
    ),
    "attributes-300-deep": (
        b'{"id":"poison","kind":"site_visit","occurred_at":"2026-11-02T10:00:00Z",'
        b'"email":"poison@acme.example","attributes":' + b'{"a":' * 300 + b"1" + b"}" * 300 + b"}",
        "attributes nest more than 32 levels deep",
    ),
    "nul-in-url": (_record(url="https://acme.example/\x00"), "url holds a NUL character"),
    "nul-in-id": (_record(id="poi\x00son"), "id holds a NUL character"),
    "nul-in-email": (_record(email="poison\x00@acme.example"), "email holds a NUL character"),
    "source-over-100": (_record(source="s" * 101), "source is longer than 100 characters"),
    "ids-value-over-254": (
        _record(ids={"crm": "k" * 255}),
        "ids.crm is longer than 254 characters or holds a NUL",
    ),
    "nul-in-the-raw-text-of-a-bad-line": (b'{"kind": "site_visit", \x00 oops', "broken JSON"),
    # orjson reads 1,000 levels; the exact second read of a long number would not.
    "a-long-number-1000-deep": (
        b'{"id":"poison","kind":"site_visit","occurred_at":"2026-11-02T10:00:00Z",'
        b'"email":"poison@acme.example","attributes":{"a":'
        + b"[" * 1000
        + b"1234567890123456789012"
        + b"]" * 1000
        + b"}}",
        "broken JSON: nested too deep (with a long number inside)",
    ),
}


@pytest.mark.parametrize("poison", list(POISON), ids=list(POISON))
def test_a_poison_record_is_set_aside_and_the_rest_of_the_file_stored(
    engine: Engine, tmp_path: Path, poison: str
) -> None:
    line, reason = POISON[poison]
    path = tmp_path / "fair.jsonl"
    path.write_bytes(
        b"\n".join(line if number == POISON_AT else _good(number) for number in range(1, LINES + 1))
        + b"\n"
    )
    summary = ingest(engine, FileSource("fair", path), command="ingest", resume=False)
    assert (summary.stored, summary.rejected) == (LINES - 1, 1)
    with engine.connect() as connection:
        stored = connection.execute(sa.select(sa.func.count()).select_from(events)).scalar()
        (set_aside,) = connection.execute(
            sa.select(rejects.c.line, rejects.c.reason, rejects.c.raw)
        ).all()
    assert stored == LINES - 1
    assert set_aside.line == POISON_AT
    assert reason in set_aside.reason
    if b"\x00" in line:
        # The raw text is kept, its NUL written out (PostgreSQL takes no NUL in text).
        assert set_aside.raw == line.decode().replace("\x00", "\\x00")


def test_a_nul_inside_an_attribute_value_is_stored_the_same_on_both_stores(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "fair.jsonl"
    path.write_bytes(_record(attributes={"note": "a\x00b", "deep": _nested(30)}) + b"\n")
    summary = ingest(engine, FileSource("fair", path), command="ingest", resume=False)
    assert (summary.stored, summary.rejected) == (1, 0)
    with engine.connect() as connection:
        (attributes,) = (connection.execute(sa.select(events.c.attributes)).scalar_one_or_none(),)
    assert attributes == {"note": "a\x00b", "deep": _nested(30)}


BEYOND_64_BITS = 123456789012345678901234567890


def test_an_integer_beyond_64_bits_in_attributes_comes_back_exactly_on_both_stores(
    engine: Engine, tmp_path: Path
) -> None:
    """JSON numbers have no size limit; orjson reads integers past 64 bits as floats."""
    path = tmp_path / "big.jsonl"
    path.write_bytes(
        b'{"id":"big","kind":"site_visit","occurred_at":"2026-11-02T10:00:00Z",'
        b'"email":"big@acme.example","attributes":{"n":123456789012345678901234567890,'
        b'"low":-123456789012345678901234567890,"ratio":0.5,"nested":[18446744073709551616]},'
        b'"profile":{"revenue":123456789012345678901234567890}}\n'
        # No id: its derived id is computed from attributes holding the same integer.
        b'{"kind":"site_visit","occurred_at":"2026-11-02T11:00:00Z",'
        b'"email":"big@acme.example","attributes":{"n":123456789012345678901234567890}}\n'
    )
    summary = ingest(engine, FileSource("big", path), command="ingest", resume=False)
    assert (summary.stored, summary.rejected) == (2, 0)
    again = ingest(engine, FileSource("big", path), command="ingest", resume=False)
    assert (again.stored, again.duplicates) == (0, 2)
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(events.c.attributes).order_by(events.c.occurred_at)
        ).scalars()
        attributes = list(stored)
        profile = connection.execute(sa.select(contacts.c.profile)).scalar_one()
    assert attributes == [
        {
            "n": BEYOND_64_BITS,
            "low": -BEYOND_64_BITS,
            "ratio": 0.5,
            "nested": [18446744073709551616],
        },
        {"n": BEYOND_64_BITS},
    ]
    assert [type(value["n"]) for value in attributes] == [int, int]
    assert profile == {"revenue": BEYOND_64_BITS}
