"""When HubSpot says sales set a contact's stage, and for how much it was won: the
``hs_lifecyclestage_<value>_date`` properties and the mapped won amount, read through the
official client from a local server speaking HubSpot's JSON (validated against HubSpot's
OpenAPI file), and once through the store on both databases."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine

from adapters.hubspot.client import Caller, hubspot_client
from adapters.hubspot.pacing import Pacer
from adapters.hubspot.reader import HubSpotReader
from connector.crm.mapping import CrmMapping, load_mapping
from connector.model import SalesSignals, Stage
from connector.ports import ProfileSnapshot
from connector.runners.crm_read import read_crm
from connector.store.schema import contacts
from tests.adapters.hubspot_fake import CONTACTS_SPEC, STAGES, FakeHubSpot, SpecValidator
from tests.conftest import REPO_ROOT

TOKEN = "pat-na1-0123abcd-4567-89ef-0123-456789abcdef"
MAPPING = load_mapping(REPO_ROOT / "mappings" / "hubspot.toml")
DAY0 = datetime(2026, 11, 2, tzinfo=UTC)
SQL_DATE = "2026-10-05T14:30:00.000Z"
CUSTOMER_DATE = "2026-11-01T09:15:00Z"

pytestmark = pytest.mark.skipif(
    not CONTACTS_SPEC.exists(), reason=f"HubSpot's OpenAPI files are not at {CONTACTS_SPEC}"
)


@pytest.fixture
def fake(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHubSpot]:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    server = FakeHubSpot(SpecValidator(CONTACTS_SPEC), token=TOKEN)
    server.define("lifecyclestage", "enumeration", tuple(STAGES))
    httpserver.expect_request(
        re.compile(r"^/crm/v3/(objects|properties)/contacts(/.*)?$")
    ).respond_with_handler(server.handle)
    yield server


def _reader(httpserver: HTTPServer, mapping: CrmMapping = MAPPING) -> HubSpotReader:
    return HubSpotReader(
        hubspot_client(httpserver.url_for("/").rstrip("/")),
        caller=Caller(Pacer(1000, 1.0)),
        mapping=mapping,
    )


def _read(httpserver: HTTPServer, mapping: CrmMapping = MAPPING) -> list[ProfileSnapshot]:
    reader = _reader(httpserver, mapping)
    return [snapshot for page in reader.read_changes(None) for snapshot in page.snapshots]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _searched_properties(fake: FakeHubSpot) -> list[str]:
    (body, *_) = [body for path, body in fake.calls if path.endswith("/search")]
    return list(body["properties"])


class TestStageDates:
    def test_only_the_dates_of_the_stages_sales_set_and_the_amount_are_asked_for(
        self, httpserver: HTTPServer, fake: FakeHubSpot
    ) -> None:
        crm_id = fake.add_contact("a@acme.example")
        fake.modified(crm_id, DAY0, lifecyclestage="lead")
        _read(httpserver)
        asked = _searched_properties(fake)
        assert [name for name in asked if name.startswith("hs_lifecyclestage_")] == [
            "hs_lifecyclestage_customer_date",
            "hs_lifecyclestage_salesqualifiedlead_date",
        ]
        assert "total_revenue" in asked
        assert asked == sorted(asked)

    def test_a_stage_sales_set_is_dated_by_its_own_date_property(
        self, httpserver: HTTPServer, fake: FakeHubSpot
    ) -> None:
        crm_id = fake.add_contact(
            "sql@acme.example",
            hs_lifecyclestage_salesqualifiedlead_date=SQL_DATE,
            hs_lifecyclestage_customer_date=CUSTOMER_DATE,  # set once, then moved back
        )
        fake.modified(crm_id, DAY0, lifecyclestage="salesqualifiedlead")
        (snapshot,) = _read(httpserver)
        assert snapshot.sales == SalesSignals(stage=Stage.SQL, changed_at=_at(SQL_DATE))

    def test_a_customer_is_won_at_its_customer_date_for_its_total_revenue(
        self, httpserver: HTTPServer, fake: FakeHubSpot
    ) -> None:
        crm_id = fake.add_contact(
            "won@acme.example",
            hs_lifecyclestage_salesqualifiedlead_date=SQL_DATE,
            hs_lifecyclestage_customer_date=CUSTOMER_DATE,
            total_revenue="12500.50",
        )
        fake.modified(crm_id, DAY0, lifecyclestage="customer")
        (snapshot,) = _read(httpserver)
        assert snapshot.sales == SalesSignals(
            stage=Stage.CUSTOMER,
            won=True,
            changed_at=_at(CUSTOMER_DATE),
            won_at=_at(CUSTOMER_DATE),
            won_amount=12500.5,
        )

    @pytest.mark.parametrize(
        ("stage", "dates"),
        [
            # leadsync's own writes coming back are not sales' signals: no date.
            ("marketingqualifiedlead", {"hs_lifecyclestage_marketingqualifiedlead_date": SQL_DATE}),
            # A stage sales set without its date (a portal's custom stage value has none).
            ("salesqualifiedlead", {}),
        ],
    )
    def test_no_date_is_read_where_there_is_no_signal_or_no_date(
        self, httpserver: HTTPServer, fake: FakeHubSpot, stage: str, dates: dict[str, str]
    ) -> None:
        crm_id = fake.add_contact("a@acme.example", **dates)
        fake.modified(crm_id, DAY0, lifecyclestage=stage)
        (snapshot,) = _read(httpserver)
        assert snapshot.sales is not None
        assert (snapshot.sales.changed_at, snapshot.sales.won_at) == (None, None)

    @pytest.mark.parametrize("revenue", [None, "", "n/a", "NaN"])
    def test_a_customer_without_a_readable_total_revenue_has_no_amount(
        self, httpserver: HTTPServer, fake: FakeHubSpot, revenue: str | None
    ) -> None:
        properties = {} if revenue is None else {"total_revenue": revenue}
        crm_id = fake.add_contact("won@acme.example", **properties)
        fake.modified(crm_id, DAY0, lifecyclestage="customer")
        (snapshot,) = _read(httpserver)
        assert snapshot.sales is not None
        assert snapshot.sales.won and snapshot.sales.won_amount is None

    def test_a_mapping_without_a_won_amount_property_asks_for_none(
        self, httpserver: HTTPServer, fake: FakeHubSpot
    ) -> None:
        crm_id = fake.add_contact("won@acme.example", total_revenue="900")
        fake.modified(crm_id, DAY0, lifecyclestage="customer")
        (snapshot,) = _read(httpserver, MAPPING.model_copy(update={"won_amount_property": None}))
        assert "total_revenue" not in _searched_properties(fake)
        assert snapshot.sales is not None
        assert snapshot.sales.won_amount is None


def test_a_later_read_without_the_dates_keeps_the_stored_ones(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine
) -> None:
    crm_id = fake.add_contact(
        "won@acme.example",
        hs_lifecyclestage_customer_date=CUSTOMER_DATE,
        total_revenue="4000",
    )
    fake.modified(crm_id, DAY0, lifecyclestage="customer")
    reader = _reader(httpserver)
    read_crm(engine, reader)
    # The properties emptied in HubSpot (a deal reopened, say): what was read stays.
    fake.modified(
        crm_id, DAY0 + timedelta(days=1), hs_lifecyclestage_customer_date="", total_revenue=""
    )
    read_crm(engine, reader)
    with engine.connect() as connection:
        (profile,) = connection.execute(sa.select(contacts.c.profile)).scalars().all()
    assert {
        name: profile[name]
        for name in ("deal_won", "deal_won_at", "deal_amount", "sales_changed_at", "sales_read_at")
    } == {
        "deal_won": True,
        "deal_won_at": "2026-11-01T09:15:00+00:00",
        "deal_amount": 4000.0,
        "sales_changed_at": "2026-11-01T09:15:00+00:00",
        "sales_read_at": "2026-11-03T00:00:00+00:00",  # the second read's modification time
    }
