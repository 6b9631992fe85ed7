"""Event times: any text either becomes a UTC time inside the bounds or a reject saying why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.errors import RejectedRecordError
from connector.ingest.canonical import EARLIEST_TIME, LATEST_TIME, to_event


def _record(occurred_at: str) -> dict[str, object]:
    return {
        "id": "e1",
        "kind": "site_visit",
        "occurred_at": occurred_at,
        "email": "alice@acme.example",
    }


@pytest.mark.parametrize(
    "occurred_at",
    [
        "9999-12-31T23:59:59-01:00",  # no UTC time: the offset overflows the year 9999
        "0001-01-01T00:00:00+01:00",  # the same before the year 1
        "9999-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
    ],
)
def test_a_time_outside_the_bounds_is_rejected_with_its_reason(occurred_at: str) -> None:
    with pytest.raises(RejectedRecordError) as rejected:
        to_event(_record(occurred_at), default_source="fair")
    assert rejected.value.reason == (
        f"occurred_at {occurred_at!r} is outside the years 1970 to 2199; a date that far off "
        "is a placeholder or a typo: fix it"
    )


@pytest.mark.parametrize(
    ("occurred_at", "expected"),
    [
        ("1970-01-01T00:00:00Z", EARLIEST_TIME),
        ("2199-12-31T23:59:59+00:00", datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("1970-01-01T01:00:00+01:00", EARLIEST_TIME),
    ],
)
def test_times_at_the_bounds_are_kept_in_utc(occurred_at: str, expected: datetime) -> None:
    assert to_event(_record(occurred_at), default_source="fair").occurred_at == expected
    assert EARLIEST_TIME <= expected < LATEST_TIME
