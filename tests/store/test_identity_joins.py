"""An anonymous visitor's events count for the contact a later event ties its key to;
the join is explained and undone; two known contacts are never merged by ingest. On real
SQLite and the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.files import FileSource
from connector.config import Settings, scoring_rules
from connector.errors import ContactNotFoundError
from connector.runners.explain import explain_contact
from connector.runners.ingest import ingest
from connector.runners.rescore import rescore
from connector.store.joins import unlink_key
from connector.store.schema import contacts, events, identity_joins, scores

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
RULES = scoring_rules(Settings())


def _visit(number: int, **extra: object) -> dict[str, object]:
    return {
        "id": f"pv-{number}",
        "kind": "page_view",
        "occurred_at": f"2026-12-0{number}T10:00:00Z",
        "url": "https://acme.example/pricing",
        **extra,
    }


def _ingest(engine: Engine, tmp_path: Path, name: str, records: list[dict[str, object]]) -> None:
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    ingest(engine, FileSource("web", path), command="ingest", resume=False)


def _score_of(engine: Engine, email: str) -> float:
    with engine.connect() as connection:
        return float(
            connection.execute(
                sa.select(scores.c.score)
                .select_from(scores.join(contacts, contacts.c.id == scores.c.contact_id))
                .where(contacts.c.email == email)
            ).scalar_one()
        )


@pytest.fixture
def visited(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """Three pricing-page views of an anonymous visitor, scored as such."""
    visitor = {"ids": {"matomo_visitor": "v-1"}}
    _ingest(engine, tmp_path, "anonymous", [_visit(n, **visitor) for n in (1, 2, 3)])
    rescore(engine, RULES, now=NOW)
    yield engine


def _form(**extra: object) -> dict[str, object]:
    return {
        "id": "form-1",
        "kind": "form_submit",
        "occurred_at": "2026-12-05T10:00:00Z",
        "email": "ana@acme.example",
        **extra,
    }


def test_a_form_with_the_visitor_key_brings_the_earlier_visits_to_the_contact(
    visited: Engine, tmp_path: Path
) -> None:
    engine = visited
    _ingest(engine, tmp_path, "form", [_form(ids={"matomo_visitor": "v-1"})])
    rescore(engine, RULES, now=NOW)

    # form 5 + three pricing pages at 3 each (the built-in rules).
    assert _score_of(engine, "ana@acme.example") == 5 + 3 * 3
    with engine.connect() as connection:
        explanation = explain_contact(connection, "ana@acme.example", RULES, now=NOW)
        visitor_score = connection.execute(
            sa.select(scores.c.score)
            .select_from(scores.join(contacts, contacts.c.id == scores.c.contact_id))
            .where(contacts.c.email.is_(None))
        ).scalar_one()
    assert visitor_score == 0  # the visitor's events count once, for the contact
    (joined,) = explanation.joined
    assert joined.key == "matomo_visitor:v-1"
    assert (joined.source, joined.source_event_id, joined.events) == ("web", "form-1", 3)
    assert joined.joined_at.tzinfo is not None and joined.unlinked_at is None
    pricing = [line for line in explanation.outcome.score.lines if line.rule == "pricing_page"]
    assert len(pricing) == 3 and sum(line.points for line in pricing) == 9
    assert explanation.as_dict()["joined_visitors"][0]["key"] == "matomo_visitor:v-1"


def test_a_visit_by_the_visitor_key_alone_after_the_join_counts_for_the_contact(
    visited: Engine, tmp_path: Path
) -> None:
    engine = visited
    _ingest(engine, tmp_path, "form", [_form(ids={"matomo_visitor": "v-1"})])
    _ingest(engine, tmp_path, "later", [_visit(6, ids={"matomo_visitor": "v-1"})])
    rescore(engine, RULES, now=NOW)
    assert _score_of(engine, "ana@acme.example") == 5 + 4 * 3

    # Undone: all four visits (the one after the join too) go back to the visitor.
    undone = unlink_key(engine, "matomo_visitor", "v-1", now=NOW)
    assert (undone.keys, undone.events) == (1, 4)
    rescore(engine, RULES, now=NOW)
    assert _score_of(engine, "ana@acme.example") == 5
    with engine.connect() as connection:
        explanation = explain_contact(connection, "ana@acme.example", RULES, now=NOW)
        unlinked = connection.execute(sa.select(identity_joins.c.unlinked_at)).scalar_one()
        visitor_events = connection.execute(
            sa.select(sa.func.count())
            .select_from(events)
            .where(events.c.contact_id == undone.visitor_id)
        ).scalar_one()
    assert unlinked is not None and visitor_events == 4
    (join,) = explanation.joined
    assert join.unlinked_at is not None and join.events == 0

    # The same tie read again (a rerun, a re-read window) does not join them again.
    _ingest(engine, tmp_path, "again", [_form(id="form-2", ids={"matomo_visitor": "v-1"})])
    rescore(engine, RULES, now=NOW)
    assert _score_of(engine, "ana@acme.example") == 5 + 5
    with engine.connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(identity_joins)).scalar_one()
            == 1
        )


def test_a_visitor_tied_in_the_same_page_as_its_visits_is_joined(
    engine: Engine, tmp_path: Path
) -> None:
    visitor = {"ids": {"matomo_visitor": "v-9"}}
    records = [_visit(1, **visitor), _visit(2, **visitor), _form(ids={"matomo_visitor": "v-9"})]
    _ingest(engine, tmp_path, "one-page", records)
    rescore(engine, RULES, now=NOW)
    assert _score_of(engine, "ana@acme.example") == 5 + 2 * 3
    with engine.connect() as connection:
        explanation = explain_contact(connection, "ana@acme.example", RULES, now=NOW)
    assert [join.events for join in explanation.joined] == [2]


def test_two_known_contacts_are_never_merged_by_ingest(engine: Engine, tmp_path: Path) -> None:
    _ingest(
        engine,
        tmp_path,
        "known",
        [
            _form(id="f-ana", email="ana@acme.example", ids={"matomo_visitor": "shared"}),
            _form(id="f-bob", email="bob@acme.example"),
        ],
    )
    # Bob's form carries Ana's visitor key (a shared computer): Bob stays Bob.
    _ingest(
        engine,
        tmp_path,
        "tie",
        [_form(id="f-bob-2", email="bob@acme.example", ids={"matomo_visitor": "shared"})],
    )
    rescore(engine, RULES, now=NOW)
    assert _score_of(engine, "ana@acme.example") == 5
    assert _score_of(engine, "bob@acme.example") == 10
    with engine.connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(identity_joins)).scalar_one()
            == 0
        )


def test_a_visitor_tied_to_a_contact_is_not_joined_again_to_another(
    visited: Engine, tmp_path: Path
) -> None:
    engine = visited
    _ingest(engine, tmp_path, "ana", [_form(ids={"matomo_visitor": "v-1"})])
    _ingest(
        engine,
        tmp_path,
        "bob",
        [_form(id="f-bob", email="bob@acme.example", ids={"matomo_visitor": "v-1"})],
    )
    rescore(engine, RULES, now=NOW)
    assert _score_of(engine, "ana@acme.example") == 5 + 9
    assert _score_of(engine, "bob@acme.example") == 5


def test_unlinking_a_key_that_was_never_joined_says_so(engine: Engine, tmp_path: Path) -> None:
    _ingest(engine, tmp_path, "own", [_form(ids={"matomo_visitor": "mine"})])
    with pytest.raises(ContactNotFoundError, match="never joined"):
        unlink_key(engine, "matomo_visitor", "mine", now=NOW)
    with pytest.raises(ContactNotFoundError, match="no identity key"):
        unlink_key(engine, "matomo_visitor", "nobody", now=NOW)
