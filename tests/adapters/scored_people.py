"""Contacts scored in a store, for the CRM push tests: one event each, then a pass; and
what sales said of one of them, as a CRM reader would bring it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy.engine import Engine

from adapters.files import FileSource
from connector.config import Settings, scoring_rules
from connector.model import SalesSignals, SalesStatus
from connector.ports import CrmReader, ProfileSnapshot, SnapshotPage
from connector.runners.ingest import ingest
from connector.runners.rescore import rescore

RULES = scoring_rules(Settings())
DAY0 = datetime(2026, 11, 2, tzinfo=UTC)


def scored_people(
    engine: Engine, tmp_path: Path, count: int, kind: str = "quote_request"
) -> list[str]:
    """``count`` people (p0@acme.example...), each with one ``kind`` event, scored."""
    emails = [f"p{n}@acme.example" for n in range(count)]
    path = tmp_path / f"{kind}.jsonl"
    path.write_bytes(
        b"".join(
            orjson.dumps(
                {
                    "id": f"{kind}-{n}",
                    "kind": kind,
                    "occurred_at": (DAY0 + timedelta(minutes=n)).isoformat(),
                    "email": email,
                }
            )
            + b"\n"
            for n, email in enumerate(emails)
        )
    )
    ingest(engine, FileSource(path.stem, path), command="ingest", resume=False)
    rescore(engine, RULES)
    return emails


def sales_said(email: str, status: SalesStatus) -> CrmReader:
    """A CRM reader bringing one answer of sales for ``email``, three days after DAY0."""

    class SalesSaid:
        name = "crm"

        def read_changes(self, cursor: str | None) -> Iterator[SnapshotPage]:
            yield SnapshotPage(
                [
                    ProfileSnapshot(
                        "crm", DAY0 + timedelta(days=3), email, sales=SalesSignals(status=status)
                    )
                ]
            )

    return SalesSaid()
