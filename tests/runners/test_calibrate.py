"""`calibrate` over the real store (SQLite and PostgreSQL): contacts ingested as events,
customer moves in the stage history, every figure computed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

from adapters.files import FileSource
from connector.calibration import CalibrationOptions, StoredCalibration, Targets
from connector.config import Settings, scoring_rules
from connector.model import SalesSignals, Temperature
from connector.ports import ProfileSnapshot, SnapshotPage
from connector.runners.calibrate import CALIBRATION_KEY, calibrate_store
from connector.runners.crm_read import read_crm
from connector.runners.ingest import ingest
from connector.runners.rescore import rescore
from connector.store.meta import read_meta, write_meta
from connector.store.schema import identities, stage_history

# The built-in rules: a site visit earns 1 point, no cap, no decay; bands 10 and 20.
RULES = scoring_rules(Settings())
SEPT = datetime(2026, 9, 1, tzinfo=UTC)
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
OPTIONS = CalibrationOptions(
    horizon_days=30, bucket=5, min_outcomes=3, targets=Targets(warm=0.25, hot=0.5)
)


def _visits(who: dict[str, object], count: int, start: datetime) -> list[dict[str, object]]:
    key = next(iter(who.values()))
    return [
        {
            "id": f"{key}-{start:%m%d}-{n}",
            "kind": "site_visit",
            "occurred_at": (start + timedelta(minutes=n)).isoformat(),
            **who,
        }
        for n in range(count)
    ]


def _email(name: str) -> dict[str, object]:
    return {"email": f"{name}@acme.example"}


# Peak score (visits), when, and when the contact became a customer (None: never).
PEOPLE: dict[str, tuple[dict[str, object], int, datetime, datetime | None]] = {
    # Hot (21 > 20), entered at the 21st visit on 1 September: the horizon ends 1 October.
    "h1": (_email("h1"), 21, SEPT, datetime(2026, 9, 10, tzinfo=UTC)),
    "h2": (_email("h2"), 21, SEPT, datetime(2026, 9, 20, tzinfo=UTC)),
    "h3": (_email("h3"), 21, SEPT, datetime(2026, 11, 15, tzinfo=UTC)),  # after the horizon
    "h4": (_email("h4"), 21, SEPT, None),
    # Hot since 20 November: its horizon runs until 20 December, so no outcome yet.
    "h5": (_email("h5"), 21, datetime(2026, 11, 20, tzinfo=UTC), None),
    # Warm (17), bucket [15, 20).
    "w1": (_email("w1"), 17, SEPT, datetime(2026, 9, 5, tzinfo=UTC)),
    "w2": (_email("w2"), 17, SEPT, None),
    "w3": (_email("w3"), 17, SEPT, None),
    # Cold (3): two outcomes, fewer than the three a rate needs. c2 has no e-mail but a
    # CRM id: a known person all the same.
    "c1": (_email("c1"), 3, SEPT, datetime(2026, 9, 2, tzinfo=UTC)),
    "c2": ({"ids": {"hubspot": "501"}}, 3, SEPT, None),
    # An anonymous visitor, however hot, is no lead: left out.
    "v": ({"ids": {"matomo_visitor": "v-1"}}, 25, SEPT, None),
    # A customer before any activity tells nothing of a band: left out.
    "x": (_email("x"), 25, SEPT, datetime(2026, 8, 1, tzinfo=UTC)),
}


def _ingest(engine: Engine, path: Path, lines: list[dict[str, object]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    ingest(engine, FileSource(path.stem, path), command="ingest", resume=False)


def _contact_id(connection: sa.Connection, who: dict[str, object]) -> int:
    if "email" in who:
        namespace, value = "email", str(who["email"])
    else:
        ids = who["ids"]
        assert isinstance(ids, dict)
        namespace, value = next(iter(ids.items()))
    return int(
        connection.execute(
            sa.select(identities.c.contact_id).where(
                identities.c.namespace == namespace, identities.c.value == value
            )
        ).scalar_one()
    )


def _became_customer(engine: Engine, who: dict[str, object], at: datetime) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.insert(stage_history).values(
                contact_id=_contact_id(connection, who),
                at=at,
                from_stage="mql",
                to_stage="customer",
                reason="the CRM shows a won deal",
                recorded_at=AS_OF,  # the pass that saw the deal, long after it closed
            )
        )


@pytest.fixture
def store(engine: Engine, tmp_path: Path) -> Engine:
    lines = [
        line for who, count, start, _ in PEOPLE.values() for line in _visits(who, count, start)
    ]
    # h1 kept visiting once a customer: points after the move do not raise its peak.
    lines += _visits(_email("h1"), 10, datetime(2026, 9, 15, tzinfo=UTC))
    _ingest(engine, tmp_path / "visits.jsonl", lines)
    for who, _, _, customer_at in PEOPLE.values():
        if customer_at is not None:
            _became_customer(engine, who, customer_at)
    return engine


def _bands(contract: dict[str, object]) -> list[tuple[object, ...]]:
    rows = contract["bands"]
    assert isinstance(rows, list)
    return [tuple(row.values()) for row in rows]


def _buckets(contract: dict[str, object]) -> list[tuple[object, ...]]:
    rows = contract["buckets"]
    assert isinstance(rows, list)
    return [tuple(row.values()) for row in rows]


class TestCalibrateStore:
    def test_rates_per_band_and_bucket_and_the_suggestion_are_those_counted_by_hand(
        self, store: Engine
    ) -> None:
        found = calibrate_store(store, RULES, OPTIONS, now=AS_OF).as_contract()
        assert (found["as_of"], found["horizon_days"], found["min_outcomes"]) == (
            "2026-12-01T00:00:00Z",
            30,
            3,
        )
        assert found["current"] == {"warm_from": 10, "hot_above": 20}
        # band, outcomes, customers, rate, low, high, expected, note
        assert _bands(found) == [
            ("cold", 2, 1, None, None, None, 0.05, "too few outcomes (2 < 3)"),
            ("warm", 3, 1, 0.3333, 0.0615, 0.7923, 0.25, None),
            ("hot", 4, 2, 0.5, 0.15, 0.85, 0.5, None),
        ]
        # from, to, outcomes, customers, rate, low, high, note
        assert _buckets(found) == [
            (0, 5, 2, 1, None, None, None, "too few outcomes (2 < 3)"),
            (5, 10, 0, 0, None, None, None, "too few outcomes (0 < 3)"),
            (10, 15, 0, 0, None, None, None, "too few outcomes (0 < 3)"),
            (15, 20, 3, 1, 0.3333, 0.0615, 0.7923, None),
            (20, 25, 4, 2, 0.5, 0.15, 0.85, None),
        ]
        suggested = found["suggested"]
        assert isinstance(suggested, dict)
        assert (suggested["warm_from"], suggested["hot_above"]) == (15, 20)
        assert found["unknown_outcomes"] == 1
        assert found["drift"] is None

    def test_the_second_run_gives_the_drift_since_the_first_and_replaces_it(
        self, store: Engine
    ) -> None:
        calibrate_store(store, RULES, OPTIONS, now=AS_OF)
        _became_customer(store, _email("w2"), datetime(2026, 9, 8, tzinfo=UTC))
        later = AS_OF + timedelta(days=1)
        second = calibrate_store(store, RULES, OPTIONS, now=later).as_contract()
        # warm: 2 of 3 after 1 of 3; [15, 20) now reaches hot's 0.5 too, so hot_above 15.
        assert _bands(second)[1] == ("warm", 3, 2, 0.6667, 0.2077, 0.9385, 0.25, None)
        assert second["drift"] == {
            "since": "2026-12-01T00:00:00Z",
            "bands": {"cold": None, "warm": 0.3333, "hot": 0.0},
            "warm_from": 0,
            "hot_above": -5,
        }
        # What is kept for the next run is exact: a drift rounds only its difference.
        with store.connect() as connection:
            kept = read_meta(connection, CALIBRATION_KEY)
        assert kept is not None
        assert StoredCalibration.loads(kept) == StoredCalibration(
            as_of=later,
            horizon_days=30,
            bucket=5,
            rates={Temperature.COLD: None, Temperature.WARM: 2 / 3, Temperature.HOT: 0.5},
            warm_from=15,
            hot_above=15,
        )

    def test_an_unreadable_stored_calibration_is_said_and_replaced(self, store: Engine) -> None:
        with store.begin() as connection:
            write_meta(connection, CALIBRATION_KEY, '{"as_of": "yesterday"}')
        with capture_logs() as logs:
            found = calibrate_store(store, RULES, OPTIONS, now=AS_OF)
        assert found.drift is None
        warnings = [entry for entry in logs if entry["log_level"] == "warning"]
        assert [(entry["event"], entry["key"]) for entry in warnings] == [
            ("calibrate.stored_unreadable", CALIBRATION_KEY)
        ]
        with store.connect() as connection:
            kept = read_meta(connection, CALIBRATION_KEY)
        assert kept is not None
        assert StoredCalibration.loads(kept).as_of == AS_OF

    def test_the_summary_line_counts_what_was_read(self, store: Engine) -> None:
        with capture_logs() as logs:
            calibrate_store(store, RULES, OPTIONS, now=AS_OF)
        finished = [entry for entry in logs if entry["event"] == "calibrate.finished"]
        assert len(finished) == 1
        summary = {key: finished[0][key] for key in ("contacts", "known", "observed")}
        # 12 contacts; the visitor is not known; x, a customer before its events, has no
        # observation; h5 is observed with its outcome unknown.
        assert summary == {"contacts": 12, "known": 11, "observed": 10}
        assert finished[0]["unknown_outcomes"] == 1

    def test_progress_counts_every_contact_read(self, store: Engine) -> None:
        seen: list[tuple[int, int]] = []
        calibrate_store(store, RULES, OPTIONS, now=AS_OF, on_progress=lambda *p: seen.append(p))
        assert seen[-1] == (12, 12)


class _WonDeals:
    """A CRM reader whose one page says which contacts won a deal, and when it closed."""

    name = "crm"

    def __init__(self, read_at: datetime, won: dict[str, datetime]) -> None:
        self.snapshots = [
            ProfileSnapshot(
                "crm", read_at, email, sales=SalesSignals(won=True, won_at=closed, read_at=read_at)
            )
            for email, closed in won.items()
        ]

    def read_changes(self, cursor: str | None) -> Iterator[SnapshotPage]:
        if cursor is None:
            yield SnapshotPage(self.snapshots, cursor="1")


def test_a_deal_read_months_after_it_closed_converts_by_its_close_date(
    engine: Engine, tmp_path: Path
) -> None:
    """Through the whole path: events, a CRM read in December of a deal won in September,
    a scoring pass, then calibrate: the customer move is dated by the close date, so the
    contact converted within its 30 days (dated by the pass, it would not have)."""
    lines = [*_visits(_email("won"), 21, SEPT), *_visits(_email("lost"), 21, SEPT)]
    _ingest(engine, tmp_path / "visits.jsonl", lines)
    read_at = datetime(2026, 11, 30, tzinfo=UTC)
    read_crm(engine, _WonDeals(read_at, {"won@acme.example": datetime(2026, 9, 20, tzinfo=UTC)}))
    rescore(engine, RULES, as_of=read_at)
    options = CalibrationOptions(horizon_days=30, bucket=5, min_outcomes=1)
    found = calibrate_store(engine, RULES, options, now=AS_OF).as_contract()
    assert _bands(found)[2] == ("hot", 2, 1, 0.5, 0.0945, 0.9055, 0.5, None)
