"""When Salesforce says a Contact was won and for how much, and when a Lead was converted:
read from won opportunities' contact roles and Leads, against answers in Salesforce's shape
(``responses``), and once through the store on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import responses
from sqlalchemy.engine import Engine

from adapters.salesforce.won_deals import IDS_PER_LOOK_UP
from connector.errors import ConfigError
from connector.model import SalesSignals, Stage
from connector.runners.crm_read import read_crm
from tests.adapters.test_salesforce_reader import (
    MAPPING,
    T0,
    T2,
    T3,
    Org,
    _ingest_one,
    _profiles,
    _read,
    _reader,
    _selected,
    _snapshots,
    lead,
    won_role,
)

NO_AMOUNT = MAPPING.model_copy(update={"won_amount_property": None})


@pytest.fixture
def org() -> Iterator[Org]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield Org(mocked)


def _day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class TestWonDeals:
    def test_a_contact_won_twice_is_a_customer_from_its_first_close_for_both_amounts(
        self, org: Org
    ) -> None:
        """The amount is the sum of all the Contact's won deals, those won before the
        read's window too; the date is the first close."""
        org.won_earlier.append(
            won_role(
                "003000000000001",
                "a@acme.example",
                T0,
                deal="006000000000001",
                amount=1000.0,
                closed="2026-03-02",
            )
        )
        org.answer(
            "OpportunityContactRole",
            [
                won_role(
                    "003000000000001",
                    "a@acme.example",
                    T3,
                    deal="006000000000002",
                    amount=2500.5,
                    closed="2026-11-27",
                )
            ],
        )
        (snapshot,) = _snapshots(_read(_reader(("Contact",))))
        # The deal of the page, also found by the look-up, counts once.
        assert snapshot.sales == SalesSignals(
            stage=Stage.CUSTOMER, won=True, won_at=_day("2026-03-02"), won_amount=3500.5
        )

    def test_a_won_deal_without_an_amount_adds_nothing_and_none_at_all_is_no_amount(
        self, org: Org
    ) -> None:
        org.won_earlier.append(
            won_role("003000000000001", None, T0, deal="006000000000001", closed="2026-05-01")
        )
        org.answer(
            "OpportunityContactRole",
            [
                won_role("003000000000001", None, T3, deal="006000000000002", amount=400.0),
                won_role("003000000000002", None, T3, closed="2026-11-20"),
            ],
        )
        first, second = _snapshots(_read(_reader(("Contact",))))
        assert first.sales == SalesSignals(
            stage=Stage.CUSTOMER, won=True, won_at=_day("2026-05-01"), won_amount=400.0
        )
        assert second.sales == SalesSignals(
            stage=Stage.CUSTOMER, won=True, won_at=_day("2026-11-20"), won_amount=None
        )

    def test_the_won_deals_are_looked_up_a_few_hundred_contacts_at_a_time(self, org: Org) -> None:
        """A GET query is refused past 16 KB: a page of 2,000 roles takes several look-ups."""
        ids = [f"003{number:012d}" for number in range(IDS_PER_LOOK_UP + 1)]
        org.answer(
            "OpportunityContactRole",
            [won_role(contact_id, None, T3, amount=10.0) for contact_id in ids],
        )
        snapshots = _snapshots(_read(_reader(("Contact",))))
        look_ups = org.look_ups()
        assert [soql.count("'003") for soql in look_ups] == [IDS_PER_LOOK_UP, 1]
        sent = [
            str(call.request.url)
            for call in org.mocked.calls
            if "ContactId+IN" in str(call.request.url)
        ]
        assert len(sent) == 2
        assert all(len(url.split(".test", 1)[1]) < 16_384 for url in sent)
        assert [s.sales.won_amount for s in snapshots if s.sales] == [10.0] * len(ids)

    def test_a_page_naming_no_contact_looks_nothing_up(self, org: Org) -> None:
        org.answer("OpportunityContactRole", [won_role(None, "w@acme.example", T3, amount=5.0)])
        (snapshot,) = _snapshots(_read(_reader(("Contact",))))
        assert org.look_ups() == []
        assert snapshot.sales is not None
        assert snapshot.sales.won_amount == 5.0  # its own deal's

    def test_a_mapping_without_a_won_amount_property_reads_no_amount(self, org: Org) -> None:
        org.answer(
            "OpportunityContactRole",
            [won_role("003000000000001", None, T3, amount=99.0, closed="2026-11-27")],
        )
        (snapshot,) = _snapshots(_read(_reader(("Contact",), NO_AMOUNT)))
        won_query = org.queries()[-1]
        assert "Opportunity.Amount" not in _selected(won_query)
        assert snapshot.sales == SalesSignals(
            stage=Stage.CUSTOMER, won=True, won_at=_day("2026-11-27")
        )

    def test_a_custom_amount_field_of_the_opportunity_is_read(self, org: Org) -> None:
        mapping = MAPPING.model_copy(update={"won_amount_property": "Opportunity.Margin__c"})
        role = won_role("003000000000001", None, T3)
        role["Opportunity"]["Margin__c"] = 120.0
        org.answer("OpportunityContactRole", [role])
        (snapshot,) = _snapshots(_read(_reader(("Contact",), mapping)))
        assert "Opportunity.Margin__c" in _selected(org.queries()[-1])
        assert snapshot.sales is not None
        assert snapshot.sales.won_amount == 120.0

    @pytest.mark.parametrize("name", ["Contact.Amount", "Opportunity.Account.AnnualRevenue"])
    def test_a_won_amount_property_not_on_the_opportunity_is_refused(self, name: str) -> None:
        mapping = MAPPING.model_copy(update={"won_amount_property": name})
        with pytest.raises(ConfigError) as e:
            _reader(("Contact",), mapping)
        assert e.value.message == (
            f"won_amount_property {name!r} is not a field of the won Opportunity"
        )
        assert e.value.key == "won_amount_property"
        assert "Opportunity.Amount" in (e.value.hint or "")


