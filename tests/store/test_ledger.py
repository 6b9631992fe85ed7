"""The ledger on a real SQLite file and the real PostgreSQL: exactly once, crash-safe."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from adapters.files import FileSource
from connector.config import Settings, scoring_rules
from connector.ports import Page
from connector.runners.explain import explain_contact
from connector.runners.ingest import ingest
from connector.store.cursors import read_cursor
from connector.store.engine import open_store, store_revision
from connector.store.schema import contacts, events, identities, metadata


def _write_events(path: Path, count: int, *, people: int = 7) -> list[dict[str, object]]:
    records: list[dict[str, object]] = [
        {
            "id": f"e{number}",
            "kind": "site_visit",
            "occurred_at": f"2026-11-02T10:{number % 60:02d}:00Z",
            "email": f"Person{number % people}@Example.com ",
        }
        for number in range(count)
    ]
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return records


def _stored_ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(sa.select(events.c.source_event_id)).scalars())


class _CrashingSource:
    """A file source that dies after ``pages`` pages, as a kill -9 mid-file would."""

    def __init__(self, inner: FileSource, pages: int) -> None:
        self.name = inner.name
        self._inner = inner
        self._pages = pages

    def pull(self, cursor: str | None) -> Iterator[Page]:
        for number, page in enumerate(self._inner.pull(cursor)):
            if number == self._pages:
                raise RuntimeError("simulated crash")
            yield page


def test_migrations_create_exactly_the_schema_the_code_uses(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    current, head = store_revision(engine)
    assert current == head


def test_migrations_apply_once_and_a_second_open_changes_nothing(store_url: str) -> None:
    first = open_store(store_url)
    second = open_store(store_url)
    assert store_revision(second)[0] == store_revision(first)[1]
    first.dispose()
    second.dispose()


@pytest.mark.parametrize("resume", [True, False], ids=["with-cursor", "without-cursor"])
def test_crash_part_way_then_rerun_leaves_every_event_exactly_once(
    engine: Engine, tmp_path: Path, resume: bool
) -> None:
    path = tmp_path / "events.jsonl"
    records = _write_events(path, 23)
    source = FileSource("crashy", path, page_size=5)

    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest(engine, _CrashingSource(source, pages=2), command="pull", resume=resume)
    assert _stored_ids(engine) == sorted(f"e{n}" for n in range(10))
    if resume:
        assert read_cursor(engine, "crashy") is not None

    summary = ingest(engine, source, command="pull", resume=resume)

    assert _stored_ids(engine) == sorted(str(record["id"]) for record in records)
    assert summary.stored == 13
    # With the cursor, the rerun starts after the last committed page.
    assert summary.duplicates == (0 if resume else 10)


def test_ingesting_twice_stores_nothing_new(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    _write_events(path, 40)
    first = ingest(engine, FileSource("s", path), command="ingest", resume=False)
    second = ingest(engine, FileSource("s", path), command="ingest", resume=False)
    assert (first.stored, first.duplicates) == (40, 0)
    assert (second.stored, second.duplicates) == (0, 40)
    assert len(_stored_ids(engine)) == 40


def test_one_contact_per_normalised_email_and_ids_are_linked(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        {
            "id": "1",
            "kind": "site_visit",
            "occurred_at": "2026-11-02T10:00:00Z",
            "email": "  Alice@ACME.example ",
        },
        {
            "id": "2",
            "kind": "email_click",
            "occurred_at": "2026-11-02T11:00:00Z",
            "email": "alice@acme.example",
            "ids": {"mailchimp": "sub-9"},
        },
        {
            "id": "3",
            "kind": "page_view",
            "occurred_at": "2026-11-02T12:00:00Z",
            "ids": {"mailchimp": "sub-9", "matomo_visitor": "v-1"},
        },
        {
            "id": "4",
            "kind": "page_view",
            "occurred_at": "2026-11-02T12:00:00Z",
            "ids": {"matomo_visitor": "v-2"},
        },
    ]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    summary = ingest(engine, FileSource("web", path), command="ingest", resume=False)
    assert summary.contacts_created == 2
    with engine.connect() as connection:
        links = dict(
            connection.execute(
                sa.select(
                    identities.c.namespace + ":" + identities.c.value, identities.c.contact_id
                )
            ).all()
        )
        emails = list(connection.execute(sa.select(contacts.c.email)).scalars())
        per_event = dict(
            connection.execute(sa.select(events.c.source_event_id, events.c.contact_id)).all()
        )
    alice = links["email:alice@acme.example"]
    assert links["mailchimp:sub-9"] == alice
    assert links["matomo_visitor:v-1"] == alice
    assert links["matomo_visitor:v-2"] != alice
    assert per_event == {"1": alice, "2": alice, "3": alice, "4": links["matomo_visitor:v-2"]}
    assert sorted(email or "" for email in emails) == ["", "alice@acme.example"]


def test_the_composed_and_decomposed_spellings_of_an_email_are_one_contact(
    engine: Engine, tmp_path: Path
) -> None:
    """An e-mail is compared in Unicode NFC: "é" typed as one character or as "e" and a
    combining accent is the same address, so the same person."""
    composed = "jos\u00e9@acme.example"
    decomposed = "jose\u0301@acme.example"
    assert composed != decomposed
    path = tmp_path / "events.jsonl"
    lines = [
        {"id": "1", "kind": "site_visit", "occurred_at": "2026-11-02T10:00:00Z", "email": composed},
        {
            "id": "2",
            "kind": "site_visit",
            "occurred_at": "2026-11-02T11:00:00Z",
            "email": decomposed.upper(),
        },
    ]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    summary = ingest(engine, FileSource("web", path), command="ingest", resume=False)
    assert (summary.stored, summary.contacts_created) == (2, 1)
    with engine.connect() as connection:
        emails = list(connection.execute(sa.select(contacts.c.email)).scalars())
        links = connection.execute(sa.select(identities.c.namespace, identities.c.value)).all()
        per_event = connection.execute(
            sa.select(events.c.source_event_id, events.c.contact_id).order_by(
                events.c.source_event_id
            )
        ).all()
        found = explain_contact(
            connection, decomposed, scoring_rules(Settings()), now=datetime.now(UTC)
        )
    assert emails == [composed]
    assert [tuple(link) for link in links] == [("email", composed)]
    assert per_event[0].contact_id == per_event[1].contact_id
    assert found.contact_id == per_event[0].contact_id


def test_profile_newer_values_win_and_older_ones_only_fill_gaps(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        {
            "id": "new",
            "kind": "form_submit",
            "occurred_at": "2026-11-05T10:00:00Z",
            "email": "bob@acme.example",
            "profile": {"job_title": "CTO"},
        },
        {
            "id": "old",
            "kind": "form_submit",
            "occurred_at": "2026-10-01T10:00:00Z",
            "email": "bob@acme.example",
            "profile": {"job_title": "Engineer", "country": "FR"},
        },
    ]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    ingest(engine, FileSource("forms", path), command="ingest", resume=False)
    with engine.connect() as connection:
        profile = connection.execute(sa.select(contacts.c.profile)).scalar_one()
    assert profile == {"job_title": "CTO", "country": "FR"}
