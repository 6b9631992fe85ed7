"""What a CRM read says of a contact's stage dates and won deal, kept in its profile's
reserved fields on a real SQLite file and the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.model import SalesSignals, Stage, signals_from_profile
from connector.ports import ProfileSnapshot, SnapshotPage
from connector.runners.crm_read import read_crm
from connector.store.schema import contacts

READ = datetime(2026, 11, 27, 8, 15, tzinfo=UTC)
WON_AT = datetime(2026, 11, 20, tzinfo=UTC)
CHANGED_AT = datetime(2026, 11, 19, 16, 30, tzinfo=UTC)
SIGNAL_FIELDS = ("deal_won", "deal_won_at", "deal_amount", "sales_changed_at", "sales_read_at")


class Crm:
    """A CRM reader handing out the snapshots it is given, one page per read."""

    name = "crm"

    def __init__(self) -> None:
        self.snapshots: list[ProfileSnapshot] = []

    def said(self, observed_at: datetime, sales: SalesSignals) -> Crm:
        self.snapshots = [ProfileSnapshot("crm", observed_at, "won@acme.example", sales=sales)]
        return self

    def read_changes(self, cursor: str | None) -> Iterator[SnapshotPage]:
        yield SnapshotPage(list(self.snapshots))


def _profile(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        (profile,) = connection.execute(sa.select(contacts.c.profile)).scalars().all()
    return dict(profile)


def _signal_fields(profile: dict[str, Any], names: Sequence[str] = SIGNAL_FIELDS) -> dict[str, Any]:
    return {name: profile.get(name) for name in names}


class TestCrmSignalFields:
    def test_a_crm_snapshot_stores_its_dates_and_amount_and_reads_them_back(
        self, engine: Engine
    ) -> None:
        """The read time is the snapshot's own time when the reader gave none."""
        won = SalesSignals(
            stage=Stage.CUSTOMER,
            won=True,
            changed_at=CHANGED_AT,
            won_at=WON_AT,
            won_amount=3500.5,
        )
        read_crm(engine, Crm().said(READ, won))
        profile = _profile(engine)
        assert _signal_fields(profile) == {
            "deal_won": True,
            "deal_won_at": "2026-11-20T00:00:00+00:00",
            "deal_amount": 3500.5,
            "sales_changed_at": "2026-11-19T16:30:00+00:00",
            "sales_read_at": "2026-11-27T08:15:00+00:00",
        }
        assert signals_from_profile(profile) == SalesSignals(
            stage=Stage.CUSTOMER,
            won=True,
            changed_at=CHANGED_AT,
            read_at=READ,
            won_at=WON_AT,
            won_amount=3500.5,
        )

    def test_a_later_read_without_a_close_date_or_amount_keeps_the_stored_ones(
        self, engine: Engine
    ) -> None:
        crm = Crm()
        read_crm(
            engine,
            crm.said(
                READ,
                SalesSignals(
                    stage=Stage.CUSTOMER,
                    won=True,
                    changed_at=CHANGED_AT,
                    won_at=WON_AT,
                    won_amount=1200.0,
                ),
            ),
        )
        later = READ + timedelta(days=2)
        read_crm(engine, crm.said(later, SalesSignals(stage=Stage.CUSTOMER, won=True)))
        assert _signal_fields(_profile(engine)) == {
            "deal_won": True,
            "deal_won_at": "2026-11-20T00:00:00+00:00",
            "deal_amount": 1200.0,
            "sales_changed_at": "2026-11-19T16:30:00+00:00",
            "sales_read_at": "2026-11-29T08:15:00+00:00",  # this one is always given
        }

    def test_a_later_read_with_a_new_amount_and_a_zero_replaces_the_stored_one(
        self, engine: Engine
    ) -> None:
        """Zero is an amount the CRM gave (a deal reopened), not a missing one."""
        crm = Crm()
        won = SalesSignals(stage=Stage.CUSTOMER, won=True, won_at=WON_AT, won_amount=1200.0)
        read_crm(engine, crm.said(READ, won))
        read_crm(engine, crm.said(READ + timedelta(days=1), SalesSignals(won_amount=0.0)))
        profile = _profile(engine)
        assert _signal_fields(profile, ("deal_won", "deal_won_at", "deal_amount")) == {
            "deal_won": False,
            "deal_won_at": "2026-11-20T00:00:00+00:00",
            "deal_amount": 0.0,
        }
        assert signals_from_profile(profile).won_amount == 0.0

    def test_a_read_time_the_reader_gives_is_kept(self, engine: Engine) -> None:
        given = READ + timedelta(hours=3)
        read_crm(engine, Crm().said(READ, SalesSignals(stage=Stage.SQL, read_at=given)))
        assert _profile(engine)["sales_read_at"] == "2026-11-27T11:15:00+00:00"

    def test_a_snapshot_without_sales_signals_writes_no_reserved_field(
        self, engine: Engine
    ) -> None:
        crm = Crm()
        crm.snapshots = [
            ProfileSnapshot("crm", READ, "won@acme.example", fields={"job_title": "CTO"})
        ]
        read_crm(engine, crm)
        assert _profile(engine) == {"job_title": "CTO"}
