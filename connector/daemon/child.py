"""Run one job in a process of its own, and stop it as a command is stopped.

The runners stop on Ctrl-C or SIGTERM at a page or chunk boundary (what was committed is
kept, the run is recorded as interrupted); only a process's main thread gets the signal,
so each job runs as the main thread of a child process, and stopping it is sending it
SIGTERM. The child also keeps the daemon itself small: a job's memory goes with its
process, and a job that crashes does not take the scheduler with it.

Children start from a fork server (a clean process with leadsync already imported), not
by forking the daemon: its scheduler threads may hold locks that a fork would copy held.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any

import psutil
import structlog

from connector.config import Settings
from connector.daemon.jobs import JobOutcome, outcome_of, run_job
from connector.errors import BusyError, LeadsyncError, interrupted_underneath
from connector.logs import configure_logging
from connector.secrets import redact
from connector.store.engine import open_store
from connector.sync import SyncSummary

__all__ = ["JobProcess"]

log = structlog.get_logger(__name__)

# How often a job looks whether its daemon still lives: well within any [daemon] lease_s.
_DAEMON_LOOK_S = 0.2

_METHOD = "forkserver" if sys.platform.startswith("linux") else "spawn"
_context: Any = multiprocessing.get_context(_METHOD)
if _METHOD == "forkserver":
    _context.set_forkserver_preload(["connector.daemon.child"])


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _die_with_the_daemon(daemon_pid: int) -> None:
    """End this job the moment its daemon is gone (SIGKILL, its host's OOM killer).

    The job's parent is the fork server, not the daemon, so no parent-death signal
    reaches it; and a job left running would go on writing while a standby takes the
    lease over and runs the same job: the one thing the lease is there to prevent. The
    job dies as the daemon did, and like any killed chunk its work is redone."""
    try:
        daemon = psutil.Process(daemon_pid)
    except psutil.Error:
        os.kill(os.getpid(), signal.SIGKILL)
        return

    def alive() -> bool:
        # is_running also compares the start time: a reused pid is not the daemon.
        try:
            return daemon.is_running() and daemon.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def watch() -> None:
        while alive():
            time.sleep(_DAEMON_LOOK_S)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="daemon watch", daemon=True).start()


def _child_main(
    settings: Settings,
    job: str,
    paused: Mapping[str, datetime],
    results: Connection,
    daemon_pid: int,
) -> None:
    _die_with_the_daemon(daemon_pid)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # Ctrl-C at the daemon's terminal reaches its whole process group: the daemon says
    # when its jobs stop (SIGTERM), so they do not stop twice.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(settings.logging.level, settings.logging.format)
    summary = SyncSummary()
    started = time.perf_counter()
    status, error_text = "ok", None
    try:
        engine = open_store(settings.store_url())
        try:
            run_job(engine, settings, job, paused=paused, summary=summary)
        finally:
            engine.dispose()
    except BusyError as busy:
        status, error_text = "busy", redact(str(busy))
    except KeyboardInterrupt:
        status = "interrupted"
    except Exception as error:  # reported to the daemon, which goes on with its schedule
        if interrupted_underneath(error):
            status = "interrupted"
        elif isinstance(error, LeadsyncError):
            status, error_text = "failed", redact(str(error))
        else:
            status = "failed"
            error_text = redact(f"unexpected {type(error).__name__}: {error}")
    outcome = outcome_of(job, summary, time.perf_counter() - started)
    if status != "ok":
        outcome.outcome, outcome.error = status, error_text
    results.send(outcome.as_dict())
    results.close()


class JobProcess:
    """One run of a job in a child process: ``start``, then ``wait`` for its outcome."""

    def __init__(self, settings: Settings, job: str, paused: Mapping[str, datetime]) -> None:
        self.job = job
        receiving, sending = _context.Pipe(duplex=False)
        self._results = receiving
        self._process: Any = _context.Process(
            target=_child_main,
            args=(settings, job, dict(paused), sending, os.getpid()),
            name=f"leadsync job {job}",
            daemon=False,
        )
        self._sending = sending

    @property
    def pid(self) -> int | None:
        return int(self._process.pid) if self._process.pid is not None else None

    def start(self) -> None:
        self._process.start()
        self._sending.close()  # the child holds its end; EOF once it is gone

    def wait(self, stopping: Callable[[], bool], stop_within_s: float) -> JobOutcome:
        """Wait for the outcome; once ``stopping()``, ask the child to stop (SIGTERM) and
        give it ``stop_within_s`` before it is killed."""
        asked_at: float | None = None
        while True:
            if self._results.poll(0.2):
                break
            if not self._process.is_alive():
                break
            if asked_at is None and stopping():
                asked_at = time.monotonic()
                self.signal(signal.SIGTERM)
            if asked_at is not None and time.monotonic() - asked_at > stop_within_s:
                log.warning("daemon.job_killed", job=self.job, after_s=stop_within_s)
                self.signal(signal.SIGKILL)
                break
        outcome = self._read_outcome()
        self._process.join(timeout=5)
        return outcome

    def signal(self, number: signal.Signals) -> None:
        if self.pid is not None and self._process.is_alive():
            with contextlib.suppress(ProcessLookupError):  # it ended in between
                os.kill(self.pid, number)

    def _read_outcome(self) -> JobOutcome:
        try:
            if self._results.poll(1.0):
                figures: dict[str, Any] = self._results.recv()
                return _outcome_from(figures)
        except (EOFError, OSError):
            pass
        self._process.join(timeout=5)
        code = self._process.exitcode
        ended = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return JobOutcome(self.job, outcome="failed", error=f"the job's process ended with {ended}")


def _outcome_from(figures: Mapping[str, Any]) -> JobOutcome:
    return JobOutcome(
        job=str(figures["job"]),
        outcome=str(figures["outcome"]),
        duration_s=float(figures["duration_s"]),
        events_stored=int(figures["events_stored"]),
        contacts_scored=int(figures["contacts_scored"]),
        records_written=int(figures["records_written"]),
        sources_failed=list(figures["sources_failed"]),
        sources_pulled=list(figures["sources_pulled"]),
        source_errors=dict(figures["source_errors"]),
        limited=dict(figures["limited"]),
        api_budget={crm: list(pair) for crm, pair in figures["api_budget"].items()},
        error=figures["error"],
    )
