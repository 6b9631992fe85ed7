"""The daemon's scheduler as it is configured: a job slower than its tick never runs twice
at once, and the ticks it missed are not run once each behind it; its metrics."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta
from pathlib import Path

from prometheus_client import generate_latest

from connector.config import load_settings
from connector.daemon.jobs import JobOutcome, ScheduledJob
from connector.daemon.metrics import DaemonMetrics
from connector.daemon.service import Daemon
from connector.store.engine import open_store


def test_a_job_slower_than_its_tick_never_overlaps_and_its_missed_ticks_do_not_pile_up(
    tmp_path: Path,
) -> None:
    settings = load_settings(tmp_path / "config.toml", must_exist=False)
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    daemon = Daemon(settings, engine, lambda: settings)
    lock = threading.Lock()
    running, most_at_once, started = 0, 0, []

    def slow_job(_name: str) -> None:  # 2.5 s of work every 1 s tick
        nonlocal running, most_at_once
        with lock:
            running += 1
            most_at_once = max(most_at_once, running)
            started.append(time.monotonic())
        time.sleep(2.5)
        with lock:
            running -= 1

    daemon._run_job = slow_job  # type: ignore[method-assign,assignment]
    scheduler = daemon.new_scheduler([ScheduledJob("sync", interval=timedelta(seconds=1))])
    scheduler.start()
    try:
        time.sleep(7.8)
    finally:
        scheduler.shutdown(wait=True)
        engine.dispose()

    assert most_at_once == 1
    # Runs at 0, 3 and 6 s: the ticks due while a run goes on are not queued behind it
    # (no burst of catch-up runs); the first tick after it ends runs.
    assert len(started) == 3, started
    gaps = [after - before for before, after in itertools.pairwise(started)]
    assert all(2.9 <= gap <= 3.5 for gap in gaps), gaps


def test_the_metrics_count_runs_failures_and_a_crms_api_budget() -> None:
    metrics = DaemonMetrics()
    metrics.observe(JobOutcome("sync", events_stored=12, records_written=3, duration_s=0.4), 0)
    metrics.observe(JobOutcome("sync", outcome="failed", duration_s=0.1), 1)
    metrics.budget("hubspot", used=1_200, allowed=500_000)

    text = generate_latest(metrics.registry).decode()

    assert 'leadsync_job_runs_total{job="sync",outcome="ok"} 1.0' in text
    assert 'leadsync_job_runs_total{job="sync",outcome="failed"} 1.0' in text
    assert 'leadsync_job_failures_total{job="sync"} 1.0' in text
    assert 'leadsync_job_failures_in_a_row{job="sync"} 1.0' in text
    assert "leadsync_events_ingested_total 12.0" in text
    assert "leadsync_records_pushed_total 3.0" in text
    assert 'leadsync_crm_api_budget_left{crm="hubspot"} 498800.0' in text
    assert 'leadsync_crm_api_budget_allowed{crm="hubspot"} 500000.0' in text
