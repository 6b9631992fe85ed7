"""Reading a source in a child process gives the same ledger as reading it in-process."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.files import FileSource
from connector.errors import FatalError, InputFileError
from connector.ports import Page
from connector.runners.ingest import ingest
from connector.runners.pipeline import encoded_pages
from connector.store.schema import events, rejects


def _write(path: Path, count: int) -> None:
    lines = [
        orjson.dumps(
            {
                "id": f"e{n}",
                "kind": "document_download" if n % 7 == 0 else "site_visit",
                "occurred_at": f"2026-11-02T10:{n % 60:02d}:00Z",
                "email": f"p{n % 11}@acme.example",
                "profile": {"country": "FR"} if n % 5 == 0 else None,
            }
        )
        for n in range(count)
    ]
    lines.insert(3, b"{broken")
    path.write_bytes(b"\n".join(lines) + b"\n")


def _ledger(engine: Engine) -> tuple[list[tuple[str, str, int]], int]:
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(events.c.source_event_id, events.c.kind, events.c.contact_id).order_by(
                events.c.source_event_id
            )
        ).all()
        rejected = connection.execute(sa.select(sa.func.count()).select_from(rejects)).scalar()
    return [tuple(row) for row in stored], int(rejected or 0)


def test_child_process_reading_stores_the_same_events_and_rejects(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    _write(path, 120)
    summary = ingest(
        engine,
        FileSource("child", path, page_size=25),
        command="ingest",
        resume=True,
        subprocess_above_bytes=0,
    )
    assert (summary.read, summary.stored, summary.rejected) == (121, 120, 1)
    stored, rejected = _ledger(engine)
    assert len(stored) == 120 and rejected == 1

    again = ingest(
        engine,
        FileSource("child", path),
        command="ingest",
        resume=False,
        subprocess_above_bytes=None,
    )
    assert (again.stored, again.duplicates) == (0, 120)


def test_a_missing_file_read_in_a_child_is_the_same_clear_error(tmp_path: Path) -> None:
    source = FileSource("gone", tmp_path / "gone.jsonl")
    source.size = lambda: 10**9  # type: ignore[method-assign]
    with pytest.raises(InputFileError, match=r"gone\.jsonl: file not found") as raised:
        list(encoded_pages(source, None, subprocess_above_bytes=0))
    assert raised.value.file.endswith("gone.jsonl")


def test_errors_keep_their_facts_across_processes() -> None:
    error = InputFileError("file not found", file="x.jsonl", hint="check the path")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert (type(copy), str(copy), copy.file) == (InputFileError, str(error), "x.jsonl")


class _Exploding:
    """Picklable source whose reader fails after one page, as a crash mid-file would."""

    name = "exploding"
    subprocess_safe = True

    def __init__(self, inner: FileSource) -> None:
        self.inner = inner

    def size(self) -> int:
        return 1

    def pull(self, cursor: str | None) -> Iterator[Page]:
        for number, page in enumerate(self.inner.pull(cursor)):
            if number == 1:
                raise RuntimeError("reader crashed")
            yield page


def test_a_reader_crash_stops_the_run_and_the_rerun_completes_it(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    _write(path, 60)
    with pytest.raises((RuntimeError, FatalError), match="reader crashed"):
        ingest(
            engine,
            _Exploding(FileSource("exploding", path, page_size=20)),
            command="pull",
            resume=True,
            subprocess_above_bytes=0,
        )
    # The first page (20 records: 19 events and the broken line) was committed.
    stored, rejected = _ledger(engine)
    assert (len(stored), rejected) == (19, 1)
    ingest(engine, FileSource("exploding", path, page_size=20), command="pull", resume=True)
    assert len(_ledger(engine)[0]) == 60


def test_the_core_finds_the_file_adapter_through_its_entry_point(tmp_path: Path) -> None:
    from connector.config import Settings
    from connector.plugins import file_source

    path = tmp_path / "events.jsonl"
    _write(path, 3)
    source = file_source(Settings(base_dir=tmp_path), path, name="found")
    assert source.size() == path.stat().st_size
    pages = list(source.pull(None))
    assert sum(len(page.events) for page in pages) == 3
