"""What `leadsync status` reports, read from the store alone (the daemon may run on another
host): each job's last run, its failures in a row and its next run; each source's last
pull, cursor and last error; each CRM's records waiting, rejects by reason and any pause.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.config import Settings
from connector.daemon.jobs import JOB_COMMAND, scheduled_jobs
from connector.errors import LeadsyncError
from connector.plugins import configured_crms, crm_mapping_of, pulled_sources, source_of
from connector.ports import ReportsLag
from connector.runners.push import plan_from_store
from connector.secrets import redact
from connector.store.cursors import read_cursor
from connector.store.leases import current_lease_holder
from connector.store.meta import read_meta, write_meta
from connector.store.rejects import rejects_by_reason
from connector.store.schema import cursors, runs

__all__ = [
    "SCHEDULE_KEY",
    "CrmStatus",
    "JobStatus",
    "SourceStatus",
    "StoreStatus",
    "read_status",
    "write_schedule",
]

# The active daemon's next run of each job, as it last wrote them.
SCHEDULE_KEY = "daemon_schedule"
# Runs looked at: enough to find each job's and source's last one on a busy store.
_RECENT_RUNS = 2_000
_PULL_COMMANDS = ("ingest", "pull", "sync", "backfill")


@dataclass(slots=True)
class JobStatus:
    job: str
    next_run_at: str | None = None
    last_run_at: str | None = None
    outcome: str | None = None
    duration_s: float | None = None
    failures_in_a_row: int = 0
    alerting: bool = False
    error: str | None = None


@dataclass(slots=True)
class SourceStatus:
    source: str
    last_pull_at: str | None = None
    last_pull_status: str | None = None
    events_stored: int | None = None  # by that pull
    cursor_moved_at: str | None = None
    lag: str | None = None  # what is left to read, where the source can tell
    last_error: str | None = None


@dataclass(slots=True)
class CrmStatus:
    crm: str
    waiting: int | None = None  # records a push would write now
    rejects: dict[str, int] = field(default_factory=dict)  # by kind of reason
    paused_until: str | None = None
    # Calls used and allowed in the CRM's period, as its last answer to a push said.
    api_used: int | None = None
    api_allowed: int | None = None
    api_budget_at: str | None = None
    last_push_at: str | None = None
    last_push_status: str | None = None


@dataclass(slots=True)
class StoreStatus:
    jobs: list[JobStatus]
    sources: list[SourceStatus]
    crms: list[CrmStatus]
    schedule_written_at: str | None = None
    # The daemon holding the store's lease: holder, host, pid, times, and whether it is
    # still live (its lease not expired); None: no daemon has run here.
    lease: dict[str, object] | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def write_schedule(engine: Engine, next_runs: Mapping[str, datetime | None]) -> None:
    """Record the active daemon's next run of each job, for `status` to show."""
    value = {
        "written_at": _iso(datetime.now(UTC)),
        "next_runs": {job: None if at is None else _iso(at) for job, at in next_runs.items()},
    }
    with engine.begin() as connection:
        write_meta(connection, SCHEDULE_KEY, json.dumps(value))


def read_status(engine: Engine, settings: Settings, *, now: datetime | None = None) -> StoreStatus:
    now = now or datetime.now(UTC)
    with engine.connect() as connection:
        recent = _recent_runs(connection)
        schedule = json.loads(read_meta(connection, SCHEDULE_KEY) or "{}")
        moved = dict(connection.execute(sa.select(cursors.c.source, cursors.c.updated_at)).all())
        job_runs = [row for row in recent if row["command"] == JOB_COMMAND]
        crms = [
            _crm_status(connection, settings, name, job_runs, recent, now)
            for name in configured_crms(settings)
        ]
    next_runs: dict[str, str | None] = schedule.get("next_runs", {})
    jobs = [
        _job_status(job.name, job_runs, next_runs.get(job.name), settings.daemon.alert_after)
        for job in scheduled_jobs(settings)
    ]
    sources = [
        _source_status(name, recent, job_runs, moved.get(name)) for name in pulled_sources(settings)
    ]
    for source in sources:
        source.lag = _lag(engine, settings, source.source)
    holder = current_lease_holder(engine, "daemon")
    lease = None
    if holder is not None:
        lease = {
            "holder": holder.holder,
            "host": holder.host,
            "pid": holder.pid,
            "acquired_at": _iso(holder.acquired_at),
            "renewed_at": _iso(holder.renewed_at),
            "expires_at": _iso(holder.expires_at),
            "live": holder.expires_at > now,
        }
    return StoreStatus(jobs, sources, crms, schedule.get("written_at"), lease)


