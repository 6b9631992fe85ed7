"""Cursor names: each backfill range has its own, within the column's width."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from connector.ingest.canonical import MAX_SOURCE_LENGTH
from connector.store.cursors import backfill_checkpoint_name

SINCE = datetime(2026, 11, 5, tzinfo=UTC)
UNTIL = datetime(2026, 11, 10, tzinfo=UTC)


class TestBackfillCheckpointName:
    def test_names_the_source_and_the_range_in_utc(self) -> None:
        paris = timezone(timedelta(hours=1))
        assert backfill_checkpoint_name("fair", SINCE.astimezone(paris), None) == (
            "backfill:fair:20261105T000000Z-open"
        )
        assert backfill_checkpoint_name("fair", SINCE, UNTIL + timedelta(microseconds=5)) == (
            "backfill:fair:20261105T000000Z-20261110T000000.000005Z"
        )

    def test_two_ranges_or_two_sources_never_share_one(self) -> None:
        names = {
            backfill_checkpoint_name(source, since, until)
            for source in ("fair", "x" * MAX_SOURCE_LENGTH, "x" * (MAX_SOURCE_LENGTH - 1) + "y")
            for since, until in (
                (SINCE, UNTIL),
                (SINCE, None),
                (SINCE + timedelta(seconds=1), UNTIL),
            )
        }
        assert len(names) == 9
        assert max(len(name) for name in names) == 100  # cursors.source is 100 wide
