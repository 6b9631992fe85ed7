"""Pushing to Salesforce through simple-salesforce, against an org in memory answering in
Salesforce's shapes (``responses``: simple-salesforce sends through requests), on both
stores; and once end to end through the CLI against a local TLS server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import requests
import responses
import sqlalchemy as sa
from simple_salesforce.api import Salesforce
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

from adapters.salesforce.client import SalesforceApi
from adapters.salesforce.writer import SalesforceWriter, email_batches
from connector.crm.mapping import load_mapping
from connector.errors import ExitCode, LimitReachedError, RetriableError
from connector.ports import CrmRecordWrite, WriteResult
from connector.runners.push import PushSummary, push
from connector.store.schema import identities, rejects
from tests.adapters.salesforce_fake import (
    INSTANCE,
    ITEMS_DIR,
    VERSION,
    FakeOrg,
    TlsOrg,
    serve_with_responses,
)
from tests.adapters.scored_people import scored_people as _people
from tests.conftest import REPO_ROOT

MAPPING = load_mapping(REPO_ROOT / "mappings" / "salesforce.toml")

pytestmark = pytest.mark.skipif(
    not ITEMS_DIR.exists(), reason=f"Salesforce's request collection is not at {ITEMS_DIR}"
)


@pytest.fixture
def org() -> Iterator[FakeOrg]:
    org = FakeOrg()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        serve_with_responses(org, mocked)
        yield org


def _writer(
    org: FakeOrg,
    *,
    bulk_above: int = 10_000,
    api_share: float = 0.8,
    waits: list[float] | None = None,
) -> SalesforceWriter:
    """A writer whose retries record their waits in ``waits`` instead of sleeping."""
    sf = Salesforce(instance_url=INSTANCE, session_id=org.token, version=VERSION)
    waited = [] if waits is None else waits
    return SalesforceWriter(
        SalesforceApi(sf, api_share=api_share, sleep=waited.append),
        bulk_above=bulk_above,
        sleep=lambda _: None,
        bulk_poll_s=0,
    )


def _push(org: FakeOrg, engine: Engine, **options: object) -> PushSummary:
    create = str(options.pop("create", "never"))
    return push(engine, _writer(org, **options), MAPPING, create=create)  # type: ignore[arg-type]


def _link_all(engine: Engine, org: FakeOrg, emails: list[str], sobject: str) -> list[str]:
    return [org.add(sobject, email.upper() if n % 2 else email) for n, email in enumerate(emails)]


def test_450_changed_records_take_3_collection_calls_and_a_rerun_none(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 450)
    # Half Leads, half Contacts, e-mails in another case: one look-up, shared writes.
    for n, email in enumerate(emails):
        org.add("Lead" if n % 2 else "Contact", email.upper() if n % 3 else email)

    summary = _push(org, engine)
    assert (summary.written, summary.rejected, summary.deferred) == (450, 0, 0)
    assert [len(batch) for batch in org.writes()] == [200, 200, 50]
    # Grouped by object (Salesforce refuses more than ten runs of one type in a call):
    # the call in the middle carries the last Contacts and the first Leads.
    assert [[record["attributes"]["type"] for record in batch][::25] for batch in org.writes()] == [
        ["Contact"] * 8,
        ["Contact"] + ["Lead"] * 7,
        ["Lead"] * 2,
    ]
    first = org.records[next(iter(org.written_ids()))]
    assert first["LeadSync_Score__c"] == 20
    assert first["LeadSync_Temperature__c"] == "Warm"
    assert first["LeadSync_Route__c"] == "Sales"
    assert first["LeadSync_Stage__c"] == "mql"
    assert first["LeadSync_Scored_At__c"].endswith("Z")
    with engine.connect() as connection:
        linked = connection.execute(
            sa.select(sa.func.count()).where(identities.c.namespace == "salesforce")
        ).scalar_one()
    assert linked == 450

    calls_before = len(org.calls)
    again = _push(org, engine)
    assert (again.written, again.unchanged) == (0, 450)
    assert len(org.calls) == calls_before  # no look-up, no write: the ids were linked


def test_mixed_results_are_read_by_position_and_refusals_kept_as_rejects(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 5)
    ids = _link_all(engine, org, emails, "Lead")
    org.refuse[ids[1]] = ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Score needs a country")
    org.refuse[ids[3]] = ("STRING_TOO_LONG", "Reasons: data value too large")

    summary = _push(org, engine)
    assert (summary.written, summary.rejected) == (3, 2)
    assert summary.rejected_reasons == {
        "FIELD_CUSTOM_VALIDATION_EXCEPTION: Score needs a country (fields: LeadSync_Score__c)": 1,
        "STRING_TOO_LONG: Reasons: data value too large (fields: LeadSync_Score__c)": 1,
    }
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(rejects.c.location, rejects.c.reason).where(
                rejects.c.source == "push:salesforce"
            )
        ).all()
    assert sorted(location for location, _ in stored) == [
        f"contact {emails[1]}",
        f"contact {emails[3]}",
    ]
    assert "LeadSync_Score__c" not in org.records[ids[1]]
    assert org.records[ids[2]]["LeadSync_Score__c"] == 20


def test_a_lead_found_converted_is_written_on_its_contact_at_once(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    (email,) = _people(engine, tmp_path, 1)
    contact_id = org.convert(org.add("Lead", email))

    assert _push(org, engine).written == 1
    assert org.written_ids() == {contact_id: 1}  # no refused call first


def test_a_lead_converted_since_it_was_linked_is_followed_to_its_contact_in_the_same_run(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 3)
    lead_ids = _link_all(engine, org, emails, "Lead")
    assert _push(org, engine).written == 3
    contact_id = org.convert(lead_ids[0])
    _people(engine, tmp_path, 3, kind="document_download")  # every score changes
    calls_before = len(org.calls)

    summary = _push(org, engine)
    assert (summary.written, summary.rejected) == (3, 0)
    # The update of all three, the converted Lead's Contact read (one query for every
    # converted Lead of the run), then written.
    new_calls = [
        (method, path.rsplit("/v62.0/", 1)[1]) for method, path, _ in org.calls[calls_before:]
    ]
    assert new_calls == [
        ("PATCH", "composite/sobjects"),
        ("GET", "query/"),
        ("PATCH", "composite/sobjects"),
    ]
    assert [record["id"] for record in org.writes()[-1]] == [contact_id]
    assert org.records[contact_id]["LeadSync_Score__c"] == 25
    with engine.connect() as connection:
        linked = connection.execute(
            sa.select(identities.c.value).where(identities.c.value == contact_id)
        ).scalar_one_or_none()
    assert linked == contact_id
    # The next push goes to the Contact directly.
    _people(engine, tmp_path, 3, kind="callback_request")
    before = len(org.writes())
    assert _push(org, engine).written == 3
    assert [record["id"] for record in org.writes()[before]].count(contact_id) == 1
    assert len(org.writes()) == before + 1


def test_a_locked_row_is_sent_again_alone(org: FakeOrg, engine: Engine, tmp_path: Path) -> None:
    emails = _people(engine, tmp_path, 4)
    ids = _link_all(engine, org, emails, "Contact")
    org.locked[ids[2]] = 2

    summary = _push(org, engine)
    assert (summary.written, summary.deferred) == (4, 0)
    assert [[record["id"] for record in batch] for batch in org.writes()] == [
        ids,
        [ids[2]],
        [ids[2]],
    ]


def test_a_row_locked_past_the_retries_is_kept_for_the_next_push(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 2)
    ids = _link_all(engine, org, emails, "Contact")
    org.locked[ids[0]] = 10
    summary = _push(org, engine)
    assert (summary.written, summary.deferred) == (1, 1)
    org.locked[ids[0]] = 0
    again = _push(org, engine)
    assert (again.written, again.unchanged) == (1, 1)
    assert org.records[ids[0]]["LeadSync_Score__c"] == 20


def test_the_limit_exceeded_mid_push_stops_it_and_the_next_push_sends_only_the_rest(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 450)
    _link_all(engine, org, emails, "Lead")
    # The look-ups by e-mail (Contacts, then Leads, in lists under the URI limit) and one
    # write, then the org's allowance is gone.
    look_ups = 2 * len(
        list(email_batches(sorted(emails), "SELECT Id, Email FROM Lead WHERE Email IN ()"))
    )
    org.limit_after_calls = look_ups + 1

    with pytest.raises(LimitReachedError) as stopped:
        _push(org, engine)
    message = str(stopped.value)
    assert "REQUEST_LIMIT_EXCEEDED" in message
    assert "200 written, 250 kept for the next push; retry after 20" in message
    assert stopped.value.exit_code == ExitCode.LIMIT_REACHED
    # The refused write was the last call: no retry, nothing after it.
    assert len(org.calls) == look_ups + 2
    assert [method for method, _, _ in org.calls[-2:]] == ["PATCH", "PATCH"]

    org.limit_after_calls = None
    resumed = _push(org, engine)
    assert (resumed.written, resumed.unchanged) == (250, 200)
    assert set(org.written_ids().values()) == {1}  # each record written exactly once
    assert len(org.written_ids()) == 450


def test_the_api_share_ends_the_push_before_the_org_runs_out(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 450)
    _link_all(engine, org, emails, "Contact")
    org.used, org.allowed = 78, 100  # each answer says one more

    with pytest.raises(LimitReachedError) as stopped:
        _push(org, engine)
    assert "80 of its 100 daily API requests" in str(stopped.value)
    # Look-ups answered at 79 and 80 of 100: 80 % reached, no write was sent.
    assert org.writes() == []


def test_a_large_push_goes_through_a_bulk_job_whose_failed_rows_become_rejects(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 12)
    lead_ids = _link_all(engine, org, emails[:7], "Lead")
    contact_ids = _link_all(engine, org, emails[7:], "Contact")
    assert _push(org, engine).written == 12  # linked through collections first
    org.refuse[lead_ids[4]] = ("INVALID_EMAIL_ADDRESS", "Email: invalid email address")
    org.refuse[contact_ids[1]] = ("FIELD_INTEGRITY_EXCEPTION", "bad value")
    _people(engine, tmp_path, 12, kind="document_download")
    writes_before = len(org.writes())

    summary = _push(org, engine, bulk_above=5)
    assert (summary.written, summary.rejected) == (10, 2)
    assert len(org.writes()) == writes_before  # no collections call
    jobs = list(org.jobs.values())
    assert sorted(job["object"] for job in jobs) == ["Contact", "Lead"]
    assert org.records[lead_ids[0]]["LeadSync_Score__c"] == "25"
    assert set(summary.rejected_reasons) == {
        "INVALID_EMAIL_ADDRESS:Email: invalid email address",
        "FIELD_INTEGRITY_EXCEPTION:bad value",
    }
    # A field leadsync blanks travels as #N/A; an unchanged one as an empty cell.
    uploaded = next(job for job in jobs if job["object"] == "Lead")["rows"][0]
    assert uploaded["LeadSync_Scored_At__c"] != ""
    again = _push(org, engine, bulk_above=5)
    assert again.written == 0 and org.jobs.keys() == {job["id"] for job in jobs}


def test_records_unknown_to_salesforce_are_created_as_leads_only_when_allowed(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    _people(engine, tmp_path, 3)
    deferred = _push(org, engine)
    assert (deferred.written, deferred.deferred) == (0, 3)
    created = _push(org, engine, create="mql")
    assert created.written == 3
    leads = [r for r in org.records.values() if r["attributes"]["type"] == "Lead"]
    assert len(leads) == 3 and {lead["Company"] for lead in leads} == {"[not provided]"}


def test_email_look_ups_stay_well_under_the_uri_limit() -> None:
    emails = [f"someone.with.a.long.name.{n}@a-rather-long-domain.example" for n in range(2_000)]
    select = "SELECT Id, Email FROM Contact WHERE Email IN ()"
    batches = list(email_batches(emails, select))
    assert sum(len(batch) for batch in batches) == 2_000
    assert len(batches) > 1
    for batch in batches:
        query = select.replace("()", "(" + ",".join(f"'{email}'" for email in batch) + ")")
        url = f"{INSTANCE}/services/data/v{VERSION}/query/?" + __import__(
            "urllib.parse"
        ).parse.urlencode({"q": query})
        assert len(url) < 16_384 // 2 + 200


def test_an_apostrophe_in_an_email_is_escaped_in_the_look_up_as_soql_wants() -> None:
    """The look-up's IN list quotes each address with SOQL's escapes (o\\'brien): the
    Contact is found and written, the other address is looked up among Leads."""
    contact_id = "003000000000001AAA"
    query_url = f"{INSTANCE}/services/data/v{VERSION}/query/"
    no_records = {"totalSize": 0, "done": True, "records": []}
    sf = Salesforce(instance_url=INSTANCE, session_id="00Dxx!look-up-token", version=VERSION)
    records = [
        CrmRecordWrite(1, "O'Brien@example.com", None, {"LeadSync_Score__c": 20.0}),
        CrmRecordWrite(2, "ada@example.com", None, {"LeadSync_Score__c": 20.0}),
    ]
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mocked:
        for soql, answer in (
            (
                "SELECT Id, Email FROM Contact WHERE Email IN "
                "('ada@example.com','o\\'brien@example.com') ORDER BY CreatedDate",
                {
                    "totalSize": 1,
                    "done": True,
                    "records": [
                        {
                            "attributes": {"type": "Contact"},
                            "Id": contact_id,
                            "Email": "o'brien@example.com",
                        }
                    ],
                },
            ),
            (
                "SELECT Id, Email, IsConverted, ConvertedContactId FROM Lead WHERE Email IN "
                "('ada@example.com') ORDER BY IsConverted, CreatedDate",
                no_records,
            ),
        ):
            mocked.get(
                query_url,
                match=[responses.matchers.query_param_matcher({"q": soql})],
                json=answer,
            )
        mocked.patch(
            f"{INSTANCE}/services/data/v{VERSION}/composite/sobjects",
            json=[{"id": contact_id, "success": True, "errors": []}],
        )

        results = SalesforceWriter(SalesforceApi(sf), sleep=lambda _: None).write(records)

    assert results == [
        WriteResult(1, "ok", crm_id=contact_id),
        WriteResult(
            2,
            "deferred",
            reason="not in Salesforce and [crm.salesforce] create does not allow creating it",
        ),
    ]


def test_the_cli_pushes_over_tls_and_stops_on_the_limit_with_no_secret_in_its_output(
    tmp_path: Path,
) -> None:
    from tests.cli.test_cli import clean_env, leadsync, write_jsonl

    org = FakeOrg()
    server = TlsOrg(org, tmp_path)
    try:
        folder = tmp_path / "project"
        assert leadsync("init", folder, cwd=tmp_path).returncode == 0
        config = folder / "config.toml"
        config.write_text(
            config.read_text(encoding="utf-8") + '\n[crm.salesforce]\napi_version = "62.0"\n',
            encoding="utf-8",
        )
        people = [f"p{n}@acme.example" for n in range(250)]
        write_jsonl(
            folder / "events.jsonl",
            [
                {"kind": "quote_request", "occurred_at": "2026-11-02T10:00:00Z", "email": email}
                for email in people
            ],
        )
        for command in (["ingest", "events.jsonl"], ["score"]):
            assert leadsync("--config", config, *command, cwd=folder).returncode == 0
        for email in people:
            org.add("Contact", email)
        env = clean_env(
            SALESFORCE_ACCESS_TOKEN=org.token,
            SALESFORCE_INSTANCE_URL=server.url,
            REQUESTS_CA_BUNDLE=str(server.ca_file),
        )

        planned = leadsync(
            "--config", config, "push", "--crm", "salesforce", "--dry-run", cwd=folder, env=env
        )
        assert planned.returncode == 0, planned.stderr
        assert "salesforce: 250 would write" in planned.stdout
        assert org.calls == []

        org.limit_after_calls = 2  # one look-up, one write of 200, then refused
        stopped = leadsync(
            "--config", config, "--debug", "push", "--crm", "salesforce", cwd=folder, env=env
        )
        assert stopped.returncode == int(ExitCode.LIMIT_REACHED), stopped.stderr
        last = stopped.stderr.strip().splitlines()[-1]
        assert "REQUEST_LIMIT_EXCEEDED" in last and "retry after 20" in last
        assert "salesforce: 200 written" in stopped.stdout
        assert org.token not in stopped.stdout + stopped.stderr

        org.limit_after_calls = None
        resumed = leadsync(
            "--config", config, "push", "--crm", "salesforce", "--json", cwd=folder, env=env
        )
        assert resumed.returncode == 0, resumed.stderr
        (figures,) = orjson.loads(resumed.stdout)
        assert (figures["written"], figures["unchanged"]) == (50, 200)
        assert set(org.written_ids().values()) == {1}

        # Without the test CA, requests refuses the server's certificate.
        write_jsonl(
            folder / "more.jsonl",
            [
                {
                    "kind": "callback_request",
                    "occurred_at": "2026-11-03T10:00:00Z",
                    "email": people[0],
                }
            ],
        )
        for command in (["ingest", "more.jsonl"], ["score"]):
            assert leadsync("--config", config, *command, cwd=folder).returncode == 0
        untrusted = {k: v for k, v in env.items() if k != "REQUESTS_CA_BUNDLE"}
        refused = leadsync(
            "--config", config, "push", "--crm", "salesforce", cwd=folder, env=untrusted
        )
        assert refused.returncode != 0 and "SSLError" in refused.stderr
        assert org.token not in refused.stdout + refused.stderr
    finally:
        server.close()


def test_sync_reads_what_sales_said_in_salesforce_scores_and_writes_the_stages_back(
    tmp_path: Path,
) -> None:
    from tests.cli.test_cli import clean_env, leadsync, write_jsonl

    org = FakeOrg()
    ann = org.add(
        "Lead",
        "Ann@Acme.example",
        Status="Working - Contacted",
        Title="CTO",
        **{
            f"LeadSync_BANT_{answer}__c": True
            for answer in ("Budget", "Authority", "Need", "Timing")
        },
    )
    bob = org.add("Lead", "bob@acme.example", Status="Closed - Not Converted")
    cy = org.add("Contact", "cy@acme.example", Title="Buyer")
    org.win(cy)
    server = TlsOrg(org, tmp_path)
    try:
        folder = tmp_path / "project"
        assert leadsync("init", folder, cwd=tmp_path).returncode == 0
        config = folder / "config.toml"
        config.write_text(
            config.read_text(encoding="utf-8")
            + '\n[crm.salesforce]\n\n[sources.forms]\ntype = "file"\npath = "forms.jsonl"\n',
            encoding="utf-8",
        )
        write_jsonl(
            folder / "forms.jsonl",
            [
                {"kind": kind, "occurred_at": f"2026-11-02T1{n}:00:00Z", "email": email}
                for email in ("ann@acme.example", "bob@acme.example", "cy@acme.example")
                for n, kind in enumerate(("quote_request", "callback_request"))
            ],
        )
        env = clean_env(
            SALESFORCE_ACCESS_TOKEN=org.token,
            SALESFORCE_INSTANCE_URL=server.url,
            REQUESTS_CA_BUNDLE=str(server.ca_file),
        )
        synced = leadsync("--config", config, "sync", "--json", cwd=folder, env=env)
        assert synced.returncode == 0, synced.stderr
        figures = orjson.loads(synced.stdout)
        assert figures["read"][0]["snapshots"] == 4  # 2 Leads, 1 Contact, 1 won role
        assert figures["pushed"][0]["written"] == 3
        stages = {
            name: org.records[crm_id]["LeadSync_Stage__c"]
            for name, crm_id in (("ann", ann), ("bob", bob), ("cy", cy))
        }
        assert stages == {"ann": "sql", "bob": "nurturing", "cy": "customer"}
        assert org.records[ann]["LeadSync_Score__c"] == 30
        assert org.token not in synced.stdout + synced.stderr

        again = leadsync("--config", config, "sync", "--json", cwd=folder, env=env)
        assert again.returncode == 0, again.stderr
        assert orjson.loads(again.stdout)["pushed"][0]["written"] == 0
    finally:
        server.close()


def test_a_lead_converted_into_the_contact_of_another_of_our_contacts_is_rejected(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 2)
    lead_id = org.add("Lead", emails[0])
    contact_id = org.add("Contact", emails[1])
    assert _push(org, engine).written == 2
    # Sales merged the first person into the second's Contact when converting.
    org.records[lead_id].update(IsConverted=True, ConvertedContactId=contact_id)
    _people(engine, tmp_path, 2, kind="document_download")

    before = org.records[contact_id]["LeadSync_Score__c"]
    summary = _push(org, engine)
    assert (summary.written, summary.rejected) == (1, 1)
    (reason,) = summary.rejected_reasons
    assert f"was converted to Contact {contact_id}, which is linked to leadsync contact" in reason
    assert "merge the two" in reason
    # Read before writing: the other person's Contact got its own new score, once, and
    # never the converted Lead's.
    assert org.written_ids()[contact_id] == 2
    assert org.records[contact_id]["LeadSync_Score__c"] == before + 5


def test_bulk_csv_blanks_a_field_with_na_and_leaves_an_unchanged_one_empty() -> None:
    from adapters.salesforce.bulk import BulkRow, _csv_of

    text = _csv_of(
        [
            BulkRow(1, "00Q000000000001AAA", "Lead", {"LeadSync_Route__c": None}),
            BulkRow(2, "00Q000000000002AAA", "Lead", {"LeadSync_Score__c": 25.0}),
        ]
    )
    assert text.splitlines() == [
        "Id,LeadSync_Route__c,LeadSync_Score__c",
        "00Q000000000001AAA,#N/A,",
        "00Q000000000002AAA,,25",
    ]


def test_a_bulk_job_that_fails_keeps_every_row_for_the_next_push(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 8)
    _link_all(engine, org, emails, "Contact")
    assert _push(org, engine).written == 8
    _people(engine, tmp_path, 8, kind="document_download")
    org.fail_jobs = True

    failed = _push(org, engine, bulk_above=5)
    assert (failed.written, failed.deferred) == (0, 8)
    org.fail_jobs = False
    again = _push(org, engine, bulk_above=5)
    assert again.written == 8


def test_locked_and_converted_rows_of_a_bulk_job_go_through_collections(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 8)
    ids = _link_all(engine, org, emails, "Lead")
    assert _push(org, engine).written == 8
    contact_id = org.convert(ids[0])
    org.locked[ids[1]] = 1
    _people(engine, tmp_path, 8, kind="document_download")
    writes_before = len(org.writes())

    summary = _push(org, engine, bulk_above=5)
    assert (summary.written, summary.rejected, summary.deferred) == (8, 0, 0)
    # One collections call after the job: the locked Lead with the converted one's Contact.
    assert [sorted(r["id"] for r in batch) for batch in org.writes()[writes_before:]] == [
        sorted([contact_id, ids[1]])
    ]
    assert org.records[contact_id]["LeadSync_Score__c"] == 25


def test_the_limit_during_a_bulk_job_stops_it_with_no_further_call(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 8)
    _link_all(engine, org, emails, "Contact")
    assert _push(org, engine).written == 8
    _people(engine, tmp_path, 8, kind="document_download")
    org.limit_after_calls = len(org.calls) + 1  # the job is created, its upload refused

    with pytest.raises(LimitReachedError, match="REQUEST_LIMIT_EXCEEDED"):
        _push(org, engine, bulk_above=5)
    methods = [method for method, _, _ in org.calls[-2:]]
    assert methods == ["POST", "PUT"]  # no read of the job, no abort, after the refusal
    org.limit_after_calls = None
    assert _push(org, engine, bulk_above=5).written == 8


def test_the_limit_on_the_first_look_up_stops_the_push_before_any_write(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    _people(engine, tmp_path, 3)
    org.limit_after_calls = 0
    with pytest.raises(LimitReachedError, match="0 written, 3 kept for the next push"):
        _push(org, engine)
    assert len(org.calls) == 1


def test_a_server_error_mid_push_keeps_what_salesforce_took(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 450)
    _link_all(engine, org, emails, "Contact")
    assert _push(org, engine).written == 450
    _people(engine, tmp_path, 450, kind="document_download")
    calls_before = len(org.calls)
    org.server_errors_from = calls_before + 2  # the second of three writes, and its retries

    with pytest.raises(RetriableError, match="answered 500"):
        _push(org, engine)
    # The write and four retries (DEFAULT_POLICY), then the push gave up.
    assert len(org.calls) == calls_before + 1 + 5
    org.server_errors_from = None
    resumed = _push(org, engine)
    assert (resumed.written, resumed.unchanged) == (250, 200)
    assert set(org.written_ids().values()) == {2}  # the first push, then exactly once more


def test_a_record_deleted_in_salesforce_is_found_again_by_email(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    (email,) = _people(engine, tmp_path, 1)
    old_id = org.add("Lead", email)
    assert _push(org, engine).written == 1
    del org.records[old_id]  # merged away: the surviving record is a Contact
    new_id = org.add("Contact", email)
    _people(engine, tmp_path, 1, kind="document_download")

    summary = _push(org, engine)
    assert (summary.written, summary.rejected) == (1, 0)
    assert org.records[new_id]["LeadSync_Score__c"] == 25
    _people(engine, tmp_path, 1, kind="callback_request")
    assert _push(org, engine).written == 1
    assert org.writes()[-1][0]["id"] == new_id  # linked: written by id at once


def test_two_contacts_reaching_one_record_in_one_push_write_it_once(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    (first,) = _people(engine, tmp_path, 1)
    lead_id = org.add("Lead", first)
    assert _push(org, engine).written == 1
    # A new person, found by e-mail on a Contact, into which sales also converted the
    # first person's Lead: both would reach that Contact in the same push.
    _, newcomer = _people(engine, tmp_path, 2, kind="document_download")
    contact_id = org.add("Contact", newcomer)
    org.records[lead_id].update(IsConverted=True, ConvertedContactId=contact_id)

    summary = _push(org, engine)
    assert (summary.written, summary.rejected) == (1, 1)
    assert org.written_ids()[contact_id] == 1
    (reason,) = summary.rejected_reasons
    assert f"converted to Contact {contact_id}, which is linked to leadsync contact" in reason


def test_a_record_gone_with_no_replacement_is_unlinked_and_created_when_allowed(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    (email,) = _people(engine, tmp_path, 1)
    old_id = org.add("Contact", email)
    assert _push(org, engine).written == 1
    del org.records[old_id]
    _people(engine, tmp_path, 1, kind="document_download")

    gone = _push(org, engine)
    assert (gone.written, gone.deferred, gone.rejected) == (0, 1, 0)
    with engine.connect() as connection:
        assert (
            connection.execute(
                sa.select(identities.c.value).where(identities.c.value == old_id)
            ).all()
            == []
        )
    calls = len(org.calls)
    assert _push(org, engine).deferred == 1  # not looked up again for a day
    assert len(org.calls) == calls
    created = _push(org, engine, create="always")
    assert created.written == 1
    assert [r["Email"] for r in org.records.values()] == [email]


def test_a_refusal_of_a_record_that_is_still_there_is_a_reject(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    (email,) = _people(engine, tmp_path, 1)
    contact_id = org.add("Contact", email)
    org.refuse[contact_id] = ("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
    summary = _push(org, engine)
    assert summary.rejected == 1
    assert next(iter(summary.rejected_reasons)).startswith("INVALID_CROSS_REFERENCE_KEY")


def test_a_result_salesforce_left_out_is_deferred_not_rejected(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 3)
    _link_all(engine, org, emails, "Contact")
    org.truncate_results = 1
    summary = _push(org, engine)
    assert (summary.written, summary.deferred, summary.rejected) == (1, 2, 0)
    org.truncate_results = None
    assert _push(org, engine).written == 2


def test_a_bulk_row_of_a_deleted_record_is_found_again_by_email(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 8)
    ids = _link_all(engine, org, emails, "Contact")
    assert _push(org, engine).written == 8
    del org.records[ids[3]]
    survivor = org.add("Lead", emails[3])
    _people(engine, tmp_path, 8, kind="document_download")

    summary = _push(org, engine, bulk_above=5)
    assert (summary.written, summary.rejected) == (8, 0)
    assert org.records[survivor]["LeadSync_Score__c"] == 25


# -- retries ---------------------------------------------------------------------------------


def _retries(logs: list[dict[str, object]]) -> list[tuple[object, object, object]]:
    """(call, attempt, wait_s) of each retry logged."""
    return [
        (line["call"], line["attempt"], line["wait_s"])
        for line in logs
        if line["event"] == "call.retry"
    ]


def _creates(org: FakeOrg) -> int:
    return sum(
        1
        for method, path, _ in org.calls
        if method == "POST" and path.endswith("composite/sobjects")
    )


def _leads(org: FakeOrg) -> list[str]:
    return sorted(
        str(record["Email"]).lower()
        for record in org.records.values()
        if record["attributes"]["type"] == "Lead"
    )


def test_a_503_burst_mid_push_is_ridden_out_and_every_record_written_once(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    """The second write is answered 503 twice (first with Retry-After: 1): it is sent
    again after the wait Salesforce asked, then after a backoff; each retry is logged and
    the push ends with every record written once."""
    emails = _people(engine, tmp_path, 450)
    _link_all(engine, org, emails, "Lead")
    look_ups = 2 * len(
        list(email_batches(sorted(emails), "SELECT Id, Email FROM Lead WHERE Email IN ()"))
    )
    second_write = look_ups + 2
    org.unavailable = {second_write: "1", second_write + 1: None}
    waits: list[float] = []

    with capture_logs() as logs:
        summary = _push(org, engine, waits=waits)

    assert (summary.written, summary.rejected, summary.deferred) == (450, 0, 0)
    assert [len(batch) for batch in org.writes()] == [200, 200, 50]
    assert set(org.written_ids().values()) == {1}
    assert len(org.written_ids()) == 450
    assert len(org.calls) == look_ups + 3 + 2  # each retry is one more call
    assert waits[0] == 1.0
    assert 1.0 <= waits[1] <= 1.5  # the backoff: 1 s on the second retry, plus jitter
    assert _retries(logs) == [
        ("an update of records", 1, 1.0),
        ("an update of records", 2, round(waits[1], 3)),
    ]


def test_a_reset_look_up_and_a_timed_out_update_are_tried_again(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    """The look-up's connection is reset before Salesforce saw it; the update by id is
    done but its answer times out: both are sent again, and the update by id twice does
    no harm (the same values)."""
    emails = _people(engine, tmp_path, 3)
    ids = _link_all(engine, org, emails, "Contact")
    # Call 1: the look-up (all are Contacts: no Lead look-up); 3: the write.
    org.cut_before = {1: requests.ConnectionError("Connection reset by peer")}
    org.cut_after = {3: requests.exceptions.ReadTimeout("read timed out")}
    waits: list[float] = []

    with capture_logs() as logs:
        summary = _push(org, engine, waits=waits)

    assert (summary.written, summary.rejected, summary.deferred) == (3, 0, 0)
    assert [(call, attempt) for call, attempt, _ in _retries(logs)] == [
        ("a query", 1),
        ("an update of records", 1),
    ]
    assert len(waits) == 2
    assert [sorted(record["id"] for record in batch) for batch in org.writes()] == [
        sorted(ids),
        sorted(ids),
    ]
    assert {org.records[crm_id]["LeadSync_Score__c"] for crm_id in ids} == {20}


@pytest.mark.parametrize(
    "lost",
    [
        pytest.param(requests.ConnectionError("Connection reset by peer"), id="reset"),
        pytest.param(requests.exceptions.ReadTimeout("read timed out"), id="read-timeout"),
    ],
)
def test_a_create_whose_answer_was_lost_makes_one_lead_per_person(
    org: FakeOrg, engine: Engine, tmp_path: Path, lost: Exception
) -> None:
    """Salesforce made the Leads, then the answer was lost: the e-mails are looked up,
    the Leads found count as created and linked, and nothing is created twice."""
    emails = _people(engine, tmp_path, 3)
    org.lost_creates = [lost]

    with capture_logs() as logs:
        summary = _push(org, engine, create="always")

    assert (summary.written, summary.rejected, summary.deferred) == (3, 0, 0)
    assert _leads(org) == sorted(email.lower() for email in emails)
    assert _creates(org) == 1
    (line,) = [line for line in logs if line["event"] == "salesforce.create_answer_lost"]
    assert (line["records"], line["found"], line["resent"], line["status"]) == (3, 3, 0, None)
    with engine.connect() as connection:
        linked = connection.execute(
            sa.select(identities.c.value).where(identities.c.namespace == "salesforce")
        ).scalars()
        assert sorted(linked) == sorted(org.records)
    # Linked: the next push writes them by id, with no look-up and no create.
    _people(engine, tmp_path, 3, kind="document_download")
    calls_before = len(org.calls)
    again = _push(org, engine, create="always")
    assert again.written == 3
    assert [method for method, _, _ in org.calls[calls_before:]] == ["PATCH"]


def test_a_create_that_never_reached_salesforce_is_sent_again_after_the_look_up(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    """The connection fails before Salesforce saw the create: the look-up finds none of
    them, so they are all sent again, once."""
    emails = _people(engine, tmp_path, 3)
    # Calls 1 and 2: the look-ups (Contacts, then Leads); 3: the create.
    org.cut_before = {3: requests.ConnectionError("Connection reset by peer")}

    summary = _push(org, engine, create="always")

    assert (summary.written, summary.rejected, summary.deferred) == (3, 0, 0)
    assert _leads(org) == sorted(email.lower() for email in emails)
    assert [(method, path.rsplit("/v62.0/", 1)[1]) for method, path, _ in org.calls] == [
        ("GET", "query/"),
        ("GET", "query/"),
        ("POST", "composite/sobjects"),  # cut
        ("GET", "query/"),
        ("GET", "query/"),
        ("POST", "composite/sobjects"),
    ]


def test_a_create_answered_503_is_sent_again_without_a_look_up(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    """A 503 says Salesforce did not do it: the create is simply sent again."""
    emails = _people(engine, tmp_path, 3)
    org.unavailable = {3: "0"}
    waits: list[float] = []

    summary = _push(org, engine, create="always", waits=waits)

    assert (summary.written, summary.deferred) == (3, 0)
    assert _leads(org) == sorted(email.lower() for email in emails)
    assert [method for method, _, _ in org.calls] == ["GET", "GET", "POST", "POST"]
    assert waits == [0.0]


def test_a_create_cut_off_every_time_stops_after_the_attempts_with_no_lead_twice(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    """Every create cut off: each is followed by a look-up, up to the policy's attempts
    (5); then the push stops, and the next one creates each Lead once."""
    emails = _people(engine, tmp_path, 3)
    # Two look-ups, then a create, five times over.
    org.cut_before = {3 * n: requests.ConnectionError("reset") for n in range(1, 6)}

    with pytest.raises(RetriableError, match="cannot reach Salesforce for a creation"):
        _push(org, engine, create="always")
    assert (_creates(org), len(org.calls), _leads(org)) == (5, 15, [])
    org.cut_before = {}
    assert _push(org, engine, create="always").written == 3
    assert _leads(org) == sorted(email.lower() for email in emails)


def test_the_cli_push_rides_out_a_503_burst_and_a_lost_create_and_exits_0(
    tmp_path: Path,
) -> None:
    """End to end over TLS: the first look-up answered 503 twice, then the answer to the
    create lost (the connection closed after Salesforce made the Leads): exit 0, every
    record written once, one Lead per new person, the retries in the log."""
    from tests.cli.test_cli import clean_env, leadsync, write_jsonl

    org = FakeOrg()
    server = TlsOrg(org, tmp_path)
    try:
        folder = tmp_path / "project"
        assert leadsync("init", folder, cwd=tmp_path).returncode == 0
        config = folder / "config.toml"
        config.write_text(
            config.read_text(encoding="utf-8")
            + '\n[crm.salesforce]\napi_version = "62.0"\ncreate = "always"\n',
            encoding="utf-8",
        )
        people = [f"p{n}@acme.example" for n in range(250)]
        write_jsonl(
            folder / "events.jsonl",
            [
                {"kind": "quote_request", "occurred_at": "2026-11-02T10:00:00Z", "email": email}
                for email in people
            ],
        )
        for command in (["ingest", "events.jsonl"], ["score"]):
            assert leadsync("--config", config, *command, cwd=folder).returncode == 0
        for email in people[:200]:
            org.add("Contact", email)
        org.unavailable = {1: "0", 2: "0"}  # no wait asked: the test does not sleep
        org.lost_creates = [requests.ConnectionError("closed")]
        env = clean_env(
            SALESFORCE_ACCESS_TOKEN=org.token,
            SALESFORCE_INSTANCE_URL=server.url,
            REQUESTS_CA_BUNDLE=str(server.ca_file),
        )

        pushed = leadsync(
            "--config", config, "push", "--crm", "salesforce", "--json", cwd=folder, env=env
        )

        assert pushed.returncode == 0, pushed.stderr
        (figures,) = orjson.loads(pushed.stdout)
        assert (figures["written"], figures["rejected"], figures["deferred"]) == (250, 0, 0)
        assert set(org.written_ids().values()) == {1} and len(org.written_ids()) == 200
        assert _leads(org) == people[200:]
        assert _creates(org) == 1
        logged = [orjson.loads(line) for line in pushed.stderr.splitlines() if line.startswith("{")]
        assert [
            (line["call"], line["attempt"], line["wait_s"])
            for line in logged
            if line["event"] == "call.retry"
        ] == [("a query", 1, 0.0), ("a query", 2, 0.0)]
        (lost,) = [line for line in logged if line["event"] == "salesforce.create_answer_lost"]
        assert (lost["found"], lost["resent"]) == (50, 0)
        assert org.token not in pushed.stdout + pushed.stderr
    finally:
        server.close()


def test_a_push_reports_the_orgs_api_use_as_its_last_answer_said(
    org: FakeOrg, engine: Engine, tmp_path: Path
) -> None:
    """For `leadsync status` and the daemon's metrics: Sforce-Limit-Info of the last call."""
    for email in _people(engine, tmp_path, 30):
        org.add("Lead", email)
    summary = _push(org, engine)
    assert summary.written == 30
    assert (summary.api_used, summary.api_allowed) == (org.used, org.allowed)
    assert org.used > 0
