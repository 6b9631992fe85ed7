"""`leadsync daemon`: the jobs on their schedules, one active daemon per store.

APScheduler fires the jobs: a job never overlaps itself (``max_instances=1``) and ticks
missed while it ran, or while the machine slept, run once (``coalesce``). Each run is a
child process (``connector.daemon.child``), recorded as a row of the runs table and one
``daemon.job_finished`` log line.

The main thread only waits for signals: SIGTERM or Ctrl-C stops the scheduler, asks the
running jobs to stop at their page or chunk boundary, and exits 0; SIGHUP reloads the
config, keeping the old one when the new one is refused. A job that fails is retried at
its next tick; one failing ``alert_after`` times in a row is logged at error level. A
CRM's API limit pauses the jobs that call that CRM until its "retry after"; the others go
on.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from connector.config import Settings
from connector.daemon.child import JobProcess
from connector.daemon.jobs import (
    HAND_RAISERS_JOB,
    JOB_COMMAND,
    JobOutcome,
    ScheduledJob,
    hand_raiser_kinds,
    scheduled_jobs,
    touches_crm,
)
from connector.daemon.metrics import DaemonMetrics, HealthServer
from connector.daemon.status import write_schedule
from connector.errors import FatalError, LeadsyncError
from connector.secrets import redact
from connector.serve.server import IntakeServer
from connector.store.arrivals import arrivals_after
from connector.store.lease_renewal import LeaseRenewer
from connector.store.leases import DaemonLease, current_lease_holder
from connector.store.runs import finish_run, start_run
from connector.store.scores import latest_event_id

__all__ = ["Daemon"]

log = structlog.get_logger(__name__)

# How often the watch looks for hand-raisers in the ledger.
WATCH_S = 0.5
_RUN_STATUS = {
    "ok": "ok",
    "failed": "failed",
    "limited": "limit_reached",
    "interrupted": "interrupted",
    "busy": "skipped",
    "paused": "skipped",
}


@dataclass
class _JobState:
    failures_in_a_row: int = 0
    last: JobOutcome | None = None


@dataclass
class Daemon:
    """The scheduler and its jobs over one store. ``reload`` reads the config again (for
    SIGHUP) and raises ``ConfigError`` when it is refused."""

    settings: Settings
    engine: Engine
    reload: Callable[[], Settings]
    _stopping: threading.Event = field(default_factory=threading.Event)
    _reload_asked: threading.Event = field(default_factory=threading.Event)
    _lease_lost: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _states: dict[str, _JobState] = field(default_factory=dict)
    _paused: dict[str, datetime] = field(default_factory=dict)  # CRM -> until
    _running: dict[str, JobProcess] = field(default_factory=dict)
    _scheduler: Any = None
    _watch: threading.Thread | None = None
    metrics: DaemonMetrics = field(default_factory=DaemonMetrics)
    _health: HealthServer | None = None
    # `daemon --serve`: the webhook intake in this process, taking webhooks whether this
    # daemon is active or a standby (the intake needs no lease: it only appends).
    intake: IntakeServer | None = None

    # -- the main thread ----------------------------------------------------------------

    def run(self) -> None:
        """Schedule the jobs and serve until SIGTERM or Ctrl-C; then stop them cleanly."""
        jobs = scheduled_jobs(self.settings)  # a bad job table fails before anything runs
        # APScheduler's own lines ("Running job ...") say in prose what daemon.job_finished
        # says in fields; its warnings and errors still come through.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        previous = {
            signal.SIGTERM: signal.signal(signal.SIGTERM, self._on_stop),
            signal.SIGINT: signal.signal(signal.SIGINT, self._on_stop),
            signal.SIGHUP: signal.signal(signal.SIGHUP, self._on_reload),
        }
        try:
            if self.intake is not None:
                self.intake.start()
            lease = DaemonLease(self.engine, name="daemon", lease_s=self.settings.daemon.lease_s)
            if not self._wait_for_lease(lease):
                return  # stopped while a standby
            jobs = scheduled_jobs(self.settings)  # a reload while a standby may change them
            renewer = LeaseRenewer(lease, on_lost=self._on_lease_lost).start()
            try:
                self._serve(jobs)
            finally:
                renewer.stop()
                if not self._lease_lost.is_set():
                    lease.release()  # a standby takes over at once
        finally:
            if self.intake is not None:
                self.intake.stop()
            for number, handler in previous.items():
                signal.signal(number, handler)
        if self._lease_lost.is_set():
            raise FatalError(
                "the daemon lost its lease on the store (another daemon holds it now, or the "
                "store stayed unreachable past [daemon] lease_s); its jobs were stopped",
                hint="restart it: it waits as a standby while the other daemon lives",
            )

    def _wait_for_lease(self, lease: DaemonLease) -> bool:
        """Take the store's daemon lease, waiting as a standby while another daemon holds
        it; False if stopped meanwhile."""
        said = False
        # A few looks per lease: the standby takes over soon after the lease expires.
        look_s = min(2.0, max(0.2, lease.lease_s / 10))
        while not self._stopping.is_set():
            if lease.try_acquire():
                log.info("daemon.active", holder=lease.holder, lease_s=lease.lease_s)
                return True
            if not said:
                holder = current_lease_holder(self.engine, "daemon")
                log.info(
                    "daemon.standby",
                    held_by=None if holder is None else holder.holder,
                    expires_at=None if holder is None else holder.expires_at.isoformat(),
                )
                said = True
            self._stopping.wait(look_s)
            if self._reload_asked.is_set():
                self._reload_asked.clear()
                self._reload()
        return False

    def _on_lease_lost(self) -> None:
        log.error("daemon.lease_lost", action="stopping its jobs")
        self._lease_lost.set()
        self._stopping.set()

    def new_scheduler(self, jobs: list[ScheduledJob]) -> Any:
        """APScheduler with ``jobs``, not started: a job never overlaps itself, and ticks
        missed while it ran run once (coalesced), however late."""
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=max(4, len(jobs) + 2))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._schedule(jobs, first_run=datetime.now(UTC))
        return self._scheduler

    def _serve(self, jobs: list[ScheduledJob]) -> None:
        self.new_scheduler(jobs)
        log.info(
            "daemon.started",
            pid=os.getpid(),
            host=socket.gethostname(),
            jobs={job.name: _when(job) for job in jobs},
        )
        self._scheduler.start()
        self._publish_schedule()
        self._watch = threading.Thread(
            target=self._watch_hand_raisers, name="hand-raiser watch", daemon=True
        )
        self._watch.start()
        port = self.settings.daemon.metrics_port
        if port is not None:
            self._health = HealthServer(
                self.metrics,
                self.engine,
                lambda: bool(self._scheduler.running) and not self._stopping.is_set(),
                host=self.settings.daemon.metrics_host,
                port=port,
            )
            self._health.start()
            log.info("daemon.serving", host=self.settings.daemon.metrics_host, port=port)
        try:
            while not self._stopping.wait(0.5):
                if self._reload_asked.is_set():
                    self._reload_asked.clear()
                    self._reload()
        finally:
            self._stop()

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("daemon.stopping", signal=signal.Signals(signum).name)
        self._stopping.set()

    def _on_reload(self, _signum: int, _frame: FrameType | None) -> None:
        self._reload_asked.set()

    def _reload(self) -> None:
        try:
            settings = self.reload()
            jobs = scheduled_jobs(settings)
        except LeadsyncError as error:
            log.error("daemon.reload_refused", error=redact(str(error)), kept="the old config")
            return
        self.settings = settings
        if self._scheduler is None:  # a standby: the new schedules apply once it is active
            log.info("daemon.reloaded", jobs={job.name: _when(job) for job in jobs})
            return
        self._scheduler.remove_all_jobs()
        self._schedule(jobs, first_run=None)
        self._publish_schedule()
        log.info("daemon.reloaded", jobs={job.name: _when(job) for job in jobs})

    def _schedule(self, jobs: list[ScheduledJob], *, first_run: datetime | None) -> None:
        for job in jobs:
            trigger = (
                CronTrigger.from_crontab(job.cron, timezone=UTC)
                if job.cron is not None
                else IntervalTrigger(seconds=_seconds(job.interval), timezone=UTC)
            )
            options: dict[str, Any] = {}
            if first_run is not None and job.cron is None:
                options["next_run_time"] = first_run  # interval jobs run once at start
            self._scheduler.add_job(
                self._run_job, trigger, args=[job.name], id=job.name, name=job.name, **options
            )

    def _publish_schedule(self) -> None:
        """The next run of each job, in the store, for `leadsync status` on any host."""
        try:
            write_schedule(
                self.engine, {job.id: job.next_run_time for job in self._scheduler.get_jobs()}
            )
        except Exception as error:  # the store is briefly away: the next job writes it
            log.warning("daemon.schedule_not_recorded", error=redact(str(error))[:300])

    def _stop(self) -> None:
        self._stopping.set()
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        deadline = time.monotonic() + self.settings.daemon.stop_within_s + 1
        while self._running_jobs() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self._health is not None:
            self._health.stop()
        log.info("daemon.stopped", jobs_left=sorted(self._running_jobs()))

    def _watch_hand_raisers(self) -> None:
        """Score and push at once each contact a hand-raiser event arrives for, rather
        than at the next tick: a look at the ledger every ``WATCH_S``."""
        try:
            with self.engine.connect() as connection:
                seen = latest_event_id(connection)  # older ones are the first pass's
        except Exception as error:
            log.error("daemon.watch_failed", error=redact(str(error))[:300])
            return
        pending: frozenset[int] = frozenset()
        found_at = 0.0
        while not self._stopping.wait(WATCH_S):
            settings = self.settings
            if not settings.crm:
                continue  # nobody to hand them to
            try:
                with self.engine.connect() as connection:
                    arrived = arrivals_after(connection, seen, hand_raiser_kinds(settings))
            except Exception as error:  # the store is briefly away: look again
                log.warning("daemon.watch_failed", error=redact(str(error))[:300])
                continue
            seen = arrived.through_event_id
            if arrived.contacts and not pending:
                found_at = time.monotonic()
            pending |= arrived.contacts
            if not pending:
                continue
            outcome = self._run_job(HAND_RAISERS_JOB)
            if outcome is None or outcome.outcome in ("busy", "interrupted"):
                continue  # a scoring pass or push beside it: again at the next look
            took = time.monotonic() - found_at
            line = log.warning if took > settings.daemon.hand_raiser_s else log.info
            line(
                "daemon.hand_raisers_pushed",
                contacts=len(pending),
                seconds=round(took, 3),
                within_s=settings.daemon.hand_raiser_s,
                outcome=outcome.outcome,
            )
            pending = frozenset()

    def _running_jobs(self) -> list[str]:
        with self._lock:
            return list(self._running)

    # -- the scheduler's threads ---------------------------------------------------------

    def _run_job(self, name: str) -> JobOutcome | None:
        """Run job ``name`` in a child process and record it; None: not run (stopping,
        or every CRM it calls is paused)."""
        if self._stopping.is_set():
            return None
        settings = self.settings
        now = datetime.now(UTC)
        with self._lock:
            paused = {crm: until for crm, until in self._paused.items() if until > now}
            self._paused = dict(paused)
        called = [crm for crm in settings.crm if touches_crm(settings, name, crm)]
        if called and _only_crm_work(name) and all(crm in paused for crm in called):
            log.info(
                "daemon.job_paused",
                job=name,
                crms=called,
                until=max(paused[crm] for crm in called).isoformat(),
            )
            return None
        run_id = start_run(self.engine, JOB_COMMAND)
        process = JobProcess(settings, name, paused)
        with self._lock:
            self._running[name] = process
        try:
            process.start()
            outcome = process.wait(self._stopping.is_set, settings.daemon.stop_within_s)
        finally:
            with self._lock:
                self._running.pop(name, None)
        self._record(settings, run_id, outcome)
        if not self._stopping.is_set() and name != HAND_RAISERS_JOB:
            self._publish_schedule()
        return outcome

    def _record(self, settings: Settings, run_id: int, outcome: JobOutcome) -> None:
        state = self._states.setdefault(outcome.job, _JobState())
        state.last = outcome
        if outcome.outcome == "failed":
            state.failures_in_a_row += 1
        elif outcome.outcome in ("ok", "limited"):
            state.failures_in_a_row = 0
        for crm, until in outcome.limited.items():
            with self._lock:
                self._paused[crm] = datetime.fromisoformat(until)
            self.metrics.paused(crm, datetime.fromisoformat(until).timestamp())
            log.warning("daemon.crm_paused", crm=crm, until=until)
        self.metrics.observe(outcome, state.failures_in_a_row)
        for crm, (used, allowed) in outcome.api_budget.items():
            self.metrics.budget(crm, used, allowed)
        figures = {**outcome.as_dict(), "failures_in_a_row": state.failures_in_a_row}
        try:
            finish_run(self.engine, run_id, _RUN_STATUS[outcome.outcome], figures)
        except Exception as error:  # the store is down: the log line still says it
            log.warning("daemon.run_not_recorded", run_id=run_id, error=redact(str(error))[:300])
        level = "info"
        if outcome.outcome == "failed":
            level = "error" if state.failures_in_a_row >= settings.daemon.alert_after else "warning"
        getattr(log, level)("daemon.job_finished", run_id=run_id, **figures)
        if level == "error":
            log.error(
                "daemon.job_alert",
                job=outcome.job,
                failures_in_a_row=state.failures_in_a_row,
                error=outcome.error,
            )


def _only_crm_work(job: str) -> bool:
    """A job that does nothing but call CRMs waits whole for a paused one."""
    return job.startswith("push") or job == "crm_read"


def _seconds(interval: timedelta | None) -> float:
    assert interval is not None  # an interval job: ScheduledJob has one or the other
    return interval.total_seconds()


def _when(job: ScheduledJob) -> str:
    return f"cron {job.cron}" if job.cron is not None else f"every {_seconds(job.interval):g} s"
