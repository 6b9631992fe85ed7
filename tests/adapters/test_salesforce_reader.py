"""Reading Salesforce Leads, Contacts and won deals through simple-salesforce, against
query answers in Salesforce's shape (``responses``: simple-salesforce sends through
requests), and once through the store on both databases."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
import responses
import sqlalchemy as sa
from simple_salesforce.api import Salesforce
from sqlalchemy.engine import Engine

from adapters.files import FileSource
from adapters.salesforce.client import SalesforceApi
from adapters.salesforce.reader import SalesforceReader, soql_datetime
from connector.crm.mapping import load_mapping
from connector.errors import LimitReachedError
from connector.model import SalesSignals, SalesStatus, Stage
from connector.ports import CrmReader, ProfileSnapshot, SnapshotPage
from connector.runners.crm_read import cursor_name_of, read_crm
from connector.runners.ingest import ingest
from connector.store.cursors import read_cursor
from connector.store.schema import contacts, identities
from tests.conftest import REPO_ROOT

MAPPING = load_mapping(REPO_ROOT / "mappings" / "salesforce.toml")
BOTH = ("Lead", "Contact")
INSTANCE = "https://sf.test"
DATA = "/services/data/v62.0/"
QUERY_URL = f"{INSTANCE}{DATA}query/"
T0 = "2026-11-26T10:00:00.000+0000"
T1 = "2026-11-26T11:00:00.000+0000"
T2 = "2026-11-26T12:30:00.000+0000"
T3 = "2026-11-27T08:15:00.000+0000"
AT = {stamp: datetime.fromisoformat(stamp) for stamp in (T0, T1, T2, T3)}


# -- an org answering queries ----------------------------------------------------------------


def _record(sobject: str, **fields: Any) -> dict[str, Any]:
    record_id = fields.get("Id") or "000000000000000"
    return {
        "attributes": {"type": sobject, "url": f"{DATA}sobjects/{sobject}/{record_id}"},
        **fields,
    }


def lead(record_id: str, stamp: str, **fields: Any) -> dict[str, Any]:
    values = {"IsConverted": False, "ConvertedContactId": None, "Status": None, **fields}
    return _record("Lead", Id=record_id, SystemModstamp=stamp, **values)


def contact(record_id: str | None, stamp: str, **fields: Any) -> dict[str, Any]:
    return _record("Contact", Id=record_id, SystemModstamp=stamp, **fields)


def account(**fields: Any) -> dict[str, Any]:
    return _record("Account", **fields)


def won_role(
    contact_id: str | None,
    email: str | None,
    stamp: str,
    *,
    deal: str | None = None,
    amount: float | None = None,
    closed: str | None = None,
) -> dict[str, Any]:
    """A contact role of a won Opportunity (``deal``, by default one per contact and stamp)."""
    return _record(
        "OpportunityContactRole",
        ContactId=contact_id,
        OpportunityId=deal or f"006{(contact_id or '')[-6:]}{stamp[8:10]}{stamp[11:13]}",
        Contact=None if email is None else _record("Contact", Email=email),
        Opportunity=_record("Opportunity", SystemModstamp=stamp, CloseDate=closed, Amount=amount),
    )


class Org:
    """Answers each query with the pages queued for the object it reads (by FROM), the
    first in the query answer and the others behind ``nextRecordsUrl``; a look-up of won
    roles by ContactId with every won role it was given (``won_earlier`` too)."""

    def __init__(self, mocked: responses.RequestsMock) -> None:
        self.mocked = mocked
        self.pages: dict[str, list[list[dict[str, Any]]]] = {}
        self.headers: dict[str, str] = {}
        self.won_earlier: list[dict[str, Any]] = []  # won before the read's window
        mocked.add_callback(responses.GET, QUERY_URL, callback=self._query)

    def answer(self, sobject: str, *pages: list[dict[str, Any]]) -> None:
        self.pages[sobject] = list(pages)
        if sobject == "OpportunityContactRole":
            self.won_earlier += [role for page in pages for role in page]

    def _look_up(self, soql: str) -> tuple[int, dict[str, str], str]:
        listed = re.search(r"WHERE ContactId IN \(([^)]*)\) AND Opportunity\.IsWon = true$", soql)
        assert listed is not None, soql
        wanted = set(re.findall(r"'(\w+)'", listed.group(1)))
        found = [role for role in self.won_earlier if role["ContactId"] in wanted]
        body = {"totalSize": len(found), "done": True, "records": found}
        return 200, self.headers, json.dumps(body)

    def _query(self, request: Any) -> tuple[int, dict[str, str], str]:
        soql = parse_qs(urlsplit(request.url).query)["q"][0]
        if " WHERE ContactId IN (" in soql:
            return self._look_up(soql)
        found = re.search(r" FROM (\w+)", soql)
        assert found is not None, soql
        sobject = found.group(1)
        pages = self.pages.get(sobject) or [[]]
        total = sum(len(page) for page in pages)
        for number in range(1, len(pages)):
            self.mocked.add(
                responses.GET,
                f"{INSTANCE}{self._next(sobject, number)}",
                json=self._body(sobject, pages, number, total),
                headers=self.headers,
            )
        return 200, self.headers, json.dumps(self._body(sobject, pages, 0, total))

    @staticmethod
    def _next(sobject: str, number: int) -> str:
        return f"{DATA}query/01g{sobject}-{2000 * number}"

    def _body(
        self, sobject: str, pages: list[list[dict[str, Any]]], number: int, total: int
    ) -> dict[str, Any]:
        done = number == len(pages) - 1
        body: dict[str, Any] = {"totalSize": total, "done": done, "records": pages[number]}
        if not done:
            body["nextRecordsUrl"] = self._next(sobject, number + 1)
        return body

    def _sent(self) -> list[str]:
        sent = []
        for call in self.mocked.calls:
            query = parse_qs(urlsplit(str(call.request.url)).query).get("q")
            if query:
                sent.append(query[0])
        return sent

    def queries(self) -> list[str]:
        """The SOQL of each read query sent (query_more calls carry none), the won deals'
        look-ups aside."""
        return [soql for soql in self._sent() if " WHERE ContactId IN (" not in soql]

    def look_ups(self) -> list[str]:
        """The SOQL of each look-up of the won deals of the Contacts a page named."""
        return [soql for soql in self._sent() if " WHERE ContactId IN (" in soql]

    def urls(self) -> list[str]:
        return [urlsplit(str(call.request.url)).path for call in self.mocked.calls]


@pytest.fixture
def org() -> Iterator[Org]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield Org(mocked)


def _api() -> SalesforceApi:
    return SalesforceApi(Salesforce(instance_url=INSTANCE, session_id="token", version="62.0"))


def _reader(objects: tuple[str, ...] = BOTH, mapping: Any = MAPPING) -> SalesforceReader:
    return SalesforceReader(_api(), mapping=mapping, objects=objects)


def _read(reader: SalesforceReader, cursor: str | None = None) -> list[SnapshotPage]:
    return list(reader.read_changes(cursor))


def _snapshots(pages: list[SnapshotPage]) -> list[ProfileSnapshot]:
    return [snapshot for page in pages for snapshot in page.snapshots]


def _selected(soql: str) -> list[str]:
    found = re.match(r"SELECT (.*?) FROM ", soql)
    assert found is not None, soql
    return found.group(1).split(", ")


# -- queries, pages and the cursor ---------------------------------------------------------


def test_the_first_read_queries_each_object_then_the_won_roles_across_pages(org: Org) -> None:
    org.answer(
        "Lead",
        [lead("00Q000000000001", T0, Email="a@acme.example"), lead("00Q000000000002", T1)],
        [lead("00Q000000000003", T2, Email="c@acme.example")],
    )
    org.answer("Contact", [contact("003000000000001", T1, Email="d@acme.example")])
    org.answer("OpportunityContactRole", [won_role("003000000000001", "d@acme.example", T3)])

    pages = _read(_reader())

    lead_query, contact_query, won_query = org.queries()
    assert _selected(lead_query) == [
        "Id",
        "Email",
        "SystemModstamp",
        "IsConverted",
        "ConvertedContactId",
        "ConvertedDate",
        "AnnualRevenue",
        "Country",
        "Industry",
        "LeadSync_BANT_Authority__c",
        "LeadSync_BANT_Budget__c",
        "LeadSync_BANT_Need__c",
        "LeadSync_BANT_Timing__c",
        "NumberOfEmployees",
        "Phone",
        "Status",
        "Title",
    ]
    assert lead_query.endswith(" FROM Lead ORDER BY SystemModstamp ASC")
    assert _selected(contact_query) == [
        "Id",
        "Email",
        "SystemModstamp",
        "Account.AnnualRevenue",
        "Account.Industry",
        "Account.NumberOfEmployees",
        "MailingCountry",
        "Phone",
        "Title",
    ]
    assert contact_query.endswith(" FROM Contact ORDER BY SystemModstamp ASC")
    assert won_query == (
        "SELECT ContactId, Contact.Email, OpportunityId, Opportunity.CloseDate, "
        "Opportunity.Amount, Opportunity.SystemModstamp "
        "FROM OpportunityContactRole WHERE Opportunity.IsWon = true "
        "ORDER BY Opportunity.SystemModstamp ASC"
    )
    # The won deals of the Contact that page named, all of them, whenever won.
    assert org.look_ups() == [
        "SELECT ContactId, OpportunityId, Opportunity.CloseDate, Opportunity.Amount "
        "FROM OpportunityContactRole "
        "WHERE ContactId IN ('003000000000001') AND Opportunity.IsWon = true"
    ]
    # The second page of Leads came from nextRecordsUrl.
    assert org.urls().count(f"{DATA}query/01gLead-2000") == 1

    assert [[s.ids.get("salesforce") for s in page.snapshots] for page in pages] == [
        ["00Q000000000001", "00Q000000000002"],
        ["00Q000000000003"],
        ["003000000000001"],
        ["003000000000001"],
    ]
    # Each page carries the cursor as of its end, per query; contact roles added later to
    # opportunities already won are read from the moment this first read began.
    cursors = [json.loads(page.cursor or "") for page in pages]
    began = {cursor.pop("won_roles") for cursor in cursors}
    assert len(began) == 1
    assert abs(datetime.now(UTC) - datetime.fromisoformat(began.pop())) < timedelta(minutes=1)
    assert cursors == [
        {"Lead": "2026-11-26T11:00:00.000Z"},
        {"Lead": "2026-11-26T12:30:00.000Z"},
        {"Lead": "2026-11-26T12:30:00.000Z", "Contact": "2026-11-26T11:00:00.000Z"},
        {
            "Lead": "2026-11-26T12:30:00.000Z",
            "Contact": "2026-11-26T11:00:00.000Z",
            "won": "2026-11-27T08:15:00.000Z",
        },
    ]
    first = pages[0].snapshots[0]
    assert first.source == "salesforce"
    assert first.observed_at == AT[T0]
    assert first.observed_at.tzinfo is not None
    assert first.email == "a@acme.example"
    assert pages[0].snapshots[1].email is None  # an id alone still names the person


def test_the_next_read_resumes_each_query_from_its_own_cursor(org: Org) -> None:
    org.answer("Lead", [lead("00Q000000000001", T0), lead("00Q000000000002", T2)])
    org.answer("Contact", [contact("003000000000001", T1, Email="d@acme.example")])
    org.answer("OpportunityContactRole", [won_role("003000000000001", None, T3)])
    reader = _reader()
    cursor = _read(reader)[-1].cursor

    org.answer("Lead", [lead("00Q000000000002", T2)])  # the one at the cursor's instant
    again = _read(reader, cursor)

    # Each from its own newest stamp, less the 5 minutes a late commit may lag behind.
    lead_query, contact_query, won_query, role_query = org.queries()[3:]
    began = datetime.fromisoformat(json.loads(cursor or "")["won_roles"])
    assert role_query == (
        "SELECT ContactId, Contact.Email, OpportunityId, Opportunity.CloseDate, "
        "Opportunity.Amount, SystemModstamp FROM OpportunityContactRole "
        "WHERE Opportunity.IsWon = true AND SystemModstamp >= "
        f"{soql_datetime(began - timedelta(minutes=5))} ORDER BY SystemModstamp ASC"
    )
    assert lead_query.endswith(
        " FROM Lead WHERE SystemModstamp >= 2026-11-26T12:25:00.000Z ORDER BY SystemModstamp ASC"
    )
    assert contact_query.endswith(
        " FROM Contact WHERE SystemModstamp >= 2026-11-26T10:55:00.000Z ORDER BY SystemModstamp ASC"
    )
    assert won_query.endswith(
        "WHERE Opportunity.IsWon = true AND Opportunity.SystemModstamp >= "
        "2026-11-27T08:10:00.000Z ORDER BY Opportunity.SystemModstamp ASC"
    )
    # Read again at the same instant: harmless, and the cursor does not move back.
    assert _snapshots(again)[0].ids == {"salesforce": "00Q000000000002"}
    assert json.loads(again[-1].cursor or "") == json.loads(cursor or "")


def test_a_cursor_in_salesforces_own_offset_form_is_read_back(org: Org) -> None:
    cursor = json.dumps({"Lead": "2026-11-26T09:00:00.123+0000"})
    _read(_reader(("Lead",)), cursor)
    assert "WHERE SystemModstamp >= 2026-11-26T08:55:00.123Z " in org.queries()[0]


@pytest.mark.parametrize("cursor", [None, "", "not json", "[1, 2]", '{"Lead": "yesterday"}'])
def test_no_usable_cursor_reads_everything(org: Org, cursor: str | None) -> None:
    _read(_reader(), cursor)
    assert len(org.queries()) == 3
    assert all("SystemModstamp >=" not in soql for soql in org.queries())


def test_a_cursor_entry_cannot_carry_text_into_the_query(org: Org) -> None:
    cursor = json.dumps({"Lead": "2026-11-26T09:00:00Z OR Id != null"})
    _read(_reader(("Lead",)), cursor)
    assert "WHERE" not in org.queries()[0]


def test_reading_leads_only_reads_no_contact_field_and_no_won_deal(org: Org) -> None:
    org.answer("Lead", [lead("00Q000000000001", T0, Email="a@acme.example")])
    pages = _read(_reader(("Lead",)))
    (soql,) = org.queries()
    assert "FROM Lead " in soql
    assert not any("Account" in name or "Mailing" in name for name in _selected(soql))
    assert json.loads(pages[-1].cursor or "") == {"Lead": "2026-11-26T10:00:00.000Z"}


# -- what the records say ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "stage"),
    [
        # Whatever the Status says, converted is qualified...
        ("Closed - Not Converted", Stage.SQL),
        ("Closed - Converted", Stage.SQL),
        # ...and a Status the mapping reads as won still counts.
        ("Closed - Won", Stage.CUSTOMER),
    ],
)
def test_a_converted_lead_speaks_for_its_contact_as_qualified(
    org: Org, status: str, stage: Stage
) -> None:
    mapping = MAPPING.model_copy(
        update={"status_stages": {**MAPPING.status_stages, "Closed - Won": Stage.CUSTOMER}}
    )
    org.answer(
        "Lead",
        [
            lead(
                "00Q000000000009",
                T2,
                Email="conv@acme.example",
                IsConverted=True,
                ConvertedContactId="003000000000009",
                Status=status,
                LeadSync_BANT_Need__c=True,
            )
        ],
    )
    (snapshot,) = _snapshots(_read(_reader(("Lead",), mapping)))
    assert snapshot.ids == {"salesforce": "003000000000009"}
    assert snapshot.email == "conv@acme.example"
    assert snapshot.sales == SalesSignals(stage=stage, bant=frozenset({"need"}))


@pytest.mark.parametrize(
    ("status", "signals"),
    [
        ("Open - Not Contacted", SalesSignals(status=SalesStatus.OPEN)),
        ("Closed - Not Converted", SalesSignals(status=SalesStatus.REJECTED)),
        ("Nurture", SalesSignals(status=SalesStatus.NOT_NOW)),
        ("Closed - Converted", SalesSignals(stage=Stage.SQL)),
        ("Closed - Won", SalesSignals(stage=Stage.CUSTOMER)),
        ("Something else", SalesSignals()),
        (None, SalesSignals()),
    ],
)
def test_a_lead_status_says_what_sales_answered(
    org: Org, status: str | None, signals: SalesSignals
) -> None:
    mapping = MAPPING.model_copy(
        update={
            "lead_statuses": {**MAPPING.lead_statuses, "Nurture": SalesStatus.NOT_NOW},
            "status_stages": {**MAPPING.status_stages, "Closed - Won": Stage.CUSTOMER},
        }
    )
    org.answer("Lead", [lead("00Q000000000001", T0, Email="a@acme.example", Status=status)])
    (snapshot,) = _snapshots(_read(_reader(("Lead",), mapping)))
    assert snapshot.sales == signals


def test_bant_answers_are_the_checked_boxes(org: Org) -> None:
    org.answer(
        "Lead",
        [
            lead(
                "00Q000000000001",
                T0,
                Email="a@acme.example",
                LeadSync_BANT_Budget__c=True,
                LeadSync_BANT_Authority__c="true",
                LeadSync_BANT_Need__c=False,
                LeadSync_BANT_Timing__c=None,
            )
        ],
    )
    (snapshot,) = _snapshots(_read(_reader(("Lead",))))
    assert snapshot.sales is not None
    assert snapshot.sales.bant == frozenset({"budget", "authority"})


def test_profile_fields_keep_numbers_strip_text_and_follow_the_account(org: Org) -> None:
    org.answer(
        "Lead",
        [
            lead(
                "00Q000000000001",
                T0,
                Email="a@acme.example",
                Title="  Head of IT ",
                NumberOfEmployees=250,
                AnnualRevenue=5000000.0,
                Industry="",
                Country=None,
            )
        ],
    )
    org.answer(
        "Contact",
        [
            contact(
                "003000000000001",
                T1,
                Email="b@acme.example",
                Title="CTO",
                MailingCountry="FR",
                Phone="  ",
                Account=account(Industry="Software", NumberOfEmployees=40, AnnualRevenue=1.5e6),
            ),
            contact("003000000000002", T1, Email="c@acme.example", Title="Buyer", Account=None),
        ],
    )
    lead_snapshot, with_account, without_account = _snapshots(_read(_reader()))
    assert lead_snapshot.fields == {
        "job_title": "Head of IT",
        "company_size": 250,
        "annual_revenue": 5000000.0,
    }
    assert isinstance(lead_snapshot.fields["company_size"], int)
    assert isinstance(lead_snapshot.fields["annual_revenue"], float)
    assert with_account.fields == {
        "job_title": "CTO",
        "country": "FR",
        "industry": "Software",
        "company_size": 40,
        "annual_revenue": 1.5e6,
    }
    assert without_account.fields == {"job_title": "Buyer"}
    # A Contact's own record says nothing of sales' verdict.
    assert with_account.sales is None
    assert without_account.sales is None


def test_answers_spelling_a_field_otherwise_than_the_mapping_are_still_read(org: Org) -> None:
    mapping = MAPPING.model_copy(
        update={"profile": {"Lead.title": "job_title", "Title": "role", "EMAIL": "work_email"}}
    )
    org.answer("Lead", [lead("00Q000000000001", T0, Email="a@acme.example", Title="CTO")])
    (snapshot,) = _snapshots(_read(_reader(("Lead",), mapping)))
    selected = [name.lower() for name in _selected(org.queries()[0])]
    # Salesforce refuses a field selected twice, whatever the spelling.
    assert selected.count("title") == 1
    assert selected.count("email") == 1
    assert snapshot.fields == {"job_title": "CTO", "role": "CTO", "work_email": "a@acme.example"}


def test_a_won_opportunity_role_makes_its_contact_a_customer(org: Org) -> None:
    org.answer("OpportunityContactRole", [won_role("003000000000007", "Won@Acme.example", T3)])
    (snapshot,) = _snapshots(_read(_reader()))
    assert snapshot == ProfileSnapshot(
        source="salesforce",
        observed_at=AT[T3],
        email="Won@Acme.example",  # as read: the store lower-cases it
        ids={"salesforce": "003000000000007"},
        fields={},
        sales=SalesSignals(stage=Stage.CUSTOMER, won=True),
    )


def test_records_naming_no_one_are_set_aside_with_their_reason(org: Org) -> None:
    org.answer(
        "Lead",
        [
            lead("00Q000000000005", T0, IsConverted=True, ConvertedContactId=None),
            lead("00Q000000000006", T1, Email="kept@acme.example"),
        ],
    )
    org.answer("Contact", [contact("", T1, Email="  ")])
    org.answer("OpportunityContactRole", [won_role(None, None, T2)])
    pages = _read(_reader())

    assert [s.email for s in _snapshots(pages)] == ["kept@acme.example"]
    rejected = [reject for page in pages for reject in page.rejects]
    assert [(r.source, r.location, r.line) for r in rejected] == [
        ("salesforce", "Lead 00Q000000000005", None),
        ("salesforce", "Contact (no id)", None),
        ("salesforce", "OpportunityContactRole (no id)", None),
    ]
    assert "ConvertedContactId" in rejected[0].reason
    assert json.loads(rejected[0].raw)["Id"] == "00Q000000000005"
    assert "attributes" not in json.loads(rejected[1].raw)
    # The converted Lead's own id is never handed on.
    assert all("00Q000000000005" not in s.ids.values() for s in _snapshots(pages))
    # The cursor still moves past them: they would be set aside again.
    assert json.loads(pages[-1].cursor or "")["won"] == "2026-11-26T12:30:00.000Z"


def test_the_api_budget_stops_the_read_and_keeps_the_pages_read(org: Org) -> None:
    org.headers = {"Sforce-Limit-Info": "api-usage=95/100"}
    org.answer("Lead", [lead("00Q000000000001", T0, Email="a@acme.example")])
    reader = _reader()
    pages = reader.read_changes(None)
    first = next(pages)
    assert [s.email for s in first.snapshots] == ["a@acme.example"]
    with pytest.raises(LimitReachedError, match="api_share"):
        next(pages)
    assert len(org.queries()) == 1  # no call past the share


# -- through the store -----------------------------------------------------------------------


def _ingest_one(engine: Engine, tmp_path: Any, email: str) -> None:
    path = tmp_path / "forms.jsonl"
    path.write_bytes(
        orjson.dumps(
            {
                "id": "form-1",
                "kind": "quote_request",
                "occurred_at": "2026-11-20T09:00:00Z",
                "email": email,
            }
        )
        + b"\n"
    )
    ingest(engine, FileSource("forms", path), command="ingest", resume=False)


def _profiles(engine: Engine) -> dict[int, tuple[str | None, Mapping[str, Any]]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(contacts.c.id, contacts.c.email, contacts.c.profile))
        return {int(row.id): (row.email, row.profile or {}) for row in rows}


def _linked(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(identities.c.value, identities.c.contact_id).where(
                identities.c.namespace == "salesforce"
            )
        )
        return {str(value): int(contact_id) for value, contact_id in rows}


def test_a_read_through_the_store_lands_on_the_contact_whatever_the_case(
    org: Org, engine: Engine, tmp_path: Any
) -> None:
    _ingest_one(engine, tmp_path, "ada@acme.example")
    ((ada, _),) = _profiles(engine).items()
    org.answer(
        "Lead",
        [
            lead(
                "00Q000000000001",
                T0,
                Email="Ada@ACME.example",
                Title="CTO",
                NumberOfEmployees=250,
                Status="Closed - Not Converted",
                LeadSync_BANT_Budget__c=True,
            )
        ],
    )
    org.answer("OpportunityContactRole", [won_role("003000000000002", "new@acme.example", T3)])
    reader: CrmReader = _reader()

    summary = read_crm(engine, reader)

    assert summary.snapshots == 2
    assert summary.rejected == 0
    profiles = _profiles(engine)
    assert len(profiles) == 2  # Ada, and the won contact nobody knew yet
    email, profile = profiles[ada]
    assert email == "ada@acme.example"
    assert profile["job_title"] == "CTO"
    assert profile["company_size"] == 250
    assert profile["sales_status"] == "rejected"
    assert profile["bant_budget"] is True
    assert profile["deal_won"] is False
    assert _linked(engine)["00Q000000000001"] == ada
    won = _linked(engine)["003000000000002"]
    assert profiles[won][0] == "new@acme.example"
    assert profiles[won][1]["deal_won"] is True
    assert profiles[won][1]["sales_stage"] == "customer"

    stored = json.loads(read_cursor(engine, cursor_name_of(reader)) or "")
    assert stored.pop("won_roles")
    assert stored == {
        "Lead": "2026-11-26T10:00:00.000Z",
        "won": "2026-11-27T08:15:00.000Z",
    }
    # The next read starts from the stored cursor, and a converted Lead's Contact lands on
    # the same person through the e-mail.
    org.answer(
        "Lead",
        [
            lead(
                "00Q000000000001",
                T2,
                Email="ADA@acme.example",
                IsConverted=True,
                ConvertedContactId="003000000000001",
            )
        ],
    )
    org.answer("OpportunityContactRole")
    read_crm(engine, reader)
    assert "WHERE SystemModstamp >= 2026-11-26T09:55:00.000Z " in org.queries()[3]
    assert _linked(engine)["003000000000001"] == ada
    assert _profiles(engine)[ada][1]["sales_stage"] == "sql"
    assert len(_profiles(engine)) == 2
