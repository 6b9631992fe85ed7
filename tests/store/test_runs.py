"""The runs table tells the truth about runs whose process died: the next command on the
host marks them interrupted, and leaves alone the runs of live processes and of other
hosts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psutil
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.store.engine import open_store
from connector.store.runs import close_abandoned_runs, start_run
from connector.store.schema import runs

_START_A_RUN_AND_WAIT = """
import sys, time
from connector.store.engine import create_store_engine
from connector.store.runs import start_run
engine = create_store_engine(sys.argv[1])
print(start_run(engine, "ingest"), flush=True)
time.sleep(60)
"""


def _status(engine: Engine, run_id: int) -> str:
    with engine.connect() as connection:
        return str(
            connection.execute(sa.select(runs.c.status).where(runs.c.id == run_id)).scalar_one()
        )


def _insert_run(engine: Engine, *, pid: int, host: str, started_at: datetime) -> int:
    with engine.begin() as connection:
        return int(
            connection.execute(
                runs.insert()
                .values(
                    command="score", started_at=started_at, status="running", pid=pid, host=host
                )
                .returning(runs.c.id)
            ).scalar_one()
        )


def test_a_run_whose_process_was_killed_is_marked_interrupted_by_the_next_command(
    engine: Engine, store_url: str
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _START_A_RUN_AND_WAIT, store_url],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        run_id = int(holder.stdout.readline())
        assert close_abandoned_runs(engine) == []  # its process lives: still running
        assert _status(engine, run_id) == "running"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
    open_store(store_url).dispose()  # what every command does first
    assert _status(engine, run_id) == "interrupted"
    with engine.connect() as connection:
        finished = connection.execute(
            sa.select(runs.c.finished_at).where(runs.c.id == run_id)
        ).scalar_one()
    assert finished is not None


def test_a_live_run_and_another_hosts_run_are_left_running(engine: Engine) -> None:
    mine = start_run(engine, "push")
    elsewhere = _insert_run(
        engine, pid=1, host="another-host.example", started_at=datetime.now(UTC)
    )
    assert close_abandoned_runs(engine) == []
    assert _status(engine, mine) == "running"
    assert _status(engine, elsewhere) == "running"


def test_a_run_whose_pid_now_belongs_to_a_newer_process_is_interrupted(engine: Engine) -> None:
    # This process started after the run did: the pid was reused, the owner is gone.
    before_this_process = datetime.fromtimestamp(psutil.Process().create_time(), UTC)
    reused = _insert_run(
        engine,
        pid=os.getpid(),
        host=socket.gethostname(),
        started_at=before_this_process - timedelta(hours=1),
    )
    assert close_abandoned_runs(engine) == [reused]
    assert _status(engine, reused) == "interrupted"
