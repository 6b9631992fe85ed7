"""The events the push benchmarks score: one of ``kind`` per e-mail on day ``day``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

DAY0 = datetime(2026, 11, 2, tzinfo=UTC)


def write_events(path: Path, emails: list[str], kind: str, day: int) -> None:
    with path.open("wb") as handle:
        for number, email in enumerate(emails):
            record = {
                "id": f"{kind}-{day}-{number}",
                "kind": kind,
                "occurred_at": (DAY0 + timedelta(days=day, seconds=number)).isoformat(),
                "email": email,
            }
            handle.write(orjson.dumps(record) + b"\n")