def _recent_runs(connection: sa.Connection) -> list[dict[str, Any]]:
    rows = connection.execute(
        sa.select(
            runs.c.command, runs.c.status, runs.c.started_at, runs.c.finished_at, runs.c.stats
        )
        .order_by(runs.c.id.desc())
        .limit(_RECENT_RUNS)
    )
    return [
        {
            "command": row.command,
            "status": row.status,
            "at": _iso(row.finished_at or row.started_at),
            "stats": _stats(row.stats),
        }
        for row in rows
    ]


def _stats(value: object) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value) if isinstance(value, dict) else {}


def _job_status(
    job: str, job_runs: Iterable[dict[str, Any]], next_run: str | None, alert_after: int
) -> JobStatus:
    status = JobStatus(job, next_run_at=next_run)
    last = next((row for row in job_runs if row["stats"].get("job") == job), None)
    if last is not None:
        figures = last["stats"]
        status.last_run_at = last["at"]
        status.outcome = figures.get("outcome")
        status.duration_s = figures.get("duration_s")
        status.failures_in_a_row = int(figures.get("failures_in_a_row") or 0)
        status.alerting = status.failures_in_a_row >= alert_after
        status.error = figures.get("error")
    return status


def _source_status(
    source: str,
    recent: Iterable[dict[str, Any]],
    job_runs: Iterable[dict[str, Any]],
    cursor_moved_at: datetime | None,
) -> SourceStatus:
    status = SourceStatus(
        source, cursor_moved_at=None if cursor_moved_at is None else _iso(cursor_moved_at)
    )
    pull = next(
        (
            row
            for row in recent
            if row["command"] in _PULL_COMMANDS and row["stats"].get("source") == source
        ),
        None,
    )
    if pull is not None:
        status.last_pull_at, status.last_pull_status = pull["at"], pull["status"]
        status.events_stored = pull["stats"].get("stored")
    for row in job_runs:  # the newest job run that pulled it says whether that failed
        errors: dict[str, str] = row["stats"].get("source_errors") or {}
        if source in errors:
            status.last_error = errors[source]
            break
        if source in (row["stats"].get("sources_pulled") or ()):
            break
    return status


def _lag(engine: Engine, settings: Settings, name: str) -> str | None:
    try:
        source = source_of(settings, name)
    except LeadsyncError as error:  # its settings are wrong: last_error says it
        return f"unknown ({redact(str(error))[:200]})"
    if not isinstance(source, ReportsLag):
        return None
    return source.lag(read_cursor(engine, name))


def _crm_status(
    connection: sa.Connection,
    settings: Settings,
    name: str,
    job_runs: Iterable[dict[str, Any]],
    recent: Iterable[dict[str, Any]],
    now: datetime,
) -> CrmStatus:
    mapping = crm_mapping_of(settings, name)
    status = CrmStatus(name)
    planned = plan_from_store(connection, mapping, create=settings.crm[name].create)
    status.waiting = len(planned.records)
    status.rejects = {
        count.reason: count.count
        for count in rejects_by_reason(connection, source=f"push:{mapping.crm}")
    }
    for row in job_runs:
        until = (row["stats"].get("limited") or {}).get(name)
        if until is not None:
            if datetime.fromisoformat(until) > now:
                status.paused_until = until
            break
    push = next(
        (
            row
            for row in recent
            if row["command"] == "push" and row["stats"].get("crm") == mapping.crm
        ),
        None,
    )
    measured = next(
        (
            row
            for row in recent
            if row["command"] == "push"
            and row["stats"].get("crm") == mapping.crm
            and row["stats"].get("api_allowed") is not None
        ),
        None,
    )
    if measured is not None:
        status.api_used = int(measured["stats"]["api_used"])
        status.api_allowed = int(measured["stats"]["api_allowed"])
        status.api_budget_at = measured["at"]
    if push is not None:
        status.last_push_at, status.last_push_status = push["at"], push["status"]
    return status


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
