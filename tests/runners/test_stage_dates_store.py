"""Stage dates in event time through the real store (SQLite and PostgreSQL): events of
September ingested in November make MQLs of September, recorded in November; a full
rescore of the same events into a new store gives the same dates; explain shows both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.files import FileSource
from connector.config import Settings, scoring_rules
from connector.runners.explain import explain_contact
from connector.runners.ingest import ingest
from connector.runners.kpi import KpiAsked, kpi_of
from connector.runners.rescore import rescore
from connector.store.schema import stage_history

RULES = scoring_rules(Settings())
SEPT = datetime(2026, 9, 1, 9, tzinfo=UTC)
NOV = datetime(2026, 11, 20, 8, tzinfo=UTC)


def _september(path: Path) -> None:
    lines = [
        # Ana: a visit a day from 1 September; the 21st visit (21 September) makes her hot.
        *(
            {
                "id": f"ana-{n}",
                "kind": "site_visit",
                "occurred_at": (SEPT + timedelta(days=n)).isoformat(),
                "email": "ana@acme.example",
            }
            for n in range(25)
        ),
        # Ben: a quote request on 9 September.
        {
            "id": "ben-q",
            "kind": "quote_request",
            "occurred_at": (SEPT + timedelta(days=8)).isoformat(),
            "email": "ben@acme.example",
        },
    ]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))


def _history(engine: Engine) -> list[tuple[str, datetime, datetime]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT c.email, h.at, h.recorded_at FROM stage_history h "
                "JOIN contacts c ON c.id = h.contact_id ORDER BY c.email"
            )
        ).all()
    return [(row[0], _aware(row[1]), _aware(row[2])) for row in rows]


def _aware(value: datetime | str) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def test_september_events_ingested_in_november_make_september_mqls(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "web.jsonl"
    _september(path)
    ingest(engine, FileSource("web", path), command="ingest", resume=False)
    rescore(engine, RULES, now=NOV)

    assert _history(engine) == [
        ("ana@acme.example", SEPT + timedelta(days=20), NOV),
        ("ben@acme.example", SEPT + timedelta(days=8), NOV),
    ]

    with engine.connect() as connection:
        explained = explain_contact(connection, "ana@acme.example", RULES, now=NOV)
    (step,) = explained.as_dict()["stage_history"]  # type: ignore[misc]
    assert step["at"] == SEPT + timedelta(days=20)
    assert step["recorded_at"] == NOV

    # kpi --by month puts them in September, where they happened.
    with engine.connect() as connection:
        report = kpi_of(connection, Settings(), KpiAsked(by="month"), today=NOV.date())
    mqls = {row["group"]: row["mqls"] for row in report["by"]}
    assert mqls == {"2026-09": 2, "2026-10": 0, "2026-11": 0}
    assert report["mqls"] == 2

    # A full rescore later records nothing new and keeps the dates.
    rescore(engine, RULES, full=True, now=NOV + timedelta(days=5))
    assert [at for _, at, _ in _history(engine)] == [
        SEPT + timedelta(days=20),
        SEPT + timedelta(days=8),
    ]


def test_a_rescore_of_the_same_events_in_a_new_store_gives_the_same_dates(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "web.jsonl"
    _september(path)
    ingest(engine, FileSource("web", path), command="ingest", resume=False)
    rescore(engine, RULES, now=NOV)
    first = [(email, at) for email, at, _ in _history(engine)]

    with engine.begin() as connection:
        connection.execute(stage_history.delete())
        connection.execute(sa.text("DELETE FROM scores"))
        connection.execute(sa.text("DELETE FROM store_meta"))
    rescore(engine, RULES, full=True, now=NOV + timedelta(days=9))
    again = _history(engine)
    assert [(email, at) for email, at, _ in again] == first
    assert {recorded for _, _, recorded in again} == {NOV + timedelta(days=9)}
