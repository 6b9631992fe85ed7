"""The daemon killed with SIGKILL at random moments, 20 times, while its file source grows
and it pushes to a local HubSpot-shaped server; restarted each time. At the end: every
event is in the ledger once, HubSpot holds what each contact's events imply, no value was
written over a newer one, and unchanged values were rewritten at most a chunk per kill."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pytest_httpserver import HTTPServer

from connector.crm.mapping import load_mapping
from connector.crm.plan import desired_fields
from connector.ports import crm_number_text
from connector.store.engine import open_store
from connector.store.schema import events
from connector.store.scores import list_scores
from tests.adapters.hubspot_fake import FakeHubSpot
from tests.adapters.test_hubspot import CONTACTS_SPEC, fake
from tests.adapters.test_hubspot import TOKEN as HUBSPOT_TOKEN
from tests.daemon.test_daemon_cli import RunningDaemon, _project, _wait_for, start_daemon

__all__ = ["fake", "start_daemon"]  # the fixtures, imported for the tests here

KILLS = 20
CONTACTS = 50
EVENTS = 3_000
RECORDS_PER_CALL = 100  # HubSpot's batch: the most a kill can leave in flight per push


def _grow(path: Path, stop: threading.Event) -> None:
    """Append EVENTS site visits over the contacts, a few every 10 ms, until done."""
    day = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    rng = random.Random(7)
    with path.open("a", encoding="utf-8") as stream:
        for number in range(EVENTS):
            if stop.is_set():
                return
            person = rng.randrange(CONTACTS)
            stream.write(
                f'{{"id": "v{number}", "kind": "site_visit", "occurred_at": '
                f'"{day}T10:{number % 60:02d}:00Z", "email": "p{person}@acme.example"}}\n'
            )
            stream.flush()
            if number % 5 == 0:
                time.sleep(0.01)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return crm_number_text(float(value))
    return str(value)


@pytest.mark.skipif(not CONTACTS_SPEC.exists(), reason="HubSpot's OpenAPI files absent")
def test_twenty_kills_lose_no_event_write_no_stale_value_and_repeat_at_most_a_chunk(
    tmp_path: Path,
    store_url: str,
    httpserver: HTTPServer,
    fake: FakeHubSpot,
    start_daemon: Callable[[Path, dict[str, str]], RunningDaemon],
) -> None:
    base_url = httpserver.url_for("/").rstrip("/")
    env = _project(tmp_path, store_url, extra=f'\n[crm.hubspot]\nbase_url = "{base_url}"\n')
    env["HUBSPOT_ACCESS_TOKEN"] = HUBSPOT_TOKEN
    for n in range(CONTACTS):
        fake.add_contact(f"p{n}@acme.example")
    fake.latency_s = 0.15  # HubSpot's round trip: kills land in pushes too
    engine = open_store(store_url)
    done = threading.Event()
    writer = threading.Thread(target=_grow, args=(tmp_path / "web.jsonl", done), daemon=True)
    writer.start()
    rng = random.Random(2026)
    try:
        for _ in range(KILLS):
            daemon = start_daemon(tmp_path, env)
            time.sleep(rng.uniform(0.3, 2.5))
            daemon.alive()
            daemon.process.send_signal(signal.SIGKILL)
            daemon.process.wait(timeout=10)
        writer.join(timeout=120)
        assert not writer.is_alive(), "the file did not finish growing"

        last = start_daemon(tmp_path, env)

        def caught_up() -> bool:
            last.alive()
            with engine.connect() as connection:
                stored = connection.execute(
                    sa.select(sa.func.count()).select_from(events)
                ).scalar_one()
            finished = last.events_named("daemon.job_finished")
            # A pass that found nothing to store and nothing to write: all is through.
            return stored == EVENTS and any(
                line["outcome"] == "ok"
                and line["events_stored"] == 0
                and line["records_written"] == 0
                for line in finished
            )

        _wait_for(caught_up, "the last daemon caught up", timeout_s=120)
        assert last.stop() < 10
    finally:
        done.set()

    with engine.connect() as connection:
        total, distinct = connection.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(events.c.source_event_id)))
        ).one()
        stored_scores = list_scores(connection)
    assert (total, distinct) == (EVENTS, EVENTS)  # every event once

    mapping = load_mapping(tmp_path / "mappings" / "hubspot.toml")
    by_email = {properties["email"]: properties for properties in fake.contacts.values()}
    assert len(stored_scores) == CONTACTS
    for score in stored_scores:
        held = by_email[score.email]
        for name, value in desired_fields(score, mapping).items():
            if name == mapping.fields.get("scored_at"):
                continue  # the time of the pass that set the values written, not of the last
            assert held.get(name, "") == _text(value), (score.email, name)

    # Replayed in the order HubSpot took them: scores only rise here (visits add points,
    # none leaves its window), so a score lower than the one before is a stale write.
    scored_at_field = mapping.fields.get("scored_at")
    current: dict[tuple[str, str], str] = {}
    repeated = 0  # records sent again with nothing changed: the chunk a kill left unrecorded
    scores_written: dict[str, list[float]] = defaultdict(list)
    for body in fake.writes():
        for item in body["inputs"]:
            properties = item["properties"]
            compared = {name: v for name, v in properties.items() if name != scored_at_field}
            if all(current.get((item["id"], name)) == value for name, value in compared.items()):
                repeated += 1
            for name, value in properties.items():
                current[(item["id"], name)] = value
            if "leadsync_score" in properties:
                scores_written[item["id"]].append(float(properties["leadsync_score"]))
    for contact, written in scores_written.items():
        assert written == sorted(written), f"a stale score was written over a newer one: {contact}"
    # Every contact fits in one chunk here: a kill may leave at most that one unrecorded.
    print(f"{repeated} record(s) sent again unchanged after {KILLS} kills")
    assert repeated <= KILLS * min(CONTACTS, RECORDS_PER_CALL)
    engine.dispose()