class TestConvertedLeads:
    def test_a_converted_lead_is_dated_by_its_conversion_day(self, org: Org) -> None:
        org.answer(
            "Lead",
            [
                lead(
                    "00Q000000000009",
                    T2,
                    Email="conv@acme.example",
                    IsConverted=True,
                    ConvertedContactId="003000000000009",
                    ConvertedDate="2026-11-20",
                ),
                lead(
                    "00Q000000000010", T2, Email="open@acme.example", Status="Working - Contacted"
                ),
            ],
        )
        converted, still_open = _snapshots(_read(_reader(("Lead",))))
        assert converted.sales == SalesSignals(stage=Stage.SQL, changed_at=_day("2026-11-20"))
        # A Status carries no date of its own: the ledger dates it by the read.
        assert still_open.sales is not None
        assert still_open.sales.changed_at is None


def test_a_won_contact_keeps_its_close_date_and_amount_in_the_store(
    org: Org, engine: Engine, tmp_path: Path
) -> None:
    _ingest_one(engine, tmp_path, "won@acme.example")
    ((won, _),) = _profiles(engine).items()
    org.answer(
        "OpportunityContactRole",
        [
            won_role(
                "003000000000001",
                "Won@acme.example",
                T3,
                deal="006000000000001",
                amount=1200.0,
                closed="2026-11-27",
            )
        ],
    )
    read_crm(engine, _reader(("Contact",)))
    profile = _profiles(engine)[won][1]
    assert (profile["deal_won"], profile["deal_won_at"], profile["deal_amount"]) == (
        True,
        "2026-11-27T00:00:00+00:00",
        1200.0,
    )
    assert profile["sales_read_at"] == "2026-11-27T08:15:00+00:00"  # the deal's stamp
