"""Ctrl-C and SIGTERM end an ingest within seconds: the page in flight commits or rolls back
whole, the reader stops, the run is recorded as interrupted, and a rerun stores the rest."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.store.engine import create_store_engine
from connector.store.schema import runs
from tests.cli.test_cli import LEADSYNC, clean_env
from tests.runners.test_killed_ingest import (
    _alive,
    _children,
    _wait_for,
    _write_events,
    assert_a_rerun_stores_the_rest,
    stored_events,
)

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
ENDED_WITHIN_S = 5
LAST_LINE = re.compile(
    r"interrupted: (?P<stored>[\d,]+) new events from fair stored and kept, 0 set aside; "
    r"run the same command again to go on"
)


def _take_ctrl_c() -> None:
    # A test run started in the background by a non-interactive shell ignores SIGINT,
    # and so would the command under test (ignored signals are inherited): undo that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("reading", ["child", "in-process"])
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_signal_ends_an_ingest_as_interrupted_and_a_rerun_stores_the_rest(
    tmp_path: Path, store_url: str, stop: signal.Signals, reading: str
) -> None:
    data = tmp_path / "events.jsonl"
    _write_events(data)
    threshold = 0 if reading == "child" else 2**40
    config = tmp_path / "config.toml"
    config.write_text(
        f"[ingest]\nsubprocess_above_bytes = {threshold}\npage_size = 5000\n", encoding="utf-8"
    )
    env = clean_env(LEADSYNC_STORE_URL=store_url)
    command = [LEADSYNC, "--config", str(config), "ingest", str(data), "--source", "fair"]
    engine = create_store_engine(store_url)

    ingesting = subprocess.Popen(
        command,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_take_ctrl_c,
    )
    try:
        _wait_for(lambda: stored_events(engine), "no page was stored")
        readers = _children(ingesting.pid)
        ingesting.send_signal(stop)
        _, stderr = ingesting.communicate(timeout=ENDED_WITHIN_S)
        assert ingesting.returncode == EXIT_CODES[stop], stderr
        said = LAST_LINE.fullmatch(stderr.splitlines()[-1])
        assert said is not None, stderr
        assert int(said["stored"].replace(",", "")) == stored_events(engine)
        _wait_for(lambda: not any(_alive(reader) for reader in readers), "a reader outlived it")
        with engine.connect() as connection:
            assert connection.execute(sa.select(runs.c.status)).scalars().all() == ["interrupted"]
        assert_a_rerun_stores_the_rest(command, env, tmp_path, engine)
    finally:
        if ingesting.poll() is None:
            ingesting.kill()
        engine.dispose()
