"""The report's snapshot counts the scored leads by stage and temperature and by score bin,
in the database, leaving anonymous visitors out. On real SQLite and the real PostgreSQL."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.store.schema import contacts
from connector.store.score_snapshot import score_snapshot
from tests.store.scored_rows import NOW, add_scored_contact


@pytest.fixture
def scored(engine: Engine) -> Engine:
    """Eight leads (one known by a CRM id alone), two anonymous visitors (one emptied by
    a join), scores from -7 to 31."""
    with engine.begin() as connection:
        mail = (("email", "x"),)
        add_scored_contact(connection, 1, -7, "cold", "disqualified", email="a@x.test", keys=mail)
        add_scored_contact(connection, 2, -0.5, "cold", "lead", email="b@x.test")
        add_scored_contact(connection, 3, 0, "cold", "lead", email="c@x.test")
        add_scored_contact(connection, 4, 4.99, "cold", "lead", keys=(("hubspot_id", "h4"),))
        add_scored_contact(connection, 5, 10, "warm", "lead", email="e@x.test")
        add_scored_contact(connection, 6, 20, "warm", "mql", email="f@x.test")
        add_scored_contact(connection, 7, 20.5, "hot", "mql", email="g@x.test")
        add_scored_contact(connection, 8, 31, "hot", "customer", email="h@x.test")
        add_scored_contact(connection, 9, 12, "warm", "lead", keys=(("matomo_visitor", "v9"),))
        add_scored_contact(connection, 10, 0, "cold", "lead")
    return engine


class TestScoreSnapshot:
    def test_counts_leads_by_stage_and_temperature(self, scored: Engine) -> None:
        """Every stage and temperature is listed; visitors are not counted."""
        with scored.connect() as connection:
            snapshot = score_snapshot(connection, warm_from=10, hot_above=20, as_of=NOW)
        zero = {"cold": 0, "warm": 0, "hot": 0}
        assert snapshot["stage_temperature"] == {
            "lead": {"cold": 3, "warm": 1, "hot": 0},
            "mql": {"cold": 0, "warm": 1, "hot": 1},
            "sql": zero,
            "customer": {"cold": 0, "warm": 0, "hot": 1},
            "nurturing": zero,
            "disqualified": {"cold": 1, "warm": 0, "hot": 0},
        }
        assert (snapshot["as_of"], snapshot["warm_from"], snapshot["hot_above"]) == (
            "2026-12-07T12:00:00+00:00",
            10,
            20,
        )

    def test_histogram_bins_negative_scores_below_zero_and_fills_gaps(self, scored: Engine) -> None:
        """[from, to) bins of the width; -0.5 is in [-5, 0), not in [0, 5)."""
        with scored.connect() as connection:
            snapshot = score_snapshot(connection, warm_from=10, hot_above=20, as_of=NOW)
        assert snapshot["histogram"] == {
            "width": 5,
            "bins": [
                {"from": -10, "to": -5, "count": 1},
                {"from": -5, "to": 0, "count": 1},
                {"from": 0, "to": 5, "count": 2},
                {"from": 5, "to": 10, "count": 0},
                {"from": 10, "to": 15, "count": 1},
                {"from": 15, "to": 20, "count": 0},
                {"from": 20, "to": 25, "count": 2},
                {"from": 25, "to": 30, "count": 0},
                {"from": 30, "to": 35, "count": 1},
            ],
        }

    def test_histogram_takes_other_widths(self, scored: Engine) -> None:
        """A width of 2.5 puts 4.99 in [2.5, 5) and 31 in [30, 32.5)."""
        with scored.connect() as connection:
            bins = score_snapshot(connection, warm_from=10, hot_above=20, width=2.5, as_of=NOW)[
                "histogram"
            ]["bins"]  # type: ignore[index]
        assert [(b["from"], b["count"]) for b in bins if b["count"]] == [
            (-7.5, 1),
            (-2.5, 1),
            (0, 1),
            (2.5, 1),
            (10, 1),
            (20, 2),
            (30, 1),
        ]

    def test_empty_store_has_no_bins(self, engine: Engine) -> None:
        """No score, no bin, and every count 0."""
        with engine.connect() as connection:
            snapshot = score_snapshot(connection, warm_from=10, hot_above=20, as_of=NOW)
        assert snapshot["histogram"] == {"width": 5, "bins": []}
        assert {n for row in snapshot["stage_temperature"].values() for n in row.values()} == {0}  # type: ignore[attr-defined]

    def test_width_must_be_positive(self, engine: Engine) -> None:
        with engine.connect() as connection, pytest.raises(ValueError, match="above 0, not 0"):
            score_snapshot(connection, warm_from=10, hot_above=20, width=0, as_of=NOW)

    def test_a_far_outlier_lists_only_bins_with_scores(self, engine: Engine) -> None:
        """A score of 100,000 does not make 20,000 empty bins."""
        with engine.begin() as connection:
            add_scored_contact(connection, 1, 3, "cold", "lead", email="a@x.test")
            add_scored_contact(connection, 2, 100_000, "hot", "mql", email="b@x.test")
        with engine.connect() as connection:
            snapshot = score_snapshot(connection, warm_from=10, hot_above=20, as_of=NOW)
        assert snapshot["histogram"]["bins"] == [  # type: ignore[index]
            {"from": 0, "to": 5, "count": 1},
            {"from": 100_000, "to": 100_005, "count": 1},
        ]


def _insert_scored_leads(connection: sa.Connection, rows: int) -> None:
    """``rows`` leads scored -5 to 34 in turn, generated by the database itself."""
    if connection.dialect.name == "sqlite":
        series = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows) "
        source = "n"
    else:
        series, source = "", "generate_series(1, :rows) AS n(i)"
    now = sa.bindparam("now", NOW, type_=contacts.c.created_at.type)
    connection.execute(
        sa.text(
            f"{series}INSERT INTO contacts (id, email, created_at) "
            f"SELECT i, 'c' || i || '@x.test', :now FROM {source}"
        ).bindparams(now, rows=rows)
    )
    connection.execute(
        sa.text(
            f"{series}INSERT INTO scores (contact_id, score, behaviour_score, fit_score, "
            "temperature, stage, reasons, rules_hash, scored_seq, scored_at) "
            "SELECT i, CAST(i % 40 - 5 AS DOUBLE PRECISION), 0, 0, 'cold', 'lead', '', 'h', 0, "
            f":now FROM {source}"
        ).bindparams(now, rows=rows)
    )


def test_snapshot_of_200k_contacts_is_counted_by_the_database(engine: Engine) -> None:
    """200,000 scored contacts take well under two seconds: nothing is read row by row."""
    rows = 200_000
    with engine.begin() as connection:
        _insert_scored_leads(connection, rows)
    started = time.perf_counter()
    with engine.connect() as connection:
        snapshot = score_snapshot(connection, warm_from=10, hot_above=20, as_of=NOW)
    elapsed_s = time.perf_counter() - started
    bins = snapshot["histogram"]["bins"]  # type: ignore[index]
    assert [b["count"] for b in bins] == [25_000] * 8
    assert snapshot["stage_temperature"]["lead"]["cold"] == rows  # type: ignore[index]
    assert elapsed_s < 2, f"the snapshot of {rows} contacts took {elapsed_s:.2f} s"
