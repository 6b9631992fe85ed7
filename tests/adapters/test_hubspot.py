"""Pushing to HubSpot through the official client, against a local server speaking
HubSpot's JSON (validated against HubSpot's OpenAPI file), on both stores."""

from __future__ import annotations

import logging
import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import orjson
import pytest
import sqlalchemy as sa
import structlog
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine

from adapters.files import FileSource
from adapters.hubspot import reader as reader_module
from adapters.hubspot.reader import HubSpotReader
from adapters.hubspot.writer import HubSpotWriter, hubspot_writer
from connector.config import Settings, scoring_rules
from connector.crm import plan as push_plan
from connector.crm.mapping import load_mapping
from connector.errors import (
    ConfigError,
    ExitCode,
    FatalError,
    RetriableError,
    WriteInterruptedError,
)
from connector.logs import configure_logging
from connector.model import SalesStatus
from connector.ports import CrmRecordWrite, WriteResult
from connector.retry import RetryPolicy
from connector.runners.crm_read import read_crm
from connector.runners.ingest import ingest
from connector.runners.push import CreatePolicy, PushSummary, push
from connector.runners.rescore import rescore
from connector.scoring.rules import FitRule, ScoringRules
from connector.store.engine import open_store
from connector.store.locks import push_lock
from connector.store.schema import contacts, identities, pushed_state, rejects, stage_history
from tests.adapters.hubspot_fake import (
    CONTACTS_SPEC,
    PROPERTIES_SPEC,
    STAGES,
    FakeHubSpot,
    SpecValidator,
)
from tests.adapters.scored_people import sales_said
from tests.adapters.scored_people import scored_people as _people
from tests.conftest import REPO_ROOT

TOKEN = "pat-na1-0123abcd-4567-89ef-0123-456789abcdef"
RULES = scoring_rules(Settings())
LEAD_STATUSES = (
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
)
MAPPING = load_mapping(REPO_ROOT / "mappings" / "hubspot.toml")
DAY0 = datetime(2026, 11, 2, tzinfo=UTC)

pytestmark = pytest.mark.skipif(
    not CONTACTS_SPEC.exists(), reason=f"HubSpot's OpenAPI files are not at {CONTACTS_SPEC}"
)

# The retries of the shared policy, with no backoff between them (a Retry-After
# still counts).
NO_WAIT = RetryPolicy(backoff_s=0)


@pytest.fixture
def fake(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHubSpot]:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    server = FakeHubSpot(
        SpecValidator(CONTACTS_SPEC),
        token=TOKEN,
        properties_validator=SpecValidator(PROPERTIES_SPEC),
    )
    server.define("email")
    server.define("lifecyclestage", "enumeration", tuple(STAGES))
    # HubSpot's own properties the default mapping reads.
    for name in ("jobtitle", "numemployees", "industry", "country", "annualrevenue", "phone"):
        server.define(name)
    server.define("hs_lead_status", "enumeration", tuple(LEAD_STATUSES))
    server.define("total_revenue", "number")
    httpserver.expect_request(
        re.compile(r"^/crm/v3/(objects|properties)/contacts(/.*)?$")
    ).respond_with_handler(server.handle)
    yield server


def _base_url(httpserver: HTTPServer) -> str:
    return httpserver.url_for("/").rstrip("/")


def _push(
    httpserver: HTTPServer, engine: Engine, *, create: CreatePolicy = "never", per_10s: int = 100
) -> PushSummary:
    writer = hubspot_writer(
        base_url=_base_url(httpserver), requests_per_10s=per_10s, batch_size=100, timeout_s=10
    )
    return push(engine, writer, MAPPING, create=create)


def test_250_changed_contacts_take_3_write_calls_and_a_rerun_none(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 250)
    for email in emails:
        fake.add_contact(email, lifecyclestage="lead")

    summary = _push(httpserver, engine)
    assert (summary.written, summary.rejected, summary.deferred) == (250, 0, 0)
    # Up to 4 calls in flight: their order may vary, their sizes may not.
    assert sorted(len(body["inputs"]) for body in fake.writes()) == [50, 100, 100]
    written = fake.contacts[fake.by_email(emails[7]) or ""]
    assert written["leadsync_score"] == "20"
    assert written["leadsync_temperature"] == "warm"
    assert written["lifecyclestage"] == "marketingqualifiedlead"
    assert written["leadsync_route"] == "sales"

    calls_before = len(fake.calls)
    again = _push(httpserver, engine)
    assert (again.written, again.unchanged) == (0, 250)
    assert len(fake.calls) == calls_before  # no read, no write: the ids were linked


def test_429_with_retry_after_is_waited_out_then_the_push_succeeds(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path
) -> None:
    for email in _people(engine, tmp_path, 5):
        fake.add_contact(email)
    fake.answer_429_times, fake.retry_after_s = 1, 1
    started = time.monotonic()
    summary = _push(httpserver, engine)
    assert summary.written == 5
    assert fake.received_429 == 1
    assert time.monotonic() - started >= 1.0  # Retry-After honoured


def test_207_with_one_bad_record_writes_99_and_rejects_1_with_hubspots_reason(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path
) -> None:
    emails = _people(engine, tmp_path, 100)
    ids = [fake.add_contact(email) for email in emails]
    fake.refuse_ids = {ids[42]}
    summary = _push(httpserver, engine)
    assert (summary.written, summary.rejected) == (99, 1)
    assert len(fake.writes()) == 1
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(rejects.c.source, rejects.c.location, rejects.c.reason)
        ).all()
        pushed = connection.execute(sa.select(sa.func.count()).select_from(pushed_state)).scalar()
    assert stored == [
        (
            "push:hubspot",
            f"contact {emails[42]}",
            "HubSpot VALIDATION_ERROR: Property values were not valid: leadsync_temperature "
            "'tepid' is not one of the allowed options",
        )
    ]
    assert pushed == 99
    # Fixed in HubSpot (say, the option added): the next push sends that record alone.
    fake.refuse_ids = set()
    retry = _push(httpserver, engine)
    assert (retry.written, retry.unchanged) == (1, 99)


