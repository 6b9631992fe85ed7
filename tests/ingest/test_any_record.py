"""Any JSON in any field of a canonical record: it is stored or set aside, never an
exception, and SQLite and PostgreSQL give the same verdict and store the same values.
Scoring what was stored never fails either."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from adapters.files import FileSource
from connector.config import Settings, scoring_rules
from connector.model import EventKind
from connector.runners.ingest import ingest
from connector.runners.rescore import rescore
from connector.store.engine import open_store
from connector.store.schema import contacts, events, rejects, runs

RULES = scoring_rules(Settings())

# Characters the stores treat apart (NUL, combining marks, e-mail punctuation) come up
# often; any other character (no lone surrogates: JSON text cannot carry them) now and then.
_special = st.sampled_from(list("\x00aZ9.@-_ /\u00e9\u0301"))
_characters = st.one_of(_special, _special, _special, st.characters(exclude_categories=("Cs",)))


def texts(*, min_size: int = 0, max_size: int) -> st.SearchStrategy[str]:
    return st.text(_characters, min_size=min_size, max_size=max_size)


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts(max_size=12)
)
any_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(texts(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)


def _nested(depth: int) -> object:
    value: object = "bottom"
    for _ in range(depth):
        value = {"a": value}
    return value


def _time_text(moment: datetime, offset_minutes: int, style: int) -> str:
    zone = timezone(timedelta(minutes=offset_minutes))
    text = moment.replace(tzinfo=zone).isoformat()
    return text.replace("+00:00", "Z") if style == 0 else text


times = st.builds(
    _time_text,
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.integers(min_value=-1439, max_value=1439),
    st.integers(min_value=0, max_value=1),
) | st.sampled_from(
    ["2026-11-02T10:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00", "2026-11-02"]
)
plausible = {
    "source": texts(max_size=110),
    "id": texts(min_size=1, max_size=210) | st.integers(),
    "kind": st.sampled_from([kind.value for kind in EventKind] + ["nope", ""]),
    "occurred_at": times,
    "email": st.emails() | st.sampled_from(["José@Acme.example", "a\x00b@acme.example"]),
    "ids": st.dictionaries(
        st.sampled_from(["hubspot", "matomo_visitor", "Bad Space", "email"]),
        texts(max_size=260) | st.integers(),
        max_size=2,
    ),
    "url": texts(max_size=40) | st.just("https://acme.example/pricing"),
    "attributes": st.dictionaries(texts(max_size=6), any_json, max_size=3)
    | st.integers(min_value=30, max_value=300).map(lambda depth: {"deep": _nested(depth)}),
    "profile": st.dictionaries(st.sampled_from(["job_title", "company_size", "x"]), any_json),
}
# Mostly good records with one field given anything: a record wrong in every field
# says little about each check.
good = st.fixed_dictionaries(
    {
        "kind": st.sampled_from([kind.value for kind in EventKind]),
        "occurred_at": st.datetimes(
            min_value=datetime(1971, 1, 1), max_value=datetime(2199, 1, 1), timezones=st.just(UTC)
        ).map(datetime.isoformat),
        "email": st.sampled_from(["ana@acme.example", "jos\u00e9@acme.example"]),
    },
    optional={
        "id": texts(min_size=1, max_size=40),
        "url": texts(max_size=40),
        "attributes": st.dictionaries(texts(max_size=6), any_json, max_size=3),
        "source": texts(min_size=1, max_size=20),
        "ids": st.dictionaries(st.just("hubspot"), texts(min_size=1, max_size=20), max_size=1),
    },
)


def _with(record: dict[str, object], field: str, value: object) -> dict[str, object]:
    return {**record, field: value}


one_field_off = st.builds(
    _with,
    good,
    st.sampled_from(sorted(plausible)),
    st.one_of(*plausible.values()) | any_json,
)
anything = st.fixed_dictionaries(
    {}, optional={name: strategy | any_json for name, strategy in plausible.items()}
) | st.dictionaries(texts(max_size=8), any_json, max_size=3)  # unknown fields too
records = good | one_field_off | one_field_off | anything

_runs = itertools.count()


def _verdicts(engine: Engine, run_source: str) -> dict[str, object]:
    """What one ingest left: each event's values (with its contact's e-mail) and each
    reject's line and reason."""
    with engine.connect() as connection:
        run_id = connection.execute(
            sa.select(sa.func.max(runs.c.id)).where(runs.c.command == "ingest")
        ).scalar_one()
        stored = connection.execute(
            sa.select(
                events.c.source,
                events.c.source_event_id,
                events.c.kind,
                events.c.occurred_at,
                events.c.url,
                events.c.attributes,
                contacts.c.email,
            )
            .join(contacts, contacts.c.id == events.c.contact_id)
            .where(events.c.run_id == run_id)
        ).all()
        set_aside = connection.execute(
            sa.select(rejects.c.line, rejects.c.reason).where(rejects.c.run_id == run_id)
        ).all()
    return {
        "events": sorted(tuple(map(repr, row)) for row in stored),
        "rejects": sorted((row.line, row.reason) for row in set_aside),
    }


@pytest.fixture
def both_stores(sqlite_url: str, postgres_url: str) -> list[Engine]:
    engines = [open_store(sqlite_url), open_store(postgres_url)]
    yield engines  # type: ignore[misc]
    for engine in engines:
        engine.dispose()


@settings(
    max_examples=60,
    deadline=None,
    # Each example ingests under its own source name; the stores only grow.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(records, min_size=1, max_size=12))
def test_any_record_is_stored_or_set_aside_alike_on_both_stores(
    both_stores: list[Engine], tmp_path: Path, batch: list[dict[str, object]]
) -> None:
    name = f"any{next(_runs)}"
    path = tmp_path / f"{name}.jsonl"
    # The standard library writes what orjson would refuse to (integers past 64 bits).
    path.write_text("".join(json.dumps(record) + "\n" for record in batch), encoding="utf-8")
    outcomes = []
    for engine in both_stores:
        summary = ingest(engine, FileSource(name, path), command="ingest", resume=False)
        assert summary.read == len(batch)
        assert summary.stored + summary.duplicates + summary.rejected == len(batch)
        rescore(engine, RULES, now=datetime(2026, 12, 1, tzinfo=UTC))
        outcomes.append(
            (summary.stored, summary.duplicates, summary.rejected, _verdicts(engine, name))
        )
    on_sqlite, on_postgresql = outcomes
    assert on_sqlite == on_postgresql
