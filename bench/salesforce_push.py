"""Salesforce push benchmark: calls made for N changed records against the minimum, and
records/s through the adapter, with the HTTP layer stubbed (``responses`` answering as
the in-memory org of the tests, in Salesforce's shapes).

Prints measured figures; it asserts nothing about speed. Three pushes of N records, half
Leads, half Contacts:

1. first push: no Salesforce id is known, so the e-mails are looked up (SOQL, Contacts
   then Leads, in lists under the URI limit) before the writes;
2. a later push after every record was rescored: ids linked, sObject Collections writes
   only; the minimum is ceil(N / 200) calls;
3. the same with ``bulk_above`` below N: Bulk API 2.0 jobs (one per object).

For each: calls by kind, seconds, records/s for the whole push (store included) and for
the writer alone.

    .venv/bin/python bench/salesforce_push.py [--records 10000]
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import responses
import structlog

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _push_events import write_events  # noqa: E402
from simple_salesforce.api import Salesforce  # noqa: E402

from adapters.files import FileSource  # noqa: E402
from adapters.salesforce.client import SalesforceApi  # noqa: E402
from adapters.salesforce.writer import SalesforceWriter  # noqa: E402
from connector.config import Settings, scoring_rules  # noqa: E402
from connector.crm.mapping import load_mapping  # noqa: E402
from connector.ports import CrmRecordWrite, WriteResult  # noqa: E402
from connector.runners.ingest import ingest  # noqa: E402
from connector.runners.push import push  # noqa: E402
from connector.runners.rescore import rescore  # noqa: E402
from connector.store.engine import open_store  # noqa: E402
from tests.adapters.salesforce_fake import (  # noqa: E402
    INSTANCE,
    ITEMS_DIR,
    VERSION,
    FakeOrg,
    serve_with_responses,
)

KINDS = ("site_visit", "document_download", "callback_request", "quote_request")


class TimedWriter:
    """The adapter, its own time measured apart from the store's."""

    def __init__(self, writer: SalesforceWriter) -> None:
        self.name = writer.name
        self._writer = writer
        self.seconds = 0.0

    def records_per_write(self, total: int) -> int:
        return self._writer.records_per_write(total)

    def write(
        self, records: Sequence[CrmRecordWrite], *, linked: Mapping[str, int] | None = None
    ) -> list[WriteResult]:
        started = time.perf_counter()
        try:
            return self._writer.write(records, linked=linked)
        finally:
            self.seconds += time.perf_counter() - started


def _calls(org: FakeOrg, since: int) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for method, path, _ in org.calls[since:]:
        rest = path.split(f"/v{VERSION}/", 1)[1]
        if rest.startswith("jobs/ingest"):
            kinds["bulk 2.0"] += 1
        elif rest.startswith("query"):
            kinds["query"] += 1
        else:
            kinds[f"{method} {rest}"] += 1
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    args = parser.parse_args()
    if not ITEMS_DIR.is_dir():
        sys.exit(
            f"Salesforce's request collection is not at {ITEMS_DIR}: the stubbed org checks "
            "every call against it. Export LEADSYNC_SPECS_DIR=/path/to/shared/specs."
        )
    count = args.records
    logging.disable(logging.CRITICAL)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    mapping = load_mapping(REPO / "mappings" / "salesforce.toml")
    rules = scoring_rules(Settings())
    emails = [f"person{n}@bench.example" for n in range(count)]
    org = FakeOrg()
    for number, email in enumerate(emails):
        org.add("Lead" if number % 2 else "Contact", email)
    minimum = math.ceil(count / 200)
    print(f"Salesforce push of {count:,} changed records (half Leads, half Contacts)")
    print(f"minimum sObject Collections calls: ceil({count:,} / 200) = {minimum:,}")
    with (
        tempfile.TemporaryDirectory() as scratch,
        responses.RequestsMock(assert_all_requests_are_fired=False) as mocked,
    ):
        serve_with_responses(org, mocked)
        engine = open_store(f"sqlite:///{scratch}/bench.db")
        sf = Salesforce(instance_url=INSTANCE, session_id=org.token, version=VERSION)
        for round_number, (label, bulk_above) in enumerate(
            (
                ("first push (look-ups by e-mail)", 10**9),
                ("later push (ids linked)", 10**9),
                ("later push through Bulk API 2.0", 1_000),
            )
        ):
            path = Path(scratch) / f"round{round_number}.jsonl"
            write_events(path, emails, KINDS[round_number], round_number)
            ingest(engine, FileSource(path.stem, path), command="ingest", resume=False)
            rescore(engine, rules)
            writer = TimedWriter(
                SalesforceWriter(SalesforceApi(sf), bulk_above=bulk_above, bulk_poll_s=0)
            )
            before = len(org.calls)
            started = time.perf_counter()
            summary = push(engine, writer, mapping, create="never")
            elapsed = time.perf_counter() - started
            calls = _calls(org, before)
            print(f"\n{label}:")
            print(
                f"  written {summary.written:,}, rejected {summary.rejected:,}, "
                f"deferred {summary.deferred:,}"
            )
            for kind, times in sorted(calls.items()):
                print(f"  calls {kind}: {times:,}")
            if org.jobs:
                print(f"  bulk jobs: {len(org.jobs)}")
            writes = calls.get("PATCH composite/sobjects", 0)
            if writes:
                print(f"  collections writes / minimum: {writes:,} / {minimum:,}")
            print(
                f"  {elapsed:.2f} s in all, {summary.written / elapsed:,.0f} records/s; "
                f"writer alone {writer.seconds:.2f} s, "
                f"{summary.written / writer.seconds:,.0f} records/s"
            )


if __name__ == "__main__":
    main()
