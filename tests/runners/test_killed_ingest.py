"""A killed ingest leaves nothing behind: its reader process ends with it, no store session
stays open, and a rerun stores exactly the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.store.engine import create_store_engine
from connector.store.schema import events, runs
from tests.cli.test_cli import LEADSYNC, clean_env

EVENTS = 150_000
WAIT_S = 20.0


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def _write_events(path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for number in range(EVENTS):
            out.write(
                f'{{"id":"e{number}","kind":"page_view","occurred_at":"2026-11-02T10:00:00Z",'
                f'"email":"p{number % 5000}@acme.example","url":"https://acme.example/p{number}"}}\n'
            )


def stored_events(engine: Engine) -> int:
    """Events in the store (0 until the command under test has created the tables)."""
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(events)).scalar())
    except sa.exc.DBAPIError:
        return 0


def assert_a_rerun_stores_the_rest(
    command: list[str], env: dict[str, str], cwd: Path, engine: Engine
) -> None:
    rerun = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert rerun.returncode == 0, rerun.stderr
    assert stored_events(engine) == EVENTS


def _wait_for(check: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} (waited {WAIT_S:g} s)")


def test_a_killed_ingest_takes_its_reader_with_it_and_a_rerun_stores_the_rest(
    tmp_path: Path, store_url: str
) -> None:
    data = tmp_path / "events.jsonl"
    _write_events(data)
    config = tmp_path / "config.toml"
    # Every file is read by a child process here, whatever its size.
    config.write_text("[ingest]\nsubprocess_above_bytes = 0\npage_size = 5000\n", encoding="utf-8")
    env = clean_env(LEADSYNC_STORE_URL=store_url)
    command = [LEADSYNC, "--config", str(config), "ingest", str(data), "--source", "fair"]
    ingesting = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait_for(lambda: _children(ingesting.pid), "the reader process did not start")
    (reader,) = _children(ingesting.pid)
    engine = create_store_engine(store_url)

    try:
        _wait_for(lambda: stored_events(engine), "no page was stored")
        os.kill(ingesting.pid, signal.SIGKILL)
        ingesting.wait(timeout=WAIT_S)
        _wait_for(lambda: not _alive(reader), "the reader outlived its parent")
        assert_a_rerun_stores_the_rest(command, env, tmp_path, engine)
        with engine.connect() as connection:
            statuses = connection.execute(sa.select(runs.c.status).order_by(runs.c.id)).all()
        # The killed run could not record its end; the rerun marked it, then finished.
        assert [status for (status,) in statuses] == ["interrupted", "ok"]
    finally:
        if ingesting.poll() is None:
            ingesting.kill()
        engine.dispose()