def test_a_recycled_contact_is_cleared_then_set_back_in_separate_calls(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path
) -> None:
    (email,) = _people(engine, tmp_path, 1)
    crm_id = fake.add_contact(email, lifecyclestage="lead")
    _push(httpserver, engine)
    assert fake.contacts[crm_id]["lifecyclestage"] == "marketingqualifiedlead"

    read_crm(engine, sales_said(email, SalesStatus.NOT_NOW))
    assert rescore(engine, RULES).transitions == 1  # mql -> nurturing
    before = len(fake.writes())
    summary = _push(httpserver, engine)
    assert summary.written == 1
    writes = fake.writes()[before:]
    assert [body["inputs"][0]["properties"].get("lifecyclestage") for body in writes] == [
        "",
        "lead",
    ]
    assert fake.stage_writes[-2:] == [(crm_id, ""), (crm_id, "lead")]
    assert fake.contacts[crm_id]["lifecyclestage"] == "lead"


def test_unknown_contacts_are_deferred_unless_creation_is_allowed(
    httpserver: HTTPServer,
    fake: FakeHubSpot,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emails = _people(engine, tmp_path, 3)
    deferred = _push(httpserver, engine, create="never")
    assert (deferred.written, deferred.deferred) == (0, 3)
    assert fake.writes() == []
    # Not looked up again at once: no call at all, still counted as deferred.
    calls = len(fake.calls)
    assert _push(httpserver, engine, create="never").deferred == 3
    assert len(fake.calls) == calls
    # Created in HubSpot meanwhile (by sales, say), and the wait is over: found, written.
    fake.add_contact(emails[0])
    monkeypatch.setattr(push_plan, "LOOK_UP_MISSING_AFTER", timedelta(0))
    found = _push(httpserver, engine, create="never")
    assert (found.written, found.deferred) == (1, 2)
    created = _push(httpserver, engine, create="mql")  # quote requests: all MQLs
    assert (created.written, created.deferred) == (2, 0)
    assert {fake.contacts[fake.by_email(email) or ""]["leadsync_score"] for email in emails} == {
        "20"
    }


def test_the_token_never_shows_in_logs_or_errors(
    httpserver: HTTPServer,
    fake: FakeHubSpot,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for email in _people(engine, tmp_path, 3):
        fake.add_contact(email)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("debug", "json")  # urllib3's request lines included
    try:
        _push(httpserver, engine)
        _people(engine, tmp_path, 2, kind="callback_request")  # something to write
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN + "-revoked")
        with pytest.raises(ConfigError) as refused:
            _push(httpserver, engine, create="always")
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, level
    logged = capsys.readouterr().err
    assert "push.finished" in logged
    assert "refused the access token (401" in str(refused.value)
    for text in (logged, str(refused.value), repr(refused.value)):
        assert TOKEN not in text
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN")
    with pytest.raises(ConfigError, match="HUBSPOT_ACCESS_TOKEN is not set"):
        _push(httpserver, engine)


def test_push_command_dry_run_needs_no_token_and_a_push_prints_the_figures(
    httpserver: HTTPServer, fake: FakeHubSpot, tmp_path: Path
) -> None:
    from tests.cli.test_cli import clean_env, leadsync, write_jsonl

    folder = tmp_path / "project"
    assert leadsync("init", folder, cwd=tmp_path).returncode == 0
    config = folder / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f'\n[crm.hubspot]\nbase_url = "{_base_url(httpserver)}"\n',
        encoding="utf-8",
    )
    write_jsonl(
        folder / "events.jsonl",
        [
            {"kind": "quote_request", "occurred_at": "2026-11-02T10:00:00Z", "email": email}
            for email in ("ann@acme.example", "bob@acme.example")
        ],
    )
    for command in (["ingest", "events.jsonl"], ["score"]):
        assert leadsync("--config", config, *command, cwd=folder).returncode == 0
    fake.add_contact("ann@acme.example")

    planned = leadsync("--config", config, "push", "--dry-run", cwd=folder)
    assert planned.returncode == 0, planned.stderr
    assert "hubspot: 2 would write, 0 unchanged" in planned.stdout
    assert fake.calls == []

    no_token = leadsync("--config", config, "push", cwd=folder)  # clean_env(): no token
    assert no_token.returncode == 3 and "HUBSPOT_ACCESS_TOKEN is not set" in no_token.stderr

    pushed = leadsync(
        "--config", config, "push", "--json", cwd=folder, env=clean_env(HUBSPOT_ACCESS_TOKEN=TOKEN)
    )
    assert pushed.returncode == 0, pushed.stderr
    (figures,) = orjson.loads(pushed.stdout)
    assert (figures["written"], figures["deferred"], figures["rejected"]) == (1, 1, 0)
    assert TOKEN not in pushed.stdout + pushed.stderr


def _project(tmp_path: Path, httpserver: HTTPServer) -> Path:
    from tests.cli.test_cli import leadsync

    folder = tmp_path / "project"
    assert leadsync("init", folder, cwd=tmp_path).returncode == 0
    config = folder / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f'\n[crm.hubspot]\nbase_url = "{_base_url(httpserver)}"\n',
        encoding="utf-8",
    )
    return config


