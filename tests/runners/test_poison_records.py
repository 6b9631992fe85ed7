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
from connector.store.schema import events, rejects

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
