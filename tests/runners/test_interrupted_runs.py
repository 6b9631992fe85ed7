"""Ctrl-C in a scoring pass or a push: what was committed is kept and said, the run is
recorded as interrupted with its figures, and the same command again finishes the job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.errors import Interrupted
from connector.ports import CrmRecordWrite, WriteResult
from connector.runners import rescore as rescore_module
from connector.runners.push import push
from connector.runners.rescore import rescore
from connector.store.schema import pushed_state, runs, scores
from tests.adapters.scored_people import RULES, scored_people
from tests.crm.memory_writer import MemoryCrm
from tests.crm.test_push_core import MAPPING


def _runs(engine: Engine, command: str) -> list[tuple[str, dict[str, object]]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(runs.c.status, runs.c.stats)
            .where(runs.c.command == command)
            .order_by(runs.c.id)
        )
        return [(row.status, row.stats) for row in rows]


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_an_interrupted_scoring_pass_keeps_its_chunks_and_says_so(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scored_people(engine, tmp_path, 6)  # ingests and scores once
    monkeypatch.setattr(rescore_module, "CHUNK_CONTACTS", 2)

    def stop_after_the_first_chunk(done: int, _total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(Interrupted) as stopped:
        rescore(engine, RULES, full=True, on_progress=stop_after_the_first_chunk)
    assert stopped.value.kept == "2 contacts scored and stored; the next pass scores the rest"
    status, stats = _runs(engine, "score")[-1]
    assert status == "interrupted"
    assert stats["contacts_scored"] == 2

    again = rescore(engine, RULES)
    assert again.full  # the cut full pass is due again
    assert again.contacts_scored == 6 == _count(engine, scores)
    assert [status for status, _ in _runs(engine, "score")] == ["ok", "interrupted", "ok"]


class _StopsOnSecondWrite(MemoryCrm):
    def write(
        self, records: Sequence[CrmRecordWrite], *, linked: Mapping[str, int] | None = None
    ) -> list[WriteResult]:
        if self.calls:
            raise KeyboardInterrupt
        return super().write(records, linked=linked)

    def records_per_write(self, total: int) -> int:
        return 3


def test_an_interrupted_push_records_what_the_crm_took_and_the_next_push_sends_the_rest(
    engine: Engine, tmp_path: Path
) -> None:
    scored_people(engine, tmp_path, 7)
    crm = _StopsOnSecondWrite()

    with pytest.raises(Interrupted) as stopped:
        push(engine, crm, MAPPING, create="always")
    assert stopped.value.kept == (
        "3 of 7 memory records written and recorded; the next push sends the rest"
    )
    assert _count(engine, pushed_state) == 3
    status, stats = _runs(engine, "push")[-1]
    assert (status, stats["written"]) == ("interrupted", 3)

    rest = MemoryCrm(records=crm.records)
    summary = push(engine, rest, MAPPING, create="always")
    assert (summary.written, summary.unchanged) == (4, 3)
    assert [status for status, _ in _runs(engine, "push")] == ["interrupted", "ok"]