def test_crm_setup_creates_the_group_and_properties_once_and_check_online_agrees(
    httpserver: HTTPServer, fake: FakeHubSpot, tmp_path: Path
) -> None:
    from tests.cli.test_cli import assert_clean_failure, clean_env, leadsync

    config = _project(tmp_path, httpserver)
    env = clean_env(HUBSPOT_ACCESS_TOKEN=TOKEN)
    missing = leadsync("--config", config, "check", "--online", cwd=config.parent, env=env)
    assert_clean_failure(missing, ExitCode.CONFIG)
    line = (config.parent / "mappings" / "hubspot.toml").read_text().splitlines().index(
        'score              = "leadsync_score"'
    ) + 1
    assert f"mappings/hubspot.toml:{line}: [fields.score] HubSpot has no contact property" in (
        missing.stderr
    )

    first = leadsync("--config", config, "crm", "setup", "hubspot", cwd=config.parent, env=env)
    assert first.returncode == 0, first.stderr
    assert "property group leadsync created" in first.stdout
    assert fake.properties["leadsync_score"]["type"] == "number"
    assert fake.properties["leadsync_scored_at"]["type"] == "datetime"
    assert [o["value"] for o in fake.properties["leadsync_temperature"]["options"]] == [
        "cold",
        "warm",
        "hot",
    ]
    assert fake.properties["leadsync_reasons"]["groupName"] == "leadsync"
    assert fake.properties["leadsync_bant_need"]["type"] == "bool"
    assert "lifecyclestage" not in first.stdout.split("created:")[1].split("\n")[0]

    creations = sum(1 for path, body in fake.calls if body.get("method") == "post")
    again = leadsync("--config", config, "crm", "setup", "hubspot", cwd=config.parent, env=env)
    assert again.returncode == 0 and "created: none" in again.stdout
    assert sum(1 for path, body in fake.calls if body.get("method") == "post") == creations

    online = leadsync("--config", config, "check", "--online", cwd=config.parent, env=env)
    assert online.returncode == 0, online.stderr
    assert "online     ok  hubspot" in online.stdout

    # A property an admin recreated with another type: named, with what to do.
    fake.properties["leadsync_scored_at"]["type"] = "date"
    retyped = leadsync("--config", config, "check", "--online", cwd=config.parent, env=env)
    assert_clean_failure(retyped, ExitCode.CONFIG)
    assert "'leadsync_scored_at' is of type 'date', leadsync writes 'datetime'" in retyped.stderr
    fake.properties["leadsync_scored_at"]["type"] = "datetime"

    # A portal without one of the lead statuses the mapping reads: named at its line.
    fake.define("hs_lead_status", "enumeration", ("NEW", "OPEN", "UNQUALIFIED"))
    statuses = leadsync("--config", config, "check", "--online", cwd=config.parent, env=env)
    assert_clean_failure(statuses, ExitCode.CONFIG)
    line = (config.parent / "mappings" / "hubspot.toml").read_text().splitlines().index(
        'IN_PROGRESS          = "open"'
    ) + 1
    assert (
        f"mappings/hubspot.toml:{line}: [lead_statuses.IN_PROGRESS] 'hs_lead_status' has no option"
        in (statuses.stderr)
    )
    fake.define("hs_lead_status", "enumeration", tuple(LEAD_STATUSES))

    # A won amount property the portal lacks: named at its line.
    revenue = fake.properties.pop("total_revenue")
    no_amount = leadsync("--config", config, "check", "--online", cwd=config.parent, env=env)
    assert_clean_failure(no_amount, ExitCode.CONFIG)
    line = (config.parent / "mappings" / "hubspot.toml").read_text().splitlines().index(
        'won_amount_property = "total_revenue"'
    ) + 1
    assert no_amount.stderr.splitlines()[0] == (
        f"error: mappings/hubspot.toml:{line}: [won_amount_property] HubSpot has no contact "
        "property 'total_revenue'; fix the name or remove the line"
    )
    fake.properties["total_revenue"] = revenue

    # A portal whose lifecycle stages were customised: the stage option is named.
    fake.define("lifecyclestage", "enumeration", ("lead", "customer"))
    customised = leadsync("--config", config, "check", "--online", cwd=config.parent, env=env)
    assert_clean_failure(customised, ExitCode.CONFIG)
    assert "[stages.mql] 'lifecyclestage' has no option 'marketingqualifiedlead'" in (
        customised.stderr
    )

    # A portal whose stages come in another order: stage_order is named at its line.
    reordered = [*STAGES[:4], "customer", "opportunity", *STAGES[6:]]
    fake.define("lifecyclestage", "enumeration", tuple(reordered))
    stale = leadsync("--config", config, "check", "--online", cwd=config.parent, env=env)
    assert_clean_failure(stale, ExitCode.CONFIG)
    line = (config.parent / "mappings" / "hubspot.toml").read_text().splitlines().index(
        "stage_order = ["
    ) + 1
    assert stale.stderr.splitlines()[0] == (
        f"error: mappings/hubspot.toml:{line}: [stage_order] is not the order of "
        f"'lifecyclestage' in this portal ({', '.join(reordered)}); set stage_order to it"
    )


def _reader(httpserver: HTTPServer) -> HubSpotReader:
    from adapters.hubspot.client import Caller, hubspot_client
    from adapters.hubspot.pacing import Pacer

    return HubSpotReader(
        hubspot_client(_base_url(httpserver)), caller=Caller(Pacer(1000, 1.0)), mapping=MAPPING
    )


