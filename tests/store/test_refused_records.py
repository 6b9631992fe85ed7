"""A record the store refuses, though it passed validation, is found by splitting its page
and set aside with the store's reason; the rest of the page and the cursor are stored."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.files import FileSource
from connector.runners.ingest import ingest
from connector.store.cursors import read_cursor
from connector.store.engine import open_store
from connector.store.ledger import Ledger
from connector.store.ledger_rows import EncodedPage, LedgerRow
from connector.store.runs import start_run
from connector.store.schema import events, rejects


def _row(number: int, *, event_id: str | None = None) -> LedgerRow:
    return LedgerRow(
        "fair",
        event_id or f"e{number}",
        "site_visit",
        f"2026-11-02 10:{number % 60:02d}:00.000000",
        f"p{number % 7}@acme.example",
        None,
        f"https://acme.example/p{number}",
        None,
        None,
    )


def _stored(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(sa.select(events.c.source_event_id)).scalars())


def _rejects(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(rejects.c.location, rejects.c.reason, rejects.c.raw))
        return [(row.location, row.reason, row.raw) for row in rows]


@pytest.fixture
def refusing_e13(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store refuses event e13 as PostgreSQL refuses a value it cannot hold."""
    store_events = Ledger._store_events

    def refuse(self: Ledger, connection: sa.Connection, rows: Sequence[LedgerRow], *rest) -> int:  # type: ignore[no-untyped-def]
        if any(row.source_event_id == "e13" for row in rows):
            raise sa.exc.DataError("INSERT ...", {}, ValueError("value too long for the column"))
        return store_events(self, connection, rows, *rest)

    monkeypatch.setattr(Ledger, "_store_events", refuse)


def test_a_page_holding_a_refused_record_is_split_and_the_rest_stored(
    engine: Engine, refusing_e13: None
) -> None:
    ledger = Ledger(engine, run_id=start_run(engine, "ingest"))
    page = EncodedPage([_row(number) for number in range(40)], (), "after-40", 4000)

    result = ledger.write_page(page, cursor_name="fair")

    assert (result.read, result.stored, result.rejected) == (40, 39, 1)
    assert _stored(engine) == sorted(f"e{number}" for number in range(40) if number != 13)
    ((location, reason, raw),) = _rejects(engine)
    assert location == "event id e13"
    assert reason == "the store refused it: value too long for the column"
    assert '"id": "e13"' in raw and "https://acme.example/p13" in raw
    assert read_cursor(engine, "fair") == "after-40"  # the page is done: the source goes on

    # Read again (a rerun): nothing new, the reject not doubled.
    again = ledger.write_page(page, cursor_name="fair")
    assert (again.stored, again.duplicates) == (0, 39)
    assert len(_rejects(engine)) == 1


def test_a_page_whose_every_record_fails_alone_is_not_set_aside(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> int:
        raise sa.exc.DataError("INSERT ...", {}, ValueError("the code under test is wrong"))

    monkeypatch.setattr(Ledger, "_store_events", broken)
    ledger = Ledger(engine, run_id=start_run(engine, "ingest"))
    rows = [_row(n) for n in range(3)]
    with pytest.raises(sa.exc.DataError):
        ledger.write_page(EncodedPage(rows, (), "c", 1), cursor_name="fair")
    assert _stored(engine) == [] and _rejects(engine) == []
    assert read_cursor(engine, "fair") is None


def test_an_error_of_the_code_is_not_taken_for_a_bad_record(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def buggy(self: Ledger, connection: sa.Connection, rows: Sequence[LedgerRow], ids) -> int:  # type: ignore[no-untyped-def]
        if any(row.source_event_id == "e1" for row in rows):
            raise TypeError("a bug in the encoding")
        return 0

    monkeypatch.setattr(Ledger, "_store_events", buggy)
    ledger = Ledger(engine, run_id=start_run(engine, "ingest"))
    with pytest.raises(TypeError):
        ledger.write_page(EncodedPage([_row(n) for n in range(4)], (), "c", 1), cursor_name="fair")
    assert _rejects(engine) == [] and read_cursor(engine, "fair") is None


def test_a_store_failure_that_is_no_records_fault_is_not_split(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def gone(self: Ledger, connection: sa.Connection, rows: Sequence[LedgerRow], *rest) -> int:  # type: ignore[no-untyped-def]
        calls.append(len(rows))
        raise sa.exc.OperationalError("INSERT ...", {}, OSError("server closed the connection"))

    monkeypatch.setattr(Ledger, "_store_events", gone)
    ledger = Ledger(engine, run_id=start_run(engine, "ingest"))
    with pytest.raises(sa.exc.OperationalError):
        ledger.write_page(EncodedPage([_row(n) for n in range(8)], (), "c", 1), cursor_name="fair")
    assert calls == [8]


def test_postgresql_refusing_a_value_is_found_and_set_aside(postgres_url: str) -> None:
    # Past validation (it caps ids at 200 characters) only a bug could send this; the
    # column's own limit is what the store enforces.
    engine = open_store(postgres_url)
    try:
        ledger = Ledger(engine, run_id=start_run(engine, "ingest"))
        rows = [_row(number) for number in range(10)]
        rows[6] = _row(6, event_id="x" * 201)
        result = ledger.write_page(EncodedPage(rows, (), "after-10", 1), cursor_name="fair")
        assert (result.stored, result.rejected) == (9, 1)
        ((location, reason, _raw),) = _rejects(engine)
        assert location == "event id " + "x" * 200
        assert reason == "the store refused it: value too long for type character varying(200)"
        assert read_cursor(engine, "fair") == "after-10"
    finally:
        engine.dispose()


def test_a_refused_record_of_a_file_is_set_aside_with_its_file_and_line(
    engine: Engine, refusing_e13: None, tmp_path: Path
) -> None:
    path = tmp_path / "fair.jsonl"
    lines = [
        f'{{"id":"e{n}","kind":"site_visit","occurred_at":"2026-11-02T10:00:00Z",'
        f'"email":"p{n % 7}@acme.example"}}'
        for n in range(30)
    ]
    lines.insert(5, "not json")  # a reject read from the file goes on as before
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    summary = ingest(engine, FileSource("fair", path), command="ingest", resume=False)

    assert (summary.stored, summary.rejected) == (29, 2)
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(rejects.c.location, rejects.c.line, rejects.c.reason).order_by(rejects.c.line)
        ).all()
    assert [(row.location, row.line) for row in found] == [(str(path), 6), (str(path), 15)]
    assert found[1].reason == "the store refused it: value too long for the column"
