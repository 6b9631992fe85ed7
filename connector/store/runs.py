"""The runs table: one row per command that changes the store, with its figures.

A run records the process that holds it (pid and host). A process killed outright
(SIGKILL, the machine losing power) cannot record its own end, so the next command on the
same host marks each run whose process is gone as ``interrupted``. A run held by another
host is left as it is: from here it cannot be told whether that process still lives.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import psutil
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from connector.store.schema import runs

__all__ = ["INTERRUPTED", "RUNNING", "close_abandoned_runs", "finish_run", "start_run"]

log = structlog.get_logger(__name__)

RUNNING = "running"
INTERRUPTED = "interrupted"
# Process start times are read from the kernel at a coarser grain than our clock.
_START_TIME_SLACK = timedelta(seconds=2)


def _host() -> str:
    return socket.gethostname()[:255]


def start_run(engine: Engine, command: str) -> int:
    with engine.begin() as connection:
        run_id = connection.execute(
            runs.insert()
            .values(
                command=command,
                started_at=datetime.now(UTC),
                status=RUNNING,
                pid=os.getpid(),
                host=_host(),
            )
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


def _still_held(pid: int, started_at: datetime) -> bool:
    """Whether process ``pid`` is the one that started a run at ``started_at``.

    A pid is reused once its process is gone: a live process that started after the run
    did is another one.
    """
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        created = datetime.fromtimestamp(process.create_time(), UTC)
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # it exists but cannot be inspected: assume it is the owner
    return created <= started_at + _START_TIME_SLACK


def close_abandoned_runs(engine: Engine) -> list[int]:
    """Mark ``interrupted`` every run of this host still ``running`` whose process is
    gone; returns their ids. Best effort: a read-only role or a busy store leaves them
    for a later command."""
    try:
        return _close_abandoned_runs(engine)
    except SQLAlchemyError as failure:
        log.warning("run.abandoned_not_marked", error=str(failure).splitlines()[0][:300])
        return []


def _close_abandoned_runs(engine: Engine) -> list[int]:
    host = _host()
    with engine.connect() as connection:
        candidates = connection.execute(
            sa.select(runs.c.id, runs.c.command, runs.c.pid, runs.c.started_at).where(
                runs.c.status == RUNNING, runs.c.host == host, runs.c.pid.is_not(None)
            )
        ).all()
    abandoned = [row for row in candidates if not _still_held(int(row.pid), row.started_at)]
    if not abandoned:
        return []
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for row in abandoned:
            # Guarded by the status: the owner cannot finish it now, but another command
            # starting at the same moment may already have closed it.
            connection.execute(
                sa.update(runs)
                .where(runs.c.id == row.id, runs.c.status == RUNNING)
                .values(status=INTERRUPTED, finished_at=now)
            )
            log.warning(
                "run.abandoned",
                run_id=row.id,
                command=row.command,
                pid=row.pid,
                started_at=row.started_at.isoformat(),
                reason="its process ended without recording an end (killed or crashed)",
            )
    return [int(row.id) for row in abandoned]