def test_reading_never_pages_past_the_cap_and_loses_no_contact_edited_meanwhile(
    httpserver: HTTPServer,
    fake: FakeHubSpot,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A cap of 1,000 instead of 10,000 (both sides), to read 2,500 contacts past it.
    monkeypatch.setattr(reader_module, "SEARCH_CAP", 1_000)
    fake.search_cap = 1_000
    ids = []
    for number in range(2_500):
        crm_id = fake.add_contact(f"c{number}@acme.example")
        # Several contacts per modification time, as bulk edits in HubSpot make.
        fake.modified(crm_id, DAY0 + timedelta(seconds=number // 3), jobtitle="Engineer")
        ids.append(crm_id)

    def sales_edit_one_while_we_read(searches_before: int) -> None:
        if searches_before == 2:  # an early contact moves to the end of the order
            fake.modified(ids[10], DAY0 + timedelta(days=2), jobtitle="Head of IT")

    fake.before_search = sales_edit_one_while_we_read
    reader = _reader(httpserver)
    summary = read_crm(engine, reader)
    searches = [body for path, body in fake.calls if path.endswith("/search")]
    assert all(int(body["after"]) + int(body["limit"]) <= 1_000 for body in searches)
    assert summary.snapshots >= 2_500
    with engine.connect() as connection:
        linked = set(
            connection.execute(
                sa.select(identities.c.value).where(identities.c.namespace == "hubspot")
            ).scalars()
        )
        titles = connection.execute(sa.select(contacts.c.profile)).scalars().all()
    assert linked == set(ids)  # every one, the edited one included
    assert sorted({profile["job_title"] for profile in titles}) == ["Engineer", "Head of IT"]

    # The cursor holds: a second read finds only what changed since.
    fake.before_search = None
    fake.modified(ids[7], DAY0 + timedelta(days=3), jobtitle="CTO")
    again = read_crm(engine, reader)
    assert again.contacts_changed == 1
    assert again.snapshots <= 2  # the contact at the cursor's instant, and the changed one


def test_sales_answers_read_from_hubspot_move_the_stage(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path
) -> None:
    (email,) = _people(engine, tmp_path, 1)  # a quote request: MQL
    crm_id = fake.add_contact(email, lifecyclestage="lead")
    _push(httpserver, engine)
    fake.modified(crm_id, DAY0 + timedelta(days=1), hs_lead_status="BAD_TIMING")
    read_crm(engine, _reader(httpserver))
    recycled = rescore(engine, RULES)
    assert recycled.transitions == 1
    fake.modified(
        crm_id,
        DAY0 + timedelta(days=2),
        hs_lead_status="OPEN",
        leadsync_bant_budget="true",
        leadsync_bant_authority="true",
        leadsync_bant_need="true",
        leadsync_bant_timing="true",
    )
    read_crm(engine, _reader(httpserver))
    rescore(engine, RULES)
    with engine.connect() as connection:
        stages = connection.execute(
            sa.select(stage_history.c.from_stage, stage_history.c.to_stage).order_by(
                stage_history.c.id
            )
        ).all()
    assert [tuple(row) for row in stages] == [
        ("lead", "mql"),
        ("mql", "nurturing"),
        ("nurturing", "sql"),
    ]


def test_sync_pulls_reads_scores_and_pushes_in_one_pass(
    httpserver: HTTPServer, fake: FakeHubSpot, tmp_path: Path
) -> None:
    from tests.cli.test_cli import clean_env, leadsync, write_jsonl

    config = _project(tmp_path, httpserver)
    env = clean_env(HUBSPOT_ACCESS_TOKEN=TOKEN)
    write_jsonl(
        config.parent / "events.jsonl",
        [
            {"kind": "quote_request", "occurred_at": "2026-11-02T10:00:00Z", "email": email}
            for email in ("ann@acme.example", "bob@acme.example")
        ],
    )
    config.write_text(
        config.read_text(encoding="utf-8")
        + '\n[sources.forms]\ntype = "file"\npath = "events.jsonl"\n',
        encoding="utf-8",
    )
    ann = fake.add_contact("ann@acme.example")
    fake.modified(ann, DAY0, jobtitle="CTO")
    first = leadsync("--config", config, "sync", cwd=config.parent, env=env)
    assert first.returncode == 0, first.stderr
    assert "sync: 2 new event(s) from 1 source(s), 1 contact(s) changed in the CRMs" in first.stdout
    assert "hubspot: 1 written, 0 unchanged, 0 rejected, 1 deferred" in first.stdout
    assert fake.contacts[ann]["lifecyclestage"] == "marketingqualifiedlead"

    second = leadsync("--config", config, "sync", cwd=config.parent, env=env)
    assert second.returncode == 0, second.stderr
    assert "sync: 0 new event(s)" in second.stdout
    assert "hubspot: 0 written, 1 unchanged, 0 rejected, 1 deferred" in second.stdout


def test_a_recycle_refused_after_its_clear_sets_the_stage_back_alone(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path
) -> None:
    (email,) = _people(engine, tmp_path, 1)
    crm_id = fake.add_contact(email, lifecyclestage="lead")
    _push(httpserver, engine)
    read_crm(engine, sales_said(email, SalesStatus.NOT_NOW))
    rescore(engine, RULES)
    fake.refuse_property = "leadsync_route"  # the set input carries the route's change
    summary = _push(httpserver, engine)
    assert (summary.written, summary.rejected) == (0, 1)
    assert fake.stage_writes[-2:] == [(crm_id, ""), (crm_id, "lead")]
    assert fake.contacts[crm_id]["lifecyclestage"] == "lead"  # never left blank


def test_an_email_now_naming_another_linked_contact_is_rejected_not_written_over(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path
) -> None:
    first, second = _people(engine, tmp_path, 2)
    crm_id = fake.add_contact(first)
    summary = _push(httpserver, engine)
    assert (summary.written, summary.deferred) == (1, 1)
    fake.contacts[crm_id]["email"] = second  # the e-mail changed in HubSpot
    fake._emails = {second: crm_id}
    clash = _push(httpserver, engine, create="always")
    assert (clash.written, clash.rejected) == (0, 1)
    (reason,) = clash.rejected_reasons
    assert f"HubSpot contact {crm_id}, found by the e-mail {second}" in reason
    assert "already linked to leadsync contact" in reason


def test_a_mapped_property_the_portal_lacks_stops_the_push_at_once(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path
) -> None:
    for email in _people(engine, tmp_path, 100):
        fake.add_contact(email)
    fake.missing_property = "leadsync_reasons"
    with pytest.raises(FatalError, match="HubSpot lacks a mapped property") as stopped:
        _push(httpserver, engine)
    assert "check --online" in (stopped.value.hint or "")
    assert len(fake.writes()) == 1  # no halving through 100 records


def test_a_stage_sales_set_that_the_mapping_does_not_know_is_left_alone(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path
) -> None:
    (email,) = _people(engine, tmp_path, 1)  # an MQL
    crm_id = fake.add_contact(email, lifecyclestage="lead")
    _push(httpserver, engine)
    assert fake.contacts[crm_id]["lifecyclestage"] == "marketingqualifiedlead"
    # Sales moved it on to "opportunity", which our mapping has no stage for.
    fake.modified(crm_id, DAY0 + timedelta(days=1), lifecyclestage="opportunity")
    read_crm(engine, _reader(httpserver))
    _people(engine, tmp_path, 1, kind="callback_request")  # new points: a write is due
    writes = len(fake.writes())
    summary = _push(httpserver, engine)
    assert summary.written == 1
    (body,) = fake.writes()[writes:]
    assert "lifecyclestage" not in body["inputs"][0]["properties"]
    assert body["inputs"][0]["properties"]["leadsync_score"] == "30"
    assert fake.contacts[crm_id]["lifecyclestage"] == "opportunity"


def _scored_project(tmp_path: Path, httpserver: HTTPServer, env: dict[str, str]) -> Path:
    """A project pushing to the fake HubSpot, ann and bob scored (20 points each)."""
    from tests.cli.test_cli import leadsync, write_jsonl

    config = _project(tmp_path, httpserver)
    write_jsonl(
        config.parent / "events.jsonl",
        [
            {"kind": "quote_request", "occurred_at": "2026-11-02T10:00:00Z", "email": email}
            for email in ("ann@acme.example", "bob@acme.example")
        ],
    )
    for command in (["ingest", "events.jsonl"], ["score"]):
        done = leadsync("--config", config, *command, cwd=config.parent, env=env)
        assert done.returncode == 0, done.stderr
    return config


def _log_lines(stream: IO[str]) -> queue.Queue[str]:
    """The lines of ``stream`` as a process writes them, read by a thread."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_a_second_push_command_stops_at_once_and_with_wait_waits_for_the_first(
    httpserver: HTTPServer, fake: FakeHubSpot, store_url: str, tmp_path: Path
) -> None:
    """While another process holds the HubSpot push lock, `push` exits 5 with one line and
    sends nothing; `push --wait` says it waits, and pushes once the lock is released."""
    from tests.cli.test_cli import LEADSYNC, clean_env, leadsync

    env = clean_env(HUBSPOT_ACCESS_TOKEN=TOKEN, LEADSYNC_STORE_URL=store_url)
    config = _scored_project(tmp_path, httpserver, env)
    fake.add_contact("ann@acme.example")
    holder = open_store(store_url)  # this process stands for the push already running
    try:
        with push_lock(holder, "hubspot"):
            busy = leadsync("--config", config, "push", cwd=config.parent, env=env)
            waiting = subprocess.Popen(
                [LEADSYNC, "--config", str(config), "push", "--wait"],
                cwd=config.parent,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert waiting.stderr is not None
            lines = _log_lines(waiting.stderr)
            logged = orjson.loads(lines.get(timeout=30))
            assert waiting.poll() is None and fake.calls == []
        out, _ = waiting.communicate(timeout=60)
    finally:
        holder.dispose()

    assert busy.returncode == 5
    assert busy.stderr.splitlines()[-1] == (
        "error: another push to hubspot is running on this store; retry when it has "
        "finished, or wait for it with `leadsync push --wait`"
    )
    assert (logged["event"], logged["crm"], logged["level"]) == ("push.waiting", "hubspot", "info")
    assert waiting.returncode == 0, list(lines.queue)
    assert "hubspot: 1 written, 0 unchanged, 0 rejected, 1 deferred" in out


def test_a_push_command_rides_out_a_503_exits_0_and_logs_the_retry(
    httpserver: HTTPServer, fake: FakeHubSpot, tmp_path: Path
) -> None:
    """HubSpot answers 503 to the second call (the write): `push` retries it in its turn,
    exits 0, writes the contact once and logs the retry."""
    from tests.cli.test_cli import clean_env, leadsync

    env = clean_env(HUBSPOT_ACCESS_TOKEN=TOKEN)
    config = _scored_project(tmp_path, httpserver, env)
    crm_id = fake.add_contact("ann@acme.example")
    fake.unavailable_one_in = 2

    pushed = leadsync("--config", config, "push", cwd=config.parent, env=env)

    assert pushed.returncode == 0, pushed.stderr
    assert fake.failed_answers == 1
    assert [item["id"] for body in fake.writes() for item in body["inputs"]] == [crm_id]
    (retry,) = [
        line
        for line in map(orjson.loads, pushed.stderr.splitlines())
        if line["event"] == "call.retry"
    ]
    assert (retry["call"], retry["attempt"], retry["status"]) == ("a batch update", 1, 503)
    assert retry["wait_s"] > 0


def test_sync_skips_the_push_to_a_crm_another_push_holds_and_exits_0(
    httpserver: HTTPServer, fake: FakeHubSpot, tmp_path: Path
) -> None:
    """A `push` beside a `sync`: the sync scores, leaves that CRM to the push, says so."""
    from tests.cli.test_cli import clean_env, leadsync

    env = clean_env(HUBSPOT_ACCESS_TOKEN=TOKEN)
    config = _scored_project(tmp_path, httpserver, env)
    fake.add_contact("ann@acme.example")
    holder = open_store(f"sqlite:///{config.parent / 'leadsync.db'}")
    try:
        with push_lock(holder, "hubspot"):
            synced = leadsync("--config", config, "sync", cwd=config.parent, env=env)
    finally:
        holder.dispose()

    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.splitlines()[-1] == (
        "  hubspot: not pushed (another push to hubspot is running on this store; the next "
        "sync pushes it)"
    )
    (skipped,) = [
        line
        for line in map(orjson.loads, synced.stderr.splitlines())
        if line["event"] == "sync.push_skipped"
    ]
    assert (skipped["crm"], skipped["level"]) == ("hubspot", "warning")
    assert fake.writes() == []


def test_a_push_after_score_as_of_is_refused_until_a_score_or_force(
    httpserver: HTTPServer, fake: FakeHubSpot, tmp_path: Path
) -> None:
    """`score --as-of` leaves scores of another moment: `push` refuses them (exit 7, no
    call); `sync` scores as of now first and pushes; `push --force` writes as-of scores."""
    from tests.cli.test_cli import assert_clean_failure, clean_env, leadsync

    env = clean_env(HUBSPOT_ACCESS_TOKEN=TOKEN)
    config = _scored_project(tmp_path, httpserver, env)
    ann = fake.add_contact("ann@acme.example")

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return leadsync("--config", config, *command, cwd=config.parent, env=env)

    assert run("score", "--as-of", "2026-11-01").returncode == 0  # before the quote requests
    refused = run("push")
    assert_clean_failure(refused, ExitCode.FATAL)
    assert refused.stderr.splitlines()[-1] == (
        "error: the stored scores are as of 2026-11-01T00:00:00Z (score --as-of), so nothing "
        "was pushed to hubspot; run `leadsync score` first, or push them anyway with --force"
    )
    assert fake.calls == []

    synced = run("sync")
    assert synced.returncode == 0, synced.stderr
    assert "hubspot: 1 written, 0 unchanged, 0 rejected, 1 deferred" in synced.stdout
    assert fake.contacts[ann]["leadsync_score"] == "20"

    assert run("score", "--as-of", "2026-11-01").returncode == 0
    forced = run("push", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "hubspot: 1 written" in forced.stdout
    assert fake.contacts[ann]["leadsync_score"] == "0"


def _recorded_emails(engine: Engine) -> set[str]:
    """The contacts whose HubSpot write the store recorded."""
    with engine.connect() as connection:
        return set(
            connection.execute(
                sa.select(contacts.c.email).join(
                    pushed_state, pushed_state.c.contact_id == contacts.c.id
                )
            ).scalars()
        )


def _holding_a_score(fake: FakeHubSpot) -> set[str]:
    return {
        properties["email"]
        for properties in fake.contacts.values()
        if "leadsync_score" in properties
    }


@pytest.mark.parametrize("in_flight", [1, 4])
def test_a_push_cut_by_503s_records_what_hubspot_took_and_the_next_sends_only_the_rest(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path, in_flight: int
) -> None:
    """350 records, HubSpot answering 503 from the 4th write call on (retries spent): the
    push fails as a 503 does (exit 6), after recording exactly the records HubSpot took
    (300, one call at a time); the next push sends exactly the others."""
    emails = _people(engine, tmp_path, 350)
    for email in emails:
        fake.add_contact(email, lifecyclestage="lead")
    fake.unavailable_after_writes = 3
    writer = hubspot_writer(
        base_url=_base_url(httpserver),
        requests_per_10s=1_000,
        batch_size=100,
        timeout_s=10,
        in_flight=in_flight,
        retry=NO_WAIT,
    )

    with pytest.raises(RetriableError, match="HubSpot kept answering 503 after retries") as cut:
        push(engine, writer, MAPPING, create="never")

    assert cut.value.exit_code == ExitCode.RETRIES_EXHAUSTED
    taken = _holding_a_score(fake)
    assert _recorded_emails(engine) == taken
    if in_flight == 1:
        assert taken == set(emails[:300])
    assert len(taken) in (250, 300)  # three calls of four, whichever arrived first

    fake.unavailable_after_writes = None
    writes = len(fake.writes())
    again = _push(httpserver, engine)
    assert (again.written, again.unchanged) == (350 - len(taken), len(taken))
    sent = {
        fake.contacts[item["id"]]["email"]
        for body in fake.writes()[writes:]
        for item in body["inputs"]
    }
    assert sent == set(emails) - taken
    assert _holding_a_score(fake) == set(emails)


def test_a_spent_daily_limit_mid_push_exits_8_keeping_what_was_written(
    httpserver: HTTPServer, fake: FakeHubSpot, tmp_path: Path
) -> None:
    """`leadsync push` meeting the daily limit at its 4th write call of 350 records: no
    retry, exit 8, the 300 written recorded, a last line saying what stopped it and when
    to retry; the next push, once the day is back, writes the 50 others only."""
    from tests.cli.test_cli import clean_env, leadsync, write_jsonl

    config = _project(tmp_path, httpserver)
    # One call at a time, so the three calls before the stop are the first 300 records.
    config.write_text(config.read_text(encoding="utf-8") + "in_flight = 1\n", encoding="utf-8")
    env = clean_env(HUBSPOT_ACCESS_TOKEN=TOKEN)
    emails = [f"p{n:03}@acme.example" for n in range(350)]
    write_jsonl(
        config.parent / "events.jsonl",
        [
            {"kind": "quote_request", "occurred_at": "2026-11-02T10:00:00Z", "email": email}
            for email in emails
        ],
    )
    for command in (["ingest", "events.jsonl"], ["score"]):
        assert leadsync("--config", config, *command, cwd=config.parent, env=env).returncode == 0
    for email in emails:
        fake.add_contact(email)
    fake.daily_limit_after_writes = 3

    before = datetime.now(UTC)
    stopped = leadsync("--config", config, "push", cwd=config.parent, env=env)
    after = datetime.now(UTC)

    assert stopped.returncode == int(ExitCode.LIMIT_REACHED), stopped.stderr
    assert "Traceback" not in stopped.stdout + stopped.stderr
    assert "hubspot: 300 written, 0 unchanged, 0 rejected, 0 deferred" in stopped.stdout
    last = stopped.stderr.strip().splitlines()[-1]
    found = re.fullmatch(
        r"error: hubspot push stopped: HubSpot's daily API limit is spent \(429: HubSpot "
        r"error: You have reached your daily limit\.\); it resets at midnight in the "
        r"portal's time zone, which leadsync is not told: by (\S+) at the latest \(an "
        r"estimate\); 300 written, 50 kept for the next push; retry after (\S+)",
        last,
    )
    assert found is not None, last
    assert found[1] == found[2]
    retry_after = datetime.fromisoformat(found[2].replace("Z", "+00:00"))
    day = timedelta(hours=25)
    assert before + day - timedelta(seconds=1) <= retry_after <= after + day
    assert fake.received_429 == 1  # not retried, and no call after it
    assert len(fake.writes()) == 3
    assert _holding_a_score(fake) == set(emails[:300])
    assert TOKEN not in stopped.stdout + stopped.stderr

    fake.daily_limit_after_writes = None  # the portal's midnight has passed
    resumed = leadsync("--config", config, "push", cwd=config.parent, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "hubspot: 50 written, 300 unchanged, 0 rejected, 0 deferred" in resumed.stdout
    (body,) = fake.writes()[3:]
    assert {fake.contacts[item["id"]]["email"] for item in body["inputs"]} == set(emails[300:])


def _recycling(fake: FakeHubSpot) -> tuple[CrmRecordWrite, CrmRecordWrite]:
    """A record to write plainly, and one whose stage moves back (cleared, then set)."""
    plain = CrmRecordWrite(1, "plain@acme.example", fake.add_contact("plain@acme.example"), {})
    back_id = fake.add_contact("back@acme.example", lifecyclestage="salesqualifiedlead")
    back = CrmRecordWrite(
        2,
        "back@acme.example",
        back_id,
        {"lifecyclestage": "lead", "leadsync_score": 5.0},
        clear_first=("lifecyclestage",),
    )
    return replace(plain, fields={"leadsync_score": 20.0}), back


def _one_call_at_a_time(httpserver: HTTPServer) -> HubSpotWriter:
    return hubspot_writer(
        base_url=_base_url(httpserver),
        requests_per_10s=1_000,
        batch_size=1,
        timeout_s=10,
        in_flight=1,
        retry=NO_WAIT,
    )


@pytest.mark.parametrize(
    ("answered", "results", "stage"),
    [
        pytest.param(
            1,
            [
                WriteResult(
                    2,
                    "deferred",
                    crm_id="1002",
                    reason="HubSpot cleared lifecyclestage; the call setting it failed",
                    applied={"lifecyclestage": None},
                )
            ],
            "",
            id="cut-after-the-clear",
        ),
        pytest.param(2, [WriteResult(2, "ok", crm_id="1002")], "lead", id="cut-after-its-set"),
    ],
)
def test_a_write_cut_between_a_clear_and_the_rest_reports_what_hubspot_holds(
    httpserver: HTTPServer,
    fake: FakeHubSpot,
    answered: int,
    results: list[WriteResult],
    stage: str,
) -> None:
    """HubSpot stops answering (503) after ``answered`` calls: a stage cleared but not set
    is handed over as blank in HubSpot (``applied``), so the push can record it; the set
    of a cleared record goes before the other records' writes."""
    plain, back = _recycling(fake)
    fake.unavailable_after_writes = answered

    with pytest.raises(WriteInterruptedError) as cut:
        _one_call_at_a_time(httpserver).write([plain, back])

    assert cut.value.results == results
    assert isinstance(cut.value.cause, RetriableError)
    assert fake.contacts[back.crm_id or ""]["lifecyclestage"] == stage
    assert "leadsync_score" not in fake.contacts[plain.crm_id or ""]


def test_a_recycle_refused_after_its_clear_reports_the_stage_set_back_alone(
    httpserver: HTTPServer, fake: FakeHubSpot
) -> None:
    """The set refused, the stage is set back alone: the record is rejected, and its
    result says HubSpot holds that stage (``applied``), not the one last written."""
    _, back = _recycling(fake)
    fake.refuse_property = "leadsync_score"

    (result,) = _one_call_at_a_time(httpserver).write([back])

    assert replace(result, reason=None) == WriteResult(
        2, "rejected", crm_id=back.crm_id, applied={"lifecyclestage": "lead"}
    )
    assert fake.stage_writes == [(back.crm_id, ""), (back.crm_id, "lead")]


def test_a_stage_left_blank_by_a_cut_push_is_set_by_the_next_even_if_it_came_back(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path
) -> None:
    """A recycle whose clear HubSpot took before failing: the next push sets the stage,
    also when the contact re-qualified meanwhile to the stage it had before."""
    (email,) = _people(engine, tmp_path, 1)
    crm_id = fake.add_contact(email, lifecyclestage="lead")
    _push(httpserver, engine)
    read_crm(engine, sales_said(email, SalesStatus.NOT_NOW))
    assert rescore(engine, RULES).transitions == 1  # mql -> nurturing: "lead" in HubSpot
    fake.unavailable_after_writes = len(fake.writes()) + 1  # the clear goes through
    with pytest.raises(RetriableError):
        push(engine, _one_call_at_a_time(httpserver), MAPPING, create="never")
    assert fake.contacts[crm_id]["lifecyclestage"] == ""
    fake.unavailable_after_writes = None
    # A new quote request re-qualifies it: an MQL again, as last written.
    later = tmp_path / "later.jsonl"
    later.write_bytes(
        orjson.dumps(
            {
                "id": "later-1",
                "kind": "quote_request",
                "occurred_at": datetime.now(UTC).isoformat(),
                "email": email,
            }
        )
        + b"\n"
    )
    ingest(engine, FileSource("later", later), command="ingest", resume=False)
    assert rescore(engine, RULES).transitions == 1  # nurturing -> mql

    _push(httpserver, engine)

    assert fake.contacts[crm_id]["lifecyclestage"] == "marketingqualifiedlead"


# -- the stage HubSpot holds against the one leadsync holds (issue 18, items 3 and 4) ------

STUDENTS_OUT = ScoringRules(
    RULES.behaviour,
    fit=(FitRule("student", "job_title", "contains", 0, disqualify=True, contains="student"),),
    bands=RULES.bands,
    normalisation=RULES.normalisation,
    lifecycle=RULES.lifecycle,
)


def _event(engine: Engine, tmp_path: Path, email: str, name: str, **fields: object) -> None:
    """One event of ``email`` now (a form carrying ``profile``, say), ingested."""
    path = tmp_path / f"{name}.jsonl"
    record = {"id": name, "occurred_at": datetime.now(UTC).isoformat(), "email": email}
    path.write_bytes(orjson.dumps({**record, **fields}) + b"\n")
    ingest(engine, FileSource(name, path), command="ingest", resume=False)


def _planned(engine: Engine) -> int:
    return push(engine, None, MAPPING, create="never", dry_run=True).planned


def test_a_stage_brought_back_from_a_disqualification_is_cleared_then_set(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path
) -> None:
    """Read at lead, disqualified (other written), back to lead by a newer profile from a
    form: the last read (lead) is older than the write of other, so the move back is
    cleared first and HubSpot ends at lead; a later read and push change nothing."""
    (email,) = _people(engine, tmp_path, 1, kind="site_visit")
    crm_id = fake.add_contact(email, lifecyclestage="lead")
    fake.modified(crm_id, DAY0 + timedelta(days=1), jobtitle="Student")
    read_crm(engine, _reader(httpserver))
    assert rescore(engine, STUDENTS_OUT).transitions == 1  # lead -> disqualified
    _push(httpserver, engine)
    assert fake.contacts[crm_id]["lifecyclestage"] == "other"
    _event(engine, tmp_path, email, "form-1", kind="form_submit", profile={"job_title": "CTO"})
    assert rescore(engine, STUDENTS_OUT).transitions == 1  # disqualified -> lead

    _push(httpserver, engine)

    assert fake.stage_writes[-2:] == [(crm_id, ""), (crm_id, "lead")]
    assert fake.contacts[crm_id]["lifecyclestage"] == "lead"
    read_crm(engine, _reader(httpserver))
    assert _planned(engine) == 0


def test_a_stage_hubspot_did_not_take_is_set_again_after_the_next_read(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path
) -> None:
    """A write answered 200 that left the stage as it was (a workflow kept it): the next
    read, newer than the write, shows it, and the push after it sets the stage again."""
    (email,) = _people(engine, tmp_path, 1)  # an MQL
    crm_id = fake.add_contact(email, lifecyclestage="lead")
    fake.keep_stage_ids.add(crm_id)
    assert _push(httpserver, engine).written == 1
    assert fake.contacts[crm_id]["lifecyclestage"] == "lead"
    fake.keep_stage_ids.clear()
    assert _planned(engine) == 0  # recorded as written: only a read can tell
    fake.modified(crm_id, datetime.now(UTC), leadsync_score="20")
    read_crm(engine, _reader(httpserver))

    again = _push(httpserver, engine)

    assert again.written == 1
    assert fake.contacts[crm_id]["lifecyclestage"] == "marketingqualifiedlead"
    assert _planned(engine) == 0


def test_a_backward_write_hubspot_answers_without_applying_is_deferred_then_repaired(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path
) -> None:
    """A recycle's stage read back after its clear and set (one batch read, the stage
    only): HubSpot still holding marketingqualifiedlead, the record is deferred, recorded
    as holding that, and the next push clears and sets it again."""
    (email,) = _people(engine, tmp_path, 1)
    crm_id = fake.add_contact(email, lifecyclestage="lead")
    _push(httpserver, engine)
    read_crm(engine, sales_said(email, SalesStatus.NOT_NOW))
    assert rescore(engine, RULES).transitions == 1  # mql -> nurturing: "lead" in HubSpot
    fake.keep_stage_ids.add(crm_id)
    calls = len(fake.calls)

    kept = _push(httpserver, engine)

    assert (kept.written, kept.deferred) == (0, 1)
    reads = [body for path, body in fake.calls[calls:] if path.endswith("/batch/read")]
    assert reads == [
        {"inputs": [{"id": crm_id}], "properties": ["lifecyclestage"], "propertiesWithHistory": []}
    ]
    assert fake.contacts[crm_id]["lifecyclestage"] == "marketingqualifiedlead"
    fake.keep_stage_ids.clear()

    repaired = _push(httpserver, engine)

    assert (repaired.written, repaired.deferred) == (1, 0)
    assert fake.stage_writes[-2:] == [(crm_id, ""), (crm_id, "lead")]
    assert fake.contacts[crm_id]["lifecyclestage"] == "lead"
    assert _planned(engine) == 0


def test_a_write_hubspot_did_not_apply_reports_what_hubspot_holds(
    httpserver: HTTPServer, fake: FakeHubSpot
) -> None:
    """The writer's side of it: deferred, with the reason and what HubSpot holds."""
    _, back = _recycling(fake)
    fake.keep_stage_ids.add(back.crm_id or "")

    (result,) = _one_call_at_a_time(httpserver).write([back])

    assert result == WriteResult(
        2,
        "deferred",
        crm_id=back.crm_id,
        reason="HubSpot answered without applying lifecyclestage='lead' (it holds "
        "'salesqualifiedlead'); the next push sets it again",
        applied={"lifecyclestage": "salesqualifiedlead", "leadsync_score": 5.0},
    )


def test_a_subscriber_becomes_marketingqualifiedlead_when_it_turns_mql(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path
) -> None:
    """subscriber, which [stages] does not list, comes before lead in HubSpot's order:
    an MQL moves it forward (no clear)."""
    email = "p0@acme.example"
    crm_id = fake.add_contact(email, lifecyclestage="subscriber")
    fake.modified(crm_id, DAY0)
    read_crm(engine, _reader(httpserver))
    _people(engine, tmp_path, 1)  # p0's quote request: an MQL

    _push(httpserver, engine)

    assert fake.stage_writes == [(crm_id, "marketingqualifiedlead")]
    assert fake.contacts[crm_id]["lifecyclestage"] == "marketingqualifiedlead"


def test_a_disqualification_leaves_an_opportunity_sales_set_alone(
    httpserver: HTTPServer, fake: FakeHubSpot, engine: Engine, tmp_path: Path
) -> None:
    """ "other" is last in HubSpot's order, but a disqualification is no step past an
    opportunity sales set after our last write: left alone, the score still written."""
    (email,) = _people(engine, tmp_path, 1)  # an MQL
    crm_id = fake.add_contact(email, lifecyclestage="lead")
    _push(httpserver, engine)
    fake.modified(crm_id, DAY0 + timedelta(days=1), lifecyclestage="opportunity")
    read_crm(engine, _reader(httpserver))
    _event(engine, tmp_path, email, "form-1", kind="form_submit", profile={"job_title": "student"})
    assert rescore(engine, STUDENTS_OUT).transitions == 1  # mql -> disqualified
    writes = len(fake.writes())

    assert _push(httpserver, engine).written == 1

    (body,) = fake.writes()[writes:]
    assert "lifecyclestage" not in body["inputs"][0]["properties"]
    assert fake.contacts[crm_id]["lifecyclestage"] == "opportunity"


def test_check_online_lists_contacts_whose_hubspot_stage_differs_and_why(
    httpserver: HTTPServer, fake: FakeHubSpot, tmp_path: Path
) -> None:
    """After a sync, one contact's stage changed back in HubSpot, one moved on by sales,
    20 read at subscriber and scored but not pushed: 22 listed, 20 by name; a push
    repairs the first and writes the 20, leaving sales' opportunity alone."""
    from tests.cli.test_cli import clean_env, leadsync, write_jsonl

    config = _project(tmp_path, httpserver)
    env = clean_env(HUBSPOT_ACCESS_TOKEN=TOKEN)
    events = config.parent / "events.jsonl"
    config.write_text(
        config.read_text(encoding="utf-8")
        + '\n[sources.forms]\ntype = "file"\npath = "events.jsonl"\n',
        encoding="utf-8",
    )

    def quote(email: str) -> dict[str, str]:
        return {"kind": "quote_request", "occurred_at": "2026-11-02T10:00:00Z", "email": email}

    ann = fake.add_contact("ann@acme.example", lifecyclestage="lead")
    bob = fake.add_contact("bob@acme.example", lifecyclestage="lead")
    write_jsonl(events, [quote("ann@acme.example"), quote("bob@acme.example")])
    assert leadsync("crm", "setup", "hubspot", cwd=config.parent, env=env).returncode == 0
    assert leadsync("sync", cwd=config.parent, env=env).returncode == 0
    fake.modified(ann, datetime.now(UTC), lifecyclestage="lead")
    fake.modified(bob, datetime.now(UTC), lifecyclestage="opportunity")
    others = [f"p{n:02}@acme.example" for n in range(20)]
    for email in others:
        fake.modified(fake.add_contact(email, lifecyclestage="subscriber"), datetime.now(UTC))
    write_jsonl(events, [quote(email) for email in others], mode="a")
    for step in (["pull"], ["crm", "read", "hubspot"], ["score"]):
        assert leadsync(*step, cwd=config.parent, env=env).returncode == 0

    listed = leadsync("check", "--online", cwd=config.parent, env=env)

    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    heading = "stages     22 hubspot contact(s) hold another stage than leadsync's (as last read):"
    assert heading in lines, listed.stdout
    start = lines.index(heading)
    not_pushed = (
        "hubspot subscriber, leadsync marketingqualifiedlead: not yet pushed: the next push "
        "writes it"
    )
    assert lines[start + 1 :] == [
        "  ann@acme.example: hubspot lead, leadsync marketingqualifiedlead: hubspot did not "
        "apply our write of 'marketingqualifiedlead', or it was changed there: the next push "
        "sets 'marketingqualifiedlead'",
        "  bob@acme.example: hubspot opportunity, leadsync marketingqualifiedlead: set in "
        "hubspot after our last write, ahead of ours: theirs, left alone",
        *(f"  {email}: {not_pushed}" for email in others[:18]),
        "  ... and 2 more",
    ]

    assert leadsync("push", cwd=config.parent, env=env).returncode == 0
    assert fake.contacts[ann]["lifecyclestage"] == "marketingqualifiedlead"
    assert fake.contacts[bob]["lifecyclestage"] == "opportunity"
    assert leadsync("crm", "read", "hubspot", cwd=config.parent, env=env).returncode == 0
    after = leadsync("check", "--online", cwd=config.parent, env=env)
    assert after.returncode == 0, after.stderr
    assert after.stdout.splitlines()[-2:] == [
        "stages     1 hubspot contact(s) hold another stage than leadsync's (as last read):",
        "  bob@acme.example: hubspot opportunity, leadsync marketingqualifiedlead: set in "
        "hubspot after our last write, ahead of ours: theirs, left alone",
    ]
