"""HubSpot push benchmark: N changed contacts pushed through the official client to a
local server enforcing HubSpot's limits and answering with both of its header families.

Prints measured figures; it asserts nothing about speed. The server allows 100 calls per
rolling 10 s and refuses the 101st (429); it reports 10 per rolling second too, and with
``--enforce-per-second`` refuses the 11th; it says so on every answer (``X-HubSpot-RateLimit-Max``
/ ``-Remaining`` / ``-Interval-Milliseconds`` and ``-Secondly`` / ``-Secondly-Remaining``,
plus the ``-Daily`` pair), adds a round trip to each answer (150 ms by default) and
validates every request and answer against HubSpot's OpenAPI file in
``../shared/specs/hubspot`` (a few ms per call). With ``--unavailable-one-in 20`` it also
answers 503 to one call in 20 (the retries go through the pacer like any call).

Two pushes:

1. first push: no HubSpot id is known yet, so each batch of 100 is looked up by e-mail
   (one read call) before it is written (one write call);
2. a later run (10 s on: the first push's rolling window has passed), after every contact
   got a new event and was rescored: ids are linked, writes only.

For each: calls, write calls against the minimum (ceil(n / 100)), 429s and 503s received,
seconds, records/s, the call rate against the allowed one (the lower of the window's and
the second's), and whether every record was written exactly once and HubSpot holds every
value the store holds.

    .venv/bin/python bench/hubspot_push.py [--contacts 20000] [--limit 100]
        [--per-second 10] [--latency-ms 150] [--in-flight 4] [--unavailable-one-in 20]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
import structlog
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _push_events import write_events  # noqa: E402

from adapters.files import FileSource  # noqa: E402
from adapters.hubspot.writer import hubspot_writer  # noqa: E402
from connector.config import Settings, scoring_rules  # noqa: E402
from connector.crm.mapping import load_mapping  # noqa: E402
from connector.ports import crm_number_text  # noqa: E402
from connector.runners.ingest import ingest  # noqa: E402
from connector.runners.push import push  # noqa: E402
from connector.runners.rescore import rescore  # noqa: E402
from connector.store.engine import open_store  # noqa: E402
from connector.store.schema import contacts, scores  # noqa: E402
from tests.adapters.hubspot_fake import CONTACTS_SPEC, FakeHubSpot, SpecValidator  # noqa: E402

TOKEN = "pat-bench-token"  # noqa: S105 - a local fake's token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--limit", type=int, default=100, help="requests per rolling 10 s")
    parser.add_argument("--per-second", type=int, default=10, help="requests per second")
    parser.add_argument(
        "--latency-ms", type=float, default=150, help="round trip the server adds to each call"
    )
    parser.add_argument("--in-flight", type=int, default=4, help="write calls at once")
    parser.add_argument(
        "--unavailable-one-in", type=int, default=None, help="answer 503 to one call in N"
    )
    parser.add_argument(
        "--enforce-per-second",
        action="store_true",
        help="refuse (429) a call over the per-second share too, not only report it",
    )
    args = parser.parse_args()
    if not CONTACTS_SPEC.exists():
        raise SystemExit(f"HubSpot's OpenAPI files are not at {CONTACTS_SPEC}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
    os.environ["HUBSPOT_ACCESS_TOKEN"] = TOKEN
    fake = FakeHubSpot(
        SpecValidator(CONTACTS_SPEC),
        token=TOKEN,
        limit_per_10s=args.limit,
        limit_per_second=args.per_second,
        enforce_per_second=args.enforce_per_second,
        header_families=("rolling", "secondly", "daily"),
        latency_s=args.latency_ms / 1000,
        unavailable_one_in=args.unavailable_one_in,
    )
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.expect_request(
        re.compile(r"^/crm/v3/objects/contacts/batch/\w+$"), method="POST"
    ).respond_with_handler(fake.handle)
    server.start()
    emails = [f"c{number}@bench.example" for number in range(args.contacts)]
    for email in emails:
        fake.add_contact(email, lifecyclestage="lead")
    minimum = math.ceil(args.contacts / 100)
    allowed_calls_per_s = min(args.limit / 10, args.per_second)
    mapping = load_mapping(REPO / "mappings" / "hubspot.toml")
    rules = scoring_rules(Settings())
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        engine = open_store(f"sqlite:///{Path(folder) / 'bench.db'}")
        for label, kind, day in (
            ("first push (ids looked up by e-mail)", "quote_request", 0),
            ("later push (ids linked)", "callback_request", 1),
        ):
            path = Path(folder) / f"{kind}.jsonl"
            write_events(path, emails, kind, day)
            ingest(engine, FileSource(kind, path), command="bench", resume=False)
            rescore(engine, rules)
            writer = hubspot_writer(
                base_url=server.url_for("/").rstrip("/"),
                requests_per_10s=args.limit,
                batch_size=100,
                timeout_s=30,
                in_flight=args.in_flight,
            )
            if day:
                # A later run: the server's rolling window of the first push has passed.
                time.sleep(10)
            calls_before, writes_before = len(fake.calls), len(fake.writes())
            limited_before, failed_before = fake.received_429, fake.failed_answers
            started = time.perf_counter()
            summary = push(engine, writer, mapping, create="never")
            seconds = time.perf_counter() - started
            writes = fake.writes()[writes_before:]
            failed = fake.failed_answers - failed_before
            # Calls the server answered: those it took, those it refused.
            calls = len(fake.calls) - calls_before + failed + fake.received_429 - limited_before
            times = Counter(item["id"] for body in writes for item in body["inputs"])
            once = sum(1 for count in times.values() if count == 1)
            right = _values_right(engine, fake)
            rate = calls / seconds
            rows.append(
                f"{label:<38} {summary.written:>8,} {calls:>6} {len(writes):>6} {minimum:>8} "
                f"{fake.received_429 - limited_before:>5} {failed:>5} {seconds:>7.2f} "
                f"{summary.written / seconds:>10,.0f} {rate:>7.2f} "
                f"{rate / allowed_calls_per_s:>7.1%} {once:>8,} {right:>8,}"
            )
        engine.dispose()
    server.stop()
    print(
        f"{args.contacts:,} changed contacts; server: {args.limit} calls per rolling 10 s "
        f"enforced, {args.per_second} per rolling second "
        f"{'enforced' if args.enforce_per_second else 'reported'}, both header families on "
        f"every answer (allowed: {allowed_calls_per_s:g} calls/s), {args.latency_ms:g} ms a "
        "round trip"
        + (f", 503 to one call in {args.unavailable_one_in}" if args.unavailable_one_in else "")
        + f"; {args.in_flight} call(s) in flight"
    )
    print(
        f"{'push':<38} {'written':>8} {'calls':>6} {'writes':>6} {'minimum':>8} "
        f"{'429s':>5} {'503s':>5} {'seconds':>7} {'records/s':>10} {'calls/s':>7} "
        f"{'allowed':>7} {'once':>8} {'right':>8}"
    )
    for row in rows:
        print(row)


def _values_right(engine: Engine, fake: FakeHubSpot) -> int:
    """Contacts whose score in HubSpot is the one the store holds."""
    with engine.connect() as connection:
        held = dict(
            connection.execute(
                sa.select(contacts.c.email, scores.c.score).join(
                    scores, scores.c.contact_id == contacts.c.id
                )
            ).all()
        )
    return sum(
        1
        for properties in fake.contacts.values()
        if properties.get("leadsync_score") == crm_number_text(held.get(properties["email"], -1))
    )


if __name__ == "__main__":
    main()
