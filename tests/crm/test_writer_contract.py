"""One contract for every ``CrmWriter``: HubSpot (the official client against a local
server speaking HubSpot's JSON), Salesforce (simple-salesforce against an org in memory,
behind ``responses``) and the in-memory writer the push-core tests use.

Each test writes records straight through ``writer.write`` and checks the results against
what the CRM then holds. Where the real writers differ, the contract is what they share,
and the difference is marked where it shows (``xfail``, with the reason).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Protocol

import pytest
import responses
from simple_salesforce.api import Salesforce

from adapters.hubspot.writer import hubspot_writer
from adapters.salesforce.client import SalesforceApi
from adapters.salesforce.writer import COLLECTION_SIZE, SalesforceWriter
from connector.errors import LeadsyncError, LimitReachedError, WriteInterruptedError
from connector.ports import CrmRecordWrite, CrmWriter, WriteResult
from tests.adapters.hubspot_fake import CONTACTS_SPEC, FakeHubSpot, SpecValidator
from tests.adapters.salesforce_fake import (
    INSTANCE,
    ITEMS_DIR,
    VERSION,
    FakeOrg,
    serve_with_responses,
)
from tests.crm.memory_writer import MemoryCrm

HUBSPOT_TOKEN = "pat-na1-0123abcd-4567-89ef-0123-456789abcdef"
SCORE = 20.0


class Crm(Protocol):
    """A CRM and its writer, as the contract sees them."""

    per_call: int  # records one write call to the CRM carries
    score_field: str

    def add(self, email: str) -> str:
        """A record the CRM holds already; its id."""
        ...

    def find(self, email: str) -> str | None: ...

    def score_of(self, crm_id: str) -> float | None: ...

    def refuse(self, crm_id: str) -> None:
        """Make the CRM refuse writes to ``crm_id`` (a validation rule, say)."""
        ...

    def limit_after_calls(self, calls: int) -> None:
        """Make the CRM's API limit stop the writer after ``calls`` more write calls."""
        ...

    def fail_after_calls(self, calls: int) -> None:
        """Make the call after ``calls`` more write calls fail, beyond the writer's retries."""
        ...

    def writer(self) -> CrmWriter: ...


@dataclass
class HubSpotCrm:
    fake: FakeHubSpot
    base_url: str
    per_call: int = 2  # batch_size, small so that a few records take several calls
    score_field: str = "leadsync_score"

    def add(self, email: str) -> str:
        return self.fake.add_contact(email)

    def find(self, email: str) -> str | None:
        return self.fake.by_email(email)

    def score_of(self, crm_id: str) -> float | None:
        value = self.fake.contacts[crm_id].get(self.score_field)
        return float(value) if value else None  # "" is HubSpot's cleared value

    def refuse(self, crm_id: str) -> None:
        self.fake.refuse_ids.add(crm_id)

    def limit_after_calls(self, calls: int) -> None:
        self.fake.daily_limit_after_writes = len(self.fake.writes()) + calls

    def fail_after_calls(self, calls: int) -> None:
        # A revoked token: a 429 or a 5xx goes through urllib3's retries and their waits,
        # a 401 does not.
        self.fake.revoke_token_after_calls = len(self.fake.calls) + calls

    def writer(self) -> CrmWriter:
        # One call in flight, so "after N calls" names the same records every run.
        return hubspot_writer(
            base_url=self.base_url,
            requests_per_10s=1_000,
            batch_size=self.per_call,
            timeout_s=10,
            in_flight=1,
        )


@dataclass
class SalesforceCrm:
    org: FakeOrg
    per_call: int = COLLECTION_SIZE  # fixed by Salesforce's sObject Collections
    score_field: str = "LeadSync_Score__c"

    def add(self, email: str) -> str:
        return self.org.add("Contact", email)

    def find(self, email: str) -> str | None:
        return next(
            (
                crm_id
                for crm_id, record in self.org.records.items()
                if str(record["Email"]).lower() == email.lower()
            ),
            None,
        )

    def score_of(self, crm_id: str) -> float | None:
        value = self.org.records[crm_id].get(self.score_field)
        return None if value is None else float(value)

    def refuse(self, crm_id: str) -> None:
        self.org.refuse[crm_id] = ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Score needs a country")

    def limit_after_calls(self, calls: int) -> None:
        self.org.limit_after_calls = len(self.org.calls) + calls

    def fail_after_calls(self, calls: int) -> None:
        # A 500 on that call and on every retry of it.
        self.org.server_errors_from = len(self.org.calls) + calls + 1

    def writer(self) -> CrmWriter:
        sf = Salesforce(instance_url=INSTANCE, session_id=self.org.token, version=VERSION)
        api = SalesforceApi(sf, sleep=lambda _: None)  # retries without their waits
        return SalesforceWriter(api, sleep=lambda _: None, bulk_poll_s=0)


