"""`GET /healthz` and Prometheus `GET /metrics` for a running daemon (`[daemon] metrics_port`).

Served by uvicorn in a thread of the daemon (Starlette routes, prometheus_client's ASGI
app): `/healthz` answers 200 while the scheduler runs and the store answers a query, 503
otherwise, so a service manager or a load balancer can tell a stuck daemon from a live one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa
import structlog
import uvicorn
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from connector.daemon.jobs import JobOutcome
from connector.secrets import redact

__all__ = ["DaemonMetrics", "HealthServer"]

log = structlog.get_logger(__name__)

_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class DaemonMetrics:
    """The daemon's figures, in a registry of its own (none of the process defaults)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.job_runs = Counter(
            "leadsync_job_runs",
            "Job runs, by job and outcome.",
            ["job", "outcome"],
            registry=self.registry,
        )
        self.job_failures = Counter(
            "leadsync_job_failures",
            "Job runs that failed, by job.",
            ["job"],
            registry=self.registry,
        )
        self.failures_in_a_row = Gauge(
            "leadsync_job_failures_in_a_row",
            "Failures in a row of each job (0 after a run that worked).",
            ["job"],
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "leadsync_job_duration_seconds",
            "How long job runs took, by job.",
            ["job"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.events_ingested = Counter(
            "leadsync_events_ingested",
            "Events stored by the daemon's jobs.",
            registry=self.registry,
        )
        self.contacts_scored = Counter(
            "leadsync_contacts_scored",
            "Contacts scored by the daemon's jobs.",
            registry=self.registry,
        )
        self.records_pushed = Counter(
            "leadsync_records_pushed",
            "CRM records written by the daemon's jobs.",
            registry=self.registry,
        )
        self.api_budget_left = Gauge(
            "leadsync_crm_api_budget_left",
            "API calls a CRM has left in its period (HubSpot's day, Salesforce's 24 hours), "
            "as its last answer said.",
            ["crm"],
            registry=self.registry,
        )
        self.api_budget_allowed = Gauge(
            "leadsync_crm_api_budget_allowed",
            "API calls a CRM allows in its period, as its last answer said.",
            ["crm"],
            registry=self.registry,
        )
        self.crm_paused = Gauge(
            "leadsync_crm_paused_until_seconds",
            "Unix time until which a CRM's API limit pauses its jobs (0: not paused).",
            ["crm"],
            registry=self.registry,
        )

    def observe(self, outcome: JobOutcome, failures_in_a_row: int) -> None:
        self.job_runs.labels(outcome.job, outcome.outcome).inc()
        if outcome.outcome == "failed":
            self.job_failures.labels(outcome.job).inc()
        self.failures_in_a_row.labels(outcome.job).set(failures_in_a_row)
        self.job_seconds.labels(outcome.job).observe(outcome.duration_s)
        self.events_ingested.inc(outcome.events_stored)
        self.contacts_scored.inc(outcome.contacts_scored)
        self.records_pushed.inc(outcome.records_written)

    def budget(self, crm: str, used: int, allowed: int) -> None:
        self.api_budget_left.labels(crm).set(max(allowed - used, 0))
        self.api_budget_allowed.labels(crm).set(allowed)

    def paused(self, crm: str, until_unix: float) -> None:
        self.crm_paused.labels(crm).set(until_unix)


class HealthServer:
    """uvicorn serving ``/healthz`` and ``/metrics`` on ``host:port`` in a thread."""

    def __init__(
        self,
        metrics: DaemonMetrics,
        engine: Engine,
        scheduler_running: Callable[[], bool],
        *,
        host: str,
        port: int,
    ) -> None:
        self._engine = engine
        self._scheduler_running = scheduler_running
        app = Starlette(
            routes=[
                Route("/healthz", self._healthz),
                Mount("/metrics", app=make_asgi_app(metrics.registry)),
            ]
        )
        # log_config None: uvicorn's lines go through leadsync's logging, as JSON.
        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="health server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    def _healthz(self, _request: Request) -> JSONResponse:
        # A plain function: Starlette runs it in its thread pool, the query blocks no loop.
        scheduler = "running" if self._scheduler_running() else "stopped"
        try:
            with self._engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            store = "ok"
        except Exception as error:
            store = redact(str(error))[:300]
        healthy = scheduler == "running" and store == "ok"
        return JSONResponse(
            {"status": "ok" if healthy else "unhealthy", "scheduler": scheduler, "store": store},
            status_code=200 if healthy else 503,
        )
