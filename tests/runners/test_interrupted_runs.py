"""Ctrl-C in a scoring pass or a push: what was committed is kept and said, the run is
recorded as interrupted with its figures, and the same command again finishes the job."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.errors import Interrupted
from connector.ports import CrmRecordWrite, WriteResult
from connector.runners import rescore as rescore_module
from connector.runners.push import push
from connector.runners.recorded import RecordedRun
from connector.runners.rescore import rescore
from connector.store.schema import pushed_state, runs, scores
from tests.adapters.scored_people import RULES, scored_people
from tests.crm.memory_writer import MemoryCrm
from tests.crm.test_push_core import MAPPING

# The module, not the Typer app that connector.cli exports under the same name.
cli_app = importlib.import_module("connector.cli.app")


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


def _stop_lost_in_a_ping() -> None:
    """What SQLAlchemy's ping of a pooled PostgreSQL connection raises when SIGTERM lands
    in its ``SELECT 1``: its ``finally`` sets autocommit back and fails, and that failure
    replaces the stop (the stop stays as its context)."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        raise sa.exc.ProgrammingError(  # noqa: B904 - the driver's finally does not chain
            "SELECT 1",
            None,
            Exception("can't change 'autocommit' now: connection in transaction status ACTIVE"),
        )


def test_a_stop_hidden_behind_a_drivers_cleanup_failure_is_recorded_as_an_interruption(
    engine: Engine,
) -> None:
    summary = rescore_module.RescoreSummary()
    with (
        pytest.raises(Interrupted, match="nothing scored yet"),
        RecordedRun(engine, "score", summary, kept=lambda: "nothing scored yet"),
    ):
        _stop_lost_in_a_ping()
    assert [status for status, _ in _runs(engine, "score")] == ["interrupted"]


def test_a_stop_hidden_behind_a_drivers_cleanup_failure_exits_as_interrupted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outside a recorded run too: exit 130, "interrupted", not "the store failed" (5)."""

    def failing_app(_args: list[str]) -> None:
        _stop_lost_in_a_ping()

    monkeypatch.setattr(cli_app, "app", failing_app)
    monkeypatch.setattr(sys, "argv", ["leadsync", "score"])
    with pytest.raises(SystemExit) as ended:
        cli_app.main()
    assert ended.value.code == 130
    assert capsys.readouterr().err == (
        "interrupted: what was stored is kept; run the same command again to go on\n"
    )