@dataclass
class InMemoryCrm:
    memory: MemoryCrm
    per_call: int = 1  # it takes records one by one
    score_field: str = "score"

    def add(self, email: str) -> str:
        return self.memory.add(email)

    def find(self, email: str) -> str | None:
        return self.memory.by_email(email)

    def score_of(self, crm_id: str) -> float | None:
        value = self.memory.records[crm_id].get(self.score_field)
        return None if value is None else float(value)

    def refuse(self, crm_id: str) -> None:
        email = str(self.memory.records[crm_id]["email"])
        self.memory.refused[email.lower()] = "memory CRM: the e-mail is on the block list"

    def limit_after_calls(self, calls: int) -> None:
        self.memory.limit_after = self.memory.taken + calls

    def fail_after_calls(self, calls: int) -> None:
        self.memory.interrupt_after = self.memory.taken + calls

    def writer(self) -> CrmWriter:
        return self.memory


# The fakes check each call against the vendor's own files: without them, they cannot run.
WITH_HUBSPOT_SPECS = pytest.mark.skipif(
    not CONTACTS_SPEC.exists(), reason=f"HubSpot's OpenAPI files are not at {CONTACTS_SPEC}"
)
HUBSPOT = pytest.param("hubspot", marks=WITH_HUBSPOT_SPECS)
SALESFORCE = pytest.param(
    "salesforce",
    marks=pytest.mark.skipif(
        not ITEMS_DIR.exists(), reason=f"Salesforce's request collection is not at {ITEMS_DIR}"
    ),
)
MEMORY = "memory"


@pytest.fixture(params=[HUBSPOT, SALESFORCE, MEMORY])
def crm(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Crm]:
    if request.param == "hubspot":
        httpserver = request.getfixturevalue("httpserver")
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", HUBSPOT_TOKEN)
        fake = FakeHubSpot(SpecValidator(CONTACTS_SPEC), token=HUBSPOT_TOKEN)
        httpserver.expect_request(
            re.compile(r"^/crm/v3/objects/contacts(/.*)?$")
        ).respond_with_handler(fake.handle)
        yield HubSpotCrm(fake, httpserver.url_for("/").rstrip("/"))
    elif request.param == "salesforce":
        org = FakeOrg()
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
            serve_with_responses(org, mocked)
            yield SalesforceCrm(org)
    else:
        yield InMemoryCrm(MemoryCrm())


def _record(contact_id: int, email: str, crm_id: str | None, crm: Crm) -> CrmRecordWrite:
    return CrmRecordWrite(contact_id, email, crm_id, {crm.score_field: SCORE})


def _known(crm: Crm, count: int) -> list[CrmRecordWrite]:
    """``count`` records the CRM holds, by id, numbered from contact 1."""
    emails = [f"p{n}@acme.example" for n in range(1, count + 1)]
    return [_record(n, email, crm.add(email), crm) for n, email in enumerate(emails, start=1)]


def _ok(record: CrmRecordWrite) -> WriteResult:
    return WriteResult(record.contact_id, "ok", crm_id=record.crm_id)


def _scores(crm: Crm, records: list[CrmRecordWrite]) -> list[float | None]:
    return [crm.score_of(record.crm_id or "") for record in records]


def test_each_record_gets_one_result_by_its_contact(crm: Crm) -> None:
    """Known by id, found by e-mail, created, or deferred: one result each, with the
    record's contact and the CRM id written to."""
    by_id = crm.add("known@acme.example")
    by_email = crm.add("found@acme.example")
    records = [
        _record(1, "known@acme.example", by_id, crm),
        _record(2, "found@acme.example", None, crm),
        replace(_record(3, "new@acme.example", None, crm), may_create=True),
        _record(4, "absent@acme.example", None, crm),
    ]

    results = crm.writer().write(records, linked={by_id: 1})

    created = crm.find("new@acme.example")
    assert created is not None
    ordered = sorted(results, key=lambda result: result.contact_id)
    assert [replace(result, reason=None) for result in ordered] == [
        WriteResult(1, "ok", crm_id=by_id),
        WriteResult(2, "ok", crm_id=by_email),
        WriteResult(3, "ok", crm_id=created),
        WriteResult(4, "deferred"),
    ]
    assert ordered[3].reason  # why it was not written
    assert [crm.score_of(crm_id) for crm_id in (by_id, by_email, created)] == [SCORE] * 3
    assert crm.find("absent@acme.example") is None


def test_a_record_whose_fields_are_already_equal_is_written_again_and_ok(crm: Crm) -> None:
    """The writer does not compare with the CRM (the push core does): the same fields
    twice are answered ok twice."""
    records = _known(crm, 1)
    writer = crm.writer()

    first = writer.write(records)
    again = writer.write(records)

    assert first == again == [_ok(records[0])]
    assert _scores(crm, records) == [SCORE]


