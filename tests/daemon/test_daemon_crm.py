"""The daemon against a local HubSpot-shaped server: a CRM whose daily API limit is spent
pauses the jobs that call it until its "retry after", and only them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from connector.store.engine import open_store
from tests.adapters.hubspot_fake import FakeHubSpot
from tests.adapters.test_hubspot import CONTACTS_SPEC, fake
from tests.adapters.test_hubspot import TOKEN as HUBSPOT_TOKEN
from tests.cli.test_cli import leadsync
from tests.daemon.test_daemon_cli import (
    RunningDaemon,
    _append_visits,
    _project,
    _stored,
    _wait_for,
    start_daemon,
)

__all__ = ["fake", "start_daemon"]  # the fixtures, imported for the tests here


@pytest.mark.skipif(not CONTACTS_SPEC.exists(), reason="HubSpot's OpenAPI files absent")
def test_a_spent_daily_limit_pauses_that_crms_jobs_and_the_pulls_go_on(
    tmp_path: Path,
    sqlite_url: str,
    httpserver: HTTPServer,
    fake: FakeHubSpot,
    start_daemon: Callable[[Path, dict[str, str]], RunningDaemon],
) -> None:
    base_url = httpserver.url_for("/").rstrip("/")
    env = _project(
        tmp_path,
        sqlite_url,
        extra=f'\n[crm.hubspot]\nbase_url = "{base_url}"\n'
        '\n[daemon.jobs.push.hubspot]\nevery = "1s"\n',
    )
    env["HUBSPOT_ACCESS_TOKEN"] = HUBSPOT_TOKEN
    for n in range(40):
        fake.add_contact(f"p{n}@acme.example")
    fake.daily_limit_after_writes = 0  # the portal's day is spent before our first write
    _append_visits(tmp_path / "web.jsonl", 0, 40)
    engine = open_store(sqlite_url)
    daemon = start_daemon(tmp_path, env)

    _wait_for(lambda: daemon.alive() and daemon.events_named("daemon.crm_paused"), "the pause")
    paused = daemon.events_named("daemon.crm_paused")[0]
    assert paused["crm"] == "hubspot"
    calls_at_pause = len(fake.calls)
    _wait_for(lambda: daemon.events_named("daemon.job_paused"), "a push.hubspot tick skipped")
    assert daemon.events_named("daemon.job_paused")[0]["job"] == "push.hubspot"

    # The sources go on while HubSpot waits for its limit.
    _append_visits(tmp_path / "web.jsonl", 40, 60)
    _wait_for(lambda: _stored(engine) == 100, "the new events pulled")
    sync_runs_after = [
        line
        for line in daemon.events_named("daemon.job_finished")
        if line["job"] == "sync" and int(str(line["events_stored"])) > 0
    ]
    assert sync_runs_after, "no sync pass stored the new events"
    assert len(fake.calls) == calls_at_pause  # no call to the paused CRM since
    status = json.loads(leadsync("status", "--json", cwd=tmp_path, env=env).stdout)
    (hubspot,) = status["crms"]
    # The latest stop's "retry after" (a push.hubspot tick beside the first may hit it too).
    assert hubspot["crm"] == "hubspot" and hubspot["paused_until"] >= paused["until"]
    assert hubspot["waiting"] == 40  # the contacts scored, none written
    assert daemon.stop() < 10
    engine.dispose()


@pytest.mark.skipif(not CONTACTS_SPEC.exists(), reason="HubSpot's OpenAPI files absent")
def test_a_hand_raiser_reaches_the_crm_in_seconds_not_at_the_next_tick(
    tmp_path: Path,
    sqlite_url: str,
    httpserver: HTTPServer,
    fake: FakeHubSpot,
    start_daemon: Callable[[Path, dict[str, str]], RunningDaemon],
) -> None:
    """The sync pass runs hourly; a quote request pulled a second after it was written is
    scored and pushed by the watch on hand-raisers within [daemon] hand_raiser_s."""
    base_url = httpserver.url_for("/").rstrip("/")
    env = _project(
        tmp_path,
        sqlite_url,
        daemon='every = "1h"',
        extra=f'\n[crm.hubspot]\nbase_url = "{base_url}"\n\n[daemon.jobs.pull]\nevery = "1s"\n',
    )
    env["HUBSPOT_ACCESS_TOKEN"] = HUBSPOT_TOKEN
    for n in range(40):
        fake.add_contact(f"p{n}@acme.example")
    _append_visits(tmp_path / "web.jsonl", 0, 40)
    # Stored before the daemon starts: its first pass (which pulls nothing, the pull job
    # being its own) then scores and pushes all 40, and none is left for the watch's push.
    leadsync("pull", cwd=tmp_path, env=env)
    daemon = start_daemon(tmp_path, env)
    _wait_for(
        lambda: (
            daemon.alive()
            and any(line["job"] == "sync" for line in daemon.events_named("daemon.job_finished"))
        ),
        "the first sync pass",
    )
    assert len({contact for contact, _ in fake.stage_writes}) == 40  # the first pass's push
    hubspot_id = fake.by_email("p7@acme.example")
    assert hubspot_id is not None
    stages_before = list(fake.stage_writes)

    written_at = time.monotonic()
    with (tmp_path / "web.jsonl").open("a", encoding="utf-8") as stream:
        stream.write(
            json.dumps(
                {
                    "id": "quote-1",
                    "kind": "quote_request",
                    "occurred_at": "2026-12-01T11:00:00Z",
                    "email": "p7@acme.example",
                }
            )
            + "\n"
        )
    _wait_for(
        lambda: daemon.alive() and (hubspot_id, "marketingqualifiedlead") in fake.stage_writes,
        "the MQL stage written to HubSpot",
    )
    took = time.monotonic() - written_at

    assert took < 10, f"{took:.1f} s from the file to HubSpot"
    new_stages = fake.stage_writes[len(stages_before) :]
    assert new_stages == [(hubspot_id, "marketingqualifiedlead")]  # that contact alone
    # The daemon logs the push once its job has ended, a moment after HubSpot took it.
    _wait_for(lambda: daemon.events_named("daemon.hand_raisers_pushed"), "the push logged")
    pushed = daemon.events_named("daemon.hand_raisers_pushed")
    assert pushed and pushed[0]["contacts"] == 1 and pushed[0]["outcome"] == "ok"
    syncs = [line for line in daemon.events_named("daemon.job_finished") if line["job"] == "sync"]
    assert len(syncs) == 1  # the hourly pass ran once, at start
    assert daemon.stop() < 10


@pytest.mark.skipif(not CONTACTS_SPEC.exists(), reason="HubSpot's OpenAPI files absent")
def test_sigterm_during_a_push_exits_0_in_time_and_the_next_run_finishes_the_push(
    tmp_path: Path,
    sqlite_url: str,
    httpserver: HTTPServer,
    fake: FakeHubSpot,
    start_daemon: Callable[[Path, dict[str, str]], RunningDaemon],
) -> None:
    contacts = 1_500  # 15 write calls of 100, each answered in 0.3 s
    base_url = httpserver.url_for("/").rstrip("/")
    env = _project(
        tmp_path,
        sqlite_url,
        extra=f'\n[crm.hubspot]\nbase_url = "{base_url}"\nin_flight = 1\n',
    )
    env["HUBSPOT_ACCESS_TOKEN"] = HUBSPOT_TOKEN
    for n in range(contacts):
        fake.add_contact(f"p{n}@acme.example")
    fake.latency_s = 0.3
    fake.header_families = ("rolling", "daily")
    with (tmp_path / "web.jsonl").open("w", encoding="utf-8") as stream:
        for n in range(contacts):
            stream.write(
                json.dumps(
                    {
                        "id": f"v{n}",
                        "kind": "site_visit",
                        "occurred_at": "2026-12-01T10:00:00Z",
                        "email": f"p{n}@acme.example",
                    }
                )
                + "\n"
            )
    daemon = start_daemon(tmp_path, env)

    def records_written() -> int:
        return sum(len(body["inputs"]) for body in fake.writes())

    _wait_for(lambda: daemon.alive() and records_written() >= 200, "the push under way", 60)
    took = daemon.stop()
    assert took < 10, f"{took:.1f} s to stop"
    part = records_written()
    assert part < contacts  # stopped in the middle
    finished = daemon.events_named("daemon.job_finished")
    assert finished[-1]["outcome"] == "interrupted"

    again = start_daemon(tmp_path, env)
    _wait_for(lambda: again.alive() and records_written() >= contacts, "the rest pushed", 120)
    _wait_for(
        lambda: any(
            line["outcome"] == "ok" and line["records_written"] == 0
            for line in again.events_named("daemon.job_finished")
        ),
        "a pass with nothing left to write",
        60,
    )
    assert again.stop() < 10
    written: dict[str, int] = {}
    for body in fake.writes():
        for item in body["inputs"]:
            written[item["id"]] = written.get(item["id"], 0) + 1
    assert len(written) == contacts  # every contact written
    # HubSpot's daily headers, as its last answer to a push said them.
    status = json.loads(leadsync("status", "--json", cwd=tmp_path, env=env).stdout)
    (hubspot,) = status["crms"]
    assert hubspot["api_allowed"] == fake.daily_allowance
    assert 0 < hubspot["api_used"] <= len(fake.calls)
    repeated = sum(times - 1 for times in written.values())
    assert repeated <= 100, f"{repeated} records written twice: more than the call in flight"
