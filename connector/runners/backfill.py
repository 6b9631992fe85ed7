"""A backfill: the events of a bounded range of dates, read from a source on a checkpoint
of its own.

The checkpoint is a cursor named for the source and the range
(``connector.store.cursors.backfill_checkpoint_name``), committed with each page as a
pull's cursor is, so a rerun resumes where a stopped one ended and the source's regular
cursor, the one ``pull`` and the daemon resume from, is never moved. Beside a pull of the
same source the two read the same events; the ledger's ``(source, source_event_id)``
dedupe stores each once.

The pages go through ``ingest`` (the page to ledger path, the reader process, the runs
table, Ctrl-C and SIGTERM): the range source is seen there as a plain source whose cursor
is the checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from connector.ports import Page, RangeSource, SizedSource
from connector.runners.ingest import IngestSummary, ProgressCallback, ingest
from connector.store.cursors import backfill_checkpoint_name, read_cursor

__all__ = ["BackfillSummary", "backfill", "shown_moment"]


def shown_moment(moment: datetime | None) -> str | None:
    """A range's end as the summary shows it: ISO 8601 in UTC, ``Z`` for the offset."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class BackfillSummary(IngestSummary):
    since: str | None = None
    until: str | None = None  # None: no end
    checkpoint: str = ""  # the cursor name it resumes from
    resumed: bool = False  # an earlier run of this range had stored a checkpoint
    # An earlier run of this range had read it to its end. A run that ends "ok" in the
    # runs table read it to its end.
    finished_before: bool = False

    def kept(self) -> str:
        return (
            f"{self.stored:,} new events from {self.source} stored and kept, "
            f"{self.rejected:,} set aside, {self.skipped:,} outside the range skipped"
        )


@dataclass(frozen=True, slots=True)
class _Checkpoint:
    """The source's own cursor within the range, and whether the range was read to its
    end. Stored as JSON; the source's cursor inside it stays the source's business."""

    cursor: str | None
    finished: bool

    def dump(self) -> str:
        return json.dumps({"cursor": self.cursor, "finished": self.finished})

    @staticmethod
    def load(text: str | None) -> _Checkpoint | None:
        if text is None:
            return None
        try:
            data = json.loads(text)
            cursor = data["cursor"]
            return _Checkpoint(None if cursor is None else str(cursor), bool(data["finished"]))
        except (ValueError, KeyError, TypeError):
            return None  # not ours to read: the range is read again, the ledger dedupes


class _RangeReading:
    """``source``'s range as a plain source: ``pull(checkpoint)`` reads the range from the
    checkpoint, and ends on an empty page whose checkpoint says the range was read to its
    end. Plain attributes only, so it pickles for the reader process as its source does."""

    def __init__(self, source: RangeSource, since: datetime, until: datetime | None) -> None:
        self.name = source.name
        self.source = source
        self.since = since
        self.until = until
        self.subprocess_safe = bool(getattr(source, "subprocess_safe", False))

    def size(self) -> int:
        return self.source.size() if isinstance(self.source, SizedSource) else 0

    def pull(self, cursor: str | None) -> Iterator[Page]:
        start = _Checkpoint.load(cursor)
        last = None if start is None else start.cursor
        for page in self.source.pull_range(self.since, self.until, last):
            if page.cursor is not None:
                last = page.cursor
                # Frozen dataclass with slots: a copy with the checkpoint for a cursor.
                page = Page(
                    page.events,
                    page.rejects,
                    _Checkpoint(page.cursor, finished=False).dump(),
                    page.bytes_read,
                    page.origin,
                    page.lines,
                    page.skipped,
                )
            yield page
        yield Page((), cursor=_Checkpoint(last, finished=True).dump())


def backfill(
    engine: Engine,
    source: RangeSource,
    *,
    since: datetime,
    until: datetime | None,
    on_progress: ProgressCallback | None = None,
    subprocess_above_bytes: int | None = None,
) -> BackfillSummary:
    """Store the events of ``source`` with ``since <= occurred_at < until`` (no end when
    ``until`` is None), from this range's checkpoint, and advance the checkpoint page by
    page. A rerun of a range read to its end reads only what the source gained since,
    and stores nothing new when it gained nothing.

    Raises:
        Interrupted: Ctrl-C or SIGTERM; what was committed is kept, with its checkpoint.
    """
    checkpoint = backfill_checkpoint_name(source.name, since, until)
    before = _Checkpoint.load(read_cursor(engine, checkpoint))
    summary = BackfillSummary(
        source=source.name,
        since=shown_moment(since),
        until=shown_moment(until),
        checkpoint=checkpoint,
        resumed=before is not None,
        finished_before=before is not None and before.finished,
    )
    ingest(
        engine,
        _RangeReading(source, since, until),
        command="backfill",
        resume=True,
        checkpoint=checkpoint,
        summary=summary,
        on_progress=on_progress,
        subprocess_above_bytes=subprocess_above_bytes,
    )
    return summary