def test_a_refused_record_is_rejected_with_a_reason_and_the_others_are_written(
    crm: Crm,
) -> None:
    """One refusal in a call: that record rejected with the CRM's reason, the rest ok."""
    records = _known(crm, 3)
    crm.refuse(records[1].crm_id or "")

    results = sorted(crm.writer().write(records), key=lambda result: result.contact_id)

    assert [replace(result, reason=None) for result in results] == [
        _ok(records[0]),
        WriteResult(2, "rejected", crm_id=records[1].crm_id),
        _ok(records[2]),
    ]
    assert isinstance(results[1].reason, str) and results[1].reason.strip()
    assert _scores(crm, records) == [SCORE, None, SCORE]


def test_an_email_found_on_a_record_linked_to_another_contact_is_rejected_not_written(
    crm: Crm,
) -> None:
    """A CRM id already linked to contact 1, found by contact 2's e-mail: rejected."""
    crm_id = crm.add("shared@acme.example")

    results = crm.writer().write([_record(2, "shared@acme.example", None, crm)], linked={crm_id: 1})

    assert [replace(result, reason=None) for result in results] == [WriteResult(2, "rejected")]
    assert (
        f"{crm_id}, found by the e-mail shared@acme.example, is already linked to leadsync "
        "contact #1; merge or fix the e-mails"
    ) in (results[0].reason or "")
    assert crm.score_of(crm_id) is None


def test_a_limit_stop_carries_exactly_the_records_taken_and_when_to_retry(crm: Crm) -> None:
    """Stopped after one call: LimitReachedError with that call's results, nothing after
    it written, and a timezone-aware time to retry after."""
    records = _known(crm, crm.per_call + 1)
    crm.limit_after_calls(1)

    with pytest.raises(LimitReachedError) as stopped:
        crm.writer().write(records)

    taken = records[: crm.per_call]
    assert sorted(stopped.value.results, key=lambda result: result.contact_id) == [
        _ok(record) for record in taken
    ]
    retry_after = stopped.value.retry_after
    assert retry_after.tzinfo is not None and retry_after.utcoffset() is not None
    assert _scores(crm, records) == [SCORE] * len(taken) + [None]


def test_a_failure_before_the_crm_took_anything_raises_the_bare_cause(crm: Crm) -> None:
    """The first call fails: the cause itself, not a WriteInterruptedError, and nothing
    written."""
    records = _known(crm, crm.per_call + 1)
    crm.fail_after_calls(0)

    with pytest.raises(LeadsyncError) as failed:
        crm.writer().write(records)

    assert not isinstance(failed.value, WriteInterruptedError | LimitReachedError)
    assert _scores(crm, records) == [None] * len(records)


def test_a_failure_after_the_crm_took_some_records_hands_them_over(crm: Crm) -> None:
    """The second call fails: WriteInterruptedError with the first call's results and
    the failure as its cause."""
    records = _known(crm, crm.per_call + 1)
    crm.fail_after_calls(1)

    with pytest.raises(WriteInterruptedError) as interrupted:
        crm.writer().write(records)

    taken = records[: crm.per_call]
    assert sorted(interrupted.value.results, key=lambda result: result.contact_id) == [
        _ok(record) for record in taken
    ]
    assert not isinstance(interrupted.value.cause, WriteInterruptedError | LimitReachedError)
    assert _scores(crm, records) == [SCORE] * len(taken) + [None]


def test_a_field_cleared_first_ends_holding_the_value_set_and_is_ok(crm: Crm) -> None:
    """``clear_first`` (a stage moved back): however the writer does it — a clear and a
    later set, a set checked by reading it back, one write where nothing only moves
    forward — the CRM ends holding the value set, and the record is ok."""
    (record,) = _known(crm, 1)
    writer = crm.writer()
    writer.write([replace(record, fields={crm.score_field: 90.0})])

    results = writer.write([replace(record, clear_first=(crm.score_field,))])

    assert results == [_ok(record)]
    assert _scores(crm, [record]) == [SCORE]


def test_a_failure_after_a_clear_hands_over_what_the_crm_holds(crm: Crm) -> None:
    """Records with ``clear_first``, the call after the first failing: every record the
    CRM changed is handed over, ok when it holds the value set, else with what it holds
    (a clear that no set followed: None) in ``applied``; none it left alone is ok."""
    records = [
        replace(record, clear_first=(crm.score_field,)) for record in _known(crm, crm.per_call + 1)
    ]
    writer = crm.writer()
    writer.write([replace(record, fields={crm.score_field: 90.0}) for record in records])
    crm.fail_after_calls(1)

    with pytest.raises(WriteInterruptedError) as interrupted:
        writer.write(records)

    handed = {result.contact_id: result for result in interrupted.value.results}
    held = {record.contact_id: crm.score_of(record.crm_id or "") for record in records}
    assert {contact_id for contact_id, score in held.items() if score != 90.0} <= set(handed)
    for contact_id, result in handed.items():
        if result.status == "ok":
            assert held[contact_id] == SCORE
        else:
            assert result.applied == {crm.score_field: held[contact_id]}
