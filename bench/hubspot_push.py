"""HubSpot push benchmark: N changed contacts pushed to a local server enforcing HubSpot's
rolling limit (100 requests per 10 s by default), through the official client.

Prints measured figures; it asserts nothing about speed. Two pushes:

1. first push: no HubSpot id is known yet, so each batch of 100 is looked up by e-mail
   (one read call) before it is written (one write call);
2. a later run (10 s on: the first push's rolling window has passed), after every contact
   got a new event and was rescored: ids are linked, writes only.

For each: write calls against the minimum (ceil(n / 100)), other calls, 429s received,
seconds, records/s, and that rate against what the limit allows (calls per 10 s x 100).
The server adds a round trip's latency to each answer (150 ms by default, HubSpot's
order of magnitude) and validates every request and response against HubSpot's OpenAPI
file in
``../shared/specs/hubspot`` (like the tests), which costs it a few ms per call.

    .venv/bin/python bench/hubspot_push.py [--contacts 10000] [--limit 100]
        [--latency-ms 150] [--in-flight 4]
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
from pathlib import Path

import structlog
from pytest_httpserver import HTTPServer

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _push_events import write_events  # noqa: E402

from adapters.files import FileSource  # noqa: E402
from adapters.hubspot.writer import hubspot_writer  # noqa: E402
from connector.config import Settings, scoring_rules  # noqa: E402
from connector.crm.mapping import load_mapping  # noqa: E402
from connector.runners.ingest import ingest  # noqa: E402
from connector.runners.push import push  # noqa: E402
from connector.runners.rescore import rescore  # noqa: E402
from connector.store.engine import open_store  # noqa: E402
from tests.adapters.hubspot_fake import CONTACTS_SPEC, FakeHubSpot, SpecValidator  # noqa: E402

TOKEN = "pat-bench-token"  # noqa: S105 - a local fake's token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=100, help="requests per 10 s")
    parser.add_argument(
        "--latency-ms", type=float, default=150, help="round trip the server adds to each call"
    )
    parser.add_argument("--in-flight", type=int, default=4, help="write calls at once")
    args = parser.parse_args()
    if not CONTACTS_SPEC.exists():
        raise SystemExit(f"HubSpot's OpenAPI files are not at {CONTACTS_SPEC}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
    os.environ["HUBSPOT_ACCESS_TOKEN"] = TOKEN
    fake = FakeHubSpot(
        SpecValidator(CONTACTS_SPEC),
        token=TOKEN,
        limit_per_10s=args.limit,
        latency_s=args.latency_ms / 1000,
    )
    server = HTTPServer(threaded=True)
    server.expect_request(
        re.compile(r"^/crm/v3/objects/contacts/batch/\w+$"), method="POST"
    ).respond_with_handler(fake.handle)
    server.start()
    emails = [f"c{number}@bench.example" for number in range(args.contacts)]
    for email in emails:
        fake.add_contact(email, lifecyclestage="lead")
    minimum = math.ceil(args.contacts / 100)
    allowed_per_s = args.limit / 10 * 100
    mapping = load_mapping(REPO / "mappings" / "hubspot.toml")
    rules = scoring_rules(Settings())
    with tempfile.TemporaryDirectory() as folder:
        engine = open_store(f"sqlite:///{Path(folder) / 'bench.db'}")
        rows: list[str] = []
        for label, kind, day in (
            ("first push (ids looked up by e-mail)", "quote_request", 0),
            ("second push (ids linked)", "callback_request", 1),
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
            calls_before, writes_before, limited_before = (
                len(fake.calls),
                len(fake.writes()),
                fake.received_429,
            )
            started = time.perf_counter()
            summary = push(engine, writer, mapping, create="never")
            seconds = time.perf_counter() - started
            write_calls = len(fake.writes()) - writes_before
            other_calls = len(fake.calls) - calls_before - write_calls
            rate = summary.written / seconds
            rows.append(
                f"{label:<38} {summary.written:>8,} {write_calls:>6} {minimum:>8} "
                f"{other_calls:>6} {fake.received_429 - limited_before:>5} {seconds:>7.2f} "
                f"{rate:>10,.0f} {rate / allowed_per_s:>7.0%}"
            )
        engine.dispose()
    server.stop()
    print(
        f"{args.contacts:,} changed contacts, server limit {args.limit} requests per 10 s "
        f"(allows {allowed_per_s:,.0f} records/s at 100 a call), {args.latency_ms:g} ms a "
        f"round trip, {args.in_flight} write call(s) in flight"
    )
    print(
        f"{'push':<38} {'written':>8} {'writes':>6} {'minimum':>8} {'other':>6} "
        f"{'429s':>5} {'seconds':>7} {'records/s':>10} {'allowed':>7}"
    )
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
