"""``push --all`` in the push core, through the in-memory writer, on both stores: every
scored contact rewritten whatever was last written, chunk by chunk with a checkpoint, so a
stopped rewrite goes on after the last chunk it recorded and a finished one starts over."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.errors import Interrupted
from connector.ports import CrmRecordWrite, WriteResult
from connector.runners.push import push
from connector.store.schema import cursors, runs
from tests.adapters.scored_people import scored_people
from tests.crm.memory_writer import MemoryCrm
from tests.crm.test_push_core import MAPPING, _contact_ids, _writes_per_email

PEOPLE = 7
CHECKPOINT = "push-all:memory"


@dataclass
class ChunkedCrm(MemoryCrm):
    """The memory CRM taking two records a write, and stopped (as by Ctrl-C or SIGTERM,
    which the CLI turns into KeyboardInterrupt) in the write call number ``stop_in_call``,
    before that call takes anything."""

    stop_in_call: int | None = None

    def records_per_write(self, total: int) -> int:
        return 2

    def write(
        self, records: Sequence[CrmRecordWrite], *, linked: Mapping[str, int] | None = None
    ) -> list[WriteResult]:
        if self.stop_in_call is not None and len(self.calls) + 1 == self.stop_in_call:
            self.calls.append(list(records))
            raise KeyboardInterrupt
        return super().write(records, linked=linked)


def _checkpoint(engine: Engine) -> str | None:
    with engine.connect() as connection:
        value = connection.execute(
            sa.select(cursors.c.value).where(cursors.c.source == CHECKPOINT)
        ).scalar()
    return None if value is None else str(value)


class TestRewriteAll:
    def test_every_contact_is_rewritten_although_nothing_changed(
        self, engine: Engine, tmp_path: Path
    ) -> None:
        """After a push that wrote everything, an ordinary push sends nothing, and a push
        --all sends every contact with every mapped field."""
        emails = scored_people(engine, tmp_path, PEOPLE)
        crm = MemoryCrm()
        push(engine, crm, MAPPING, create="always")
        assert push(engine, crm, MAPPING, create="always").planned == 0
        crm.calls.clear()
        crm.applied.clear()

        summary = push(engine, crm, MAPPING, create="always", rewrite_all=True)

        assert (summary.written, summary.unchanged, summary.rewrite_all) == (PEOPLE, 0, True)
        sent = [record for call in crm.calls for record in call]
        assert sorted(str(record.email) for record in sent) == sorted(emails)
        assert {frozenset(record.fields) for record in sent} == {frozenset(MAPPING.fields.values())}
        assert _writes_per_email(crm) == Counter(dict.fromkeys(emails, 1))
        assert _checkpoint(engine) is None  # finished: the next one starts over

    def test_a_stopped_rewrite_goes_on_after_the_last_chunk_it_recorded(
        self, engine: Engine, tmp_path: Path
    ) -> None:
        """Stopped in its third write, the rerun sends only the contacts after the two
        chunks recorded: each contact is rewritten once over the two runs, the one in
        flight included (it was never taken)."""
        emails = scored_people(engine, tmp_path, PEOPLE)
        crm = ChunkedCrm()
        push(engine, crm, MAPPING, create="always")
        crm.calls.clear()
        crm.applied.clear()
        crm.stop_in_call = 3

        with pytest.raises(Interrupted, match="4 of 7 memory records rewritten and recorded"):
            push(engine, crm, MAPPING, create="always", rewrite_all=True)

        by_id = sorted(_contact_ids(engine).values())
        assert _checkpoint(engine) == str(by_id[3])  # the second chunk's last contact
        crm.stop_in_call = None
        calls_before = len(crm.calls)

        again = push(engine, crm, MAPPING, create="always", rewrite_all=True)

        assert (again.resumed_after, again.planned, again.written) == (by_id[3], 3, 3)
        resent = [record.contact_id for call in crm.calls[calls_before:] for record in call]
        assert resent == by_id[4:]
        assert _writes_per_email(crm) == Counter(dict.fromkeys(emails, 1))
        assert _checkpoint(engine) is None
        with engine.connect() as connection:
            statuses = connection.execute(sa.select(runs.c.status).order_by(runs.c.id)).all()
        assert [status for (status,) in statuses][-2:] == ["interrupted", "ok"]
        stats = _last_run_stats(engine)
        assert (stats["rewrite_all"], stats["resumed_after"]) == (True, by_id[3])

    def test_a_finished_rewrite_starts_over_next_time(self, engine: Engine, tmp_path: Path) -> None:
        emails = scored_people(engine, tmp_path, PEOPLE)
        crm = ChunkedCrm()
        push(engine, crm, MAPPING, create="always", rewrite_all=True)
        crm.applied.clear()

        again = push(engine, crm, MAPPING, create="always", rewrite_all=True)

        assert (again.resumed_after, again.written) == (None, PEOPLE)
        assert _writes_per_email(crm) == Counter(dict.fromkeys(emails, 1))

    def test_a_dry_run_plans_every_contact_and_sends_nothing(
        self, engine: Engine, tmp_path: Path
    ) -> None:
        scored_people(engine, tmp_path, PEOPLE)
        crm = MemoryCrm()
        push(engine, crm, MAPPING, create="always")
        crm.calls.clear()
        planned: list[int] = []

        summary = push(
            engine,
            None,
            MAPPING,
            create="always",
            dry_run=True,
            rewrite_all=True,
            on_planned=lambda plan: planned.extend(r.contact_id for r in plan.records),
        )

        assert (summary.planned, summary.unchanged) == (PEOPLE, 0)
        assert planned == sorted(_contact_ids(engine).values())
        assert crm.calls == []
        assert _checkpoint(engine) is None


def _last_run_stats(engine: Engine) -> dict[str, object]:
    with engine.connect() as connection:
        stats = connection.execute(
            sa.select(runs.c.stats).order_by(runs.c.id.desc()).limit(1)
        ).scalar_one()
    return stats if isinstance(stats, dict) else json.loads(stats)
