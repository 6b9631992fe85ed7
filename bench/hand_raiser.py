"""Hand-raiser benchmark: how long a quote request takes to reach HubSpot under the daemon.

Prints measured figures; it asserts nothing about speed. It starts the real `leadsync
daemon` (SQLite, or PostgreSQL with ``--store-url``) over a file source pulled every
second and a local HubSpot-shaped server (tests/adapters/hubspot_fake.py: the official
client's calls, checked against HubSpot's OpenAPI files, each answered after
``--latency-ms``), with the sync pass hourly so that only the watch on hand-raisers can
be quick. After the first pass has pushed ``--contacts`` contacts, ``--hand-raisers``
quote requests are appended to the file one by one, ``--every-s`` apart, each for another
contact; for each it measures the time from the line written to the event in the ledger,
and from either to HubSpot holding the contact's new stage (marketingqualifiedlead).

    .venv/bin/python bench/hand_raiser.py [--hand-raisers 200] [--every-s 0.5]
        [--contacts 2000] [--latency-ms 150] [--store-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from pytest_httpserver import HTTPServer

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest import postgres_schema  # noqa: E402

from connector.store.engine import open_store  # noqa: E402
from connector.store.schema import events  # noqa: E402
from tests.adapters.hubspot_fake import (  # noqa: E402
    CONTACTS_SPEC,
    PROPERTIES_SPEC,
    STAGES,
    FakeHubSpot,
    SpecValidator,
)
from tests.adapters.test_hubspot import LEAD_STATUSES, TOKEN  # noqa: E402

LEADSYNC = str(Path(sys.executable).parent / "leadsync")
MQL = "marketingqualifiedlead"
WAIT_S = 60.0  # the longest one hand-raiser is waited for


def _fake(latency_s: float) -> FakeHubSpot:
    fake = FakeHubSpot(
        SpecValidator(CONTACTS_SPEC),
        token=TOKEN,
        properties_validator=SpecValidator(PROPERTIES_SPEC),
        latency_s=latency_s,
    )
    fake.define("email")
    fake.define("lifecyclestage", "enumeration", tuple(STAGES))
    for name in ("jobtitle", "numemployees", "industry", "country", "annualrevenue", "phone"):
        fake.define(name)
    fake.define("hs_lead_status", "enumeration", tuple(LEAD_STATUSES))
    return fake


def _line(number: int, kind: str, email: str) -> str:
    return json.dumps(
        {
            "id": f"{kind}-{number}",
            "kind": kind,
            "occurred_at": "2026-12-01T10:00:00Z",
            "email": email,
        }
    )


def _project(folder: Path, url: str, base_url: str, contacts: int) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEADSYNC_")}
    env.update(LEADSYNC_STORE_URL=url, HUBSPOT_ACCESS_TOKEN=TOKEN)
    subprocess.run([LEADSYNC, "init", str(folder)], check=True, capture_output=True, env=env)
    config = folder / "config.toml"
    text = re.sub(r'(?m)^every = "5m".*$', 'every = "1h"', config.read_text(encoding="utf-8"))
    text += (
        f'\n[crm.hubspot]\nbase_url = "{base_url}"\n'
        '\n[sources.web]\ntype = "file"\npath = "web.jsonl"\n'
        '\n[daemon.jobs.pull]\nevery = "1s"\n'
    )
    config.write_text(text, encoding="utf-8")
    with (folder / "web.jsonl").open("w", encoding="utf-8") as stream:
        for number in range(contacts):
            stream.write(_line(number, "site_visit", f"c{number}@bench.example") + "\n")
    return env


def _in_ledger(engine: sa.Engine, ids: list[str]) -> set[str]:
    with engine.connect() as connection:
        return set(
            connection.execute(
                sa.select(events.c.source_event_id).where(events.c.source_event_id.in_(ids))
            ).scalars()
        )


def measure(url: str, args: argparse.Namespace) -> dict[str, list[float]]:
    fake = _fake(args.latency_ms / 1000)
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.expect_request(
        re.compile(r"^/crm/v3/(objects|properties)/contacts(/.*)?$")
    ).respond_with_handler(fake.handle)
    server.start()
    for number in range(args.contacts):
        fake.add_contact(f"c{number}@bench.example")
    try:
        with tempfile.TemporaryDirectory(prefix="leadsync-bench-hand-") as scratch:
            folder = Path(scratch)
            env = _project(folder, url, server.url_for("/").rstrip("/"), args.contacts)
            engine = open_store(url)
            log = (folder / "daemon.log").open("w", encoding="utf-8")
            daemon = subprocess.Popen(
                [LEADSYNC, "daemon"], cwd=folder, env=env, stdout=log, stderr=log
            )
            try:
                return _hand_raisers(folder, engine, fake, daemon, args)
            finally:
                daemon.terminate()
                daemon.wait(timeout=30)
                log.close()
                engine.dispose()
                if daemon.returncode != 0:
                    print((folder / "daemon.log").read_text(encoding="utf-8")[-3000:])
    finally:
        server.stop()


def _hand_raisers(
    folder: Path,
    engine: sa.Engine,
    fake: FakeHubSpot,
    daemon: subprocess.Popen[bytes],
    args: argparse.Namespace,
) -> dict[str, list[float]]:
    started = time.monotonic()
    while sum(len(body["inputs"]) for body in fake.writes()) < args.contacts:  # everyone
        if daemon.poll() is not None or time.monotonic() - started > 300:
            tail = (folder / "daemon.log").read_text(encoding="utf-8")[-3000:]
            raise SystemExit(f"the first sync pass did not push every contact:\n{tail}")
        time.sleep(0.1)
    print(f"  first pass pushed {args.contacts:,} contacts in {time.monotonic() - started:.1f} s")
    written: dict[str, float] = {}
    ledger: dict[str, float] = {}
    landed: dict[str, float] = {}
    hubspot_ids: dict[str, str] = {}
    next_at = time.monotonic()
    deadline = next_at + args.hand_raisers * args.every_s + WAIT_S
    number = 0
    with (folder / "web.jsonl").open("a", encoding="utf-8") as stream:
        while len(landed) < args.hand_raisers and time.monotonic() < deadline:
            now = time.monotonic()
            if number < args.hand_raisers and now >= next_at:
                email = f"c{number}@bench.example"
                event_id = f"quote_request-{number}"
                hubspot_ids[event_id] = str(fake.by_email(email))
                stream.write(_line(number, "quote_request", email) + "\n")
                stream.flush()
                written[event_id] = time.monotonic()
                number += 1
                next_at += args.every_s
            waiting = [event for event in written if event not in landed]
            for event in _in_ledger(engine, [e for e in waiting if e not in ledger]):
                ledger[event] = time.monotonic()
            stages = set(fake.stage_writes)
            for event in waiting:
                if (hubspot_ids[event], MQL) in stages:
                    landed[event] = time.monotonic()
            if daemon.poll() is not None:
                raise SystemExit("the daemon stopped")
            time.sleep(0.01)
    missing = args.hand_raisers - len(landed)
    if missing:
        print(f"  {missing} hand-raiser(s) did not reach HubSpot within {WAIT_S:g} s")
    return {
        "file_to_ledger": [ledger[e] - written[e] for e in landed if e in ledger],
        "ledger_to_crm": [landed[e] - ledger[e] for e in landed if e in ledger],
        "file_to_crm": [landed[e] - written[e] for e in landed],
    }


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hand-raisers", type=int, default=200)
    parser.add_argument("--every-s", type=float, default=0.5, help="between two hand-raisers")
    parser.add_argument("--contacts", type=int, default=2_000, help="pushed before them")
    parser.add_argument("--latency-ms", type=float, default=150)
    parser.add_argument("--store-url", help="PostgreSQL instead of SQLite (a fresh schema)")
    args = parser.parse_args()
    if not CONTACTS_SPEC.exists():
        raise SystemExit(f"HubSpot's OpenAPI files are not at {CONTACTS_SPEC}")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="leadsync-bench-hand-db-") as scratch:
        if args.store_url:
            with postgres_schema(args.store_url) as url:
                if url is None:
                    raise SystemExit(f"PostgreSQL unreachable at {args.store_url}")
                label, figures = "PostgreSQL", measure(url, args)
        else:
            label, figures = "SQLite", measure(f"sqlite:///{scratch}/bench.db", args)
    print(
        f"{label}: {len(figures['file_to_crm'])} of {args.hand_raisers} hand-raisers, one every "
        f"{args.every_s:g} s, HubSpot answering in {args.latency_ms:g} ms, pull every 1 s"
    )
    print(f"  {'from':<28} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    for name, label_text in (
        ("ledger_to_crm", "the ledger to HubSpot"),
        ("file_to_ledger", "the file to the ledger"),
        ("file_to_crm", "the file to HubSpot"),
    ):
        values = figures[name]
        if values:
            print(
                f"  {label_text:<28} {statistics.median(values):>7.2f} "
                f"{_percentile(values, 0.95):>7.2f} {max(values):>7.2f}"
            )


if __name__ == "__main__":
    main()
