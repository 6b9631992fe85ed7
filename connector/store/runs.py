"""The runs table: one row per command that changes the store, with its figures."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.store.schema import runs

__all__ = ["finish_run", "start_run"]


def start_run(engine: Engine, command: str) -> int:
    with engine.begin() as connection:
        run_id = connection.execute(
            runs.insert()
            .values(command=command, started_at=datetime.now(UTC), status="running")
            .returning(runs.c.id)
        ).scalar_one()
    return int(run_id)


def finish_run(engine: Engine, run_id: int, status: str, stats: Mapping[str, object]) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.update(runs)
            .where(runs.c.id == run_id)
            .values(finished_at=datetime.now(UTC), status=status, stats=dict(stats))
        )
