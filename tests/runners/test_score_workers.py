"""Scoring workers never outlive the pass: killed parent, finished or busy, they end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from connector.runners.score_workers import RangeResult, run_in_workers
from tests.conftest import REPO_ROOT

WAIT_S = 10.0


def _score(low: int, high: int, count: Callable[[int], None], stopping: Callable[[], bool]):
    """Range 0 is done at once; the other scores for a long while, a chunk at a time."""
    if low == 0:
        return RangeResult(1, 0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not stopping():
        time.sleep(0.05)
    return RangeResult(0, 0)


def main() -> None:
    """Run in a child process of the test: two workers, then wait to be killed."""
    run_in_workers(_score, [(0, 0), (1, 1)], None)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_workers_end_when_the_pass_that_started_them_is_killed() -> None:
    code = "import tests.runners.test_score_workers as workers; workers.main()"
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + WAIT_S
        while len(_children(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = _children(parent.pid)
        assert len(workers) == 2
        time.sleep(0.5)  # the first worker has finished its range by now
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=WAIT_S)
        deadline = time.monotonic() + WAIT_S
        while any(_alive(worker) for worker in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [worker for worker in workers if _alive(worker)] == []
    finally:
        if parent.poll() is None:
            parent.kill()
