"""The intake's Prometheus figures: requests, events stored, duplicates and rejects by
source; refusals by reason; request latency."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["IntakeMetrics"]

# From a millisecond (one event, SQLite) to seconds (a 5 MiB batch on a busy store).
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class IntakeMetrics:
    """One registry per intake, so two in one process (tests, the daemon) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "leadsync_webhook_requests",
            "Webhook requests answered, by source and HTTP status.",
            ["source", "status"],
            registry=self.registry,
        )
        self.stored = Counter(
            "leadsync_webhook_events_stored",
            "Events committed to the ledger from webhooks.",
            ["source"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "leadsync_webhook_duplicates",
            "Events a router sent again, already in the ledger (nothing stored).",
            ["source"],
            registry=self.registry,
        )
        self.rejects = Counter(
            "leadsync_webhook_rejects",
            "Records set aside in rejects (unreadable, or refused by the store).",
            ["source"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "leadsync_webhook_refusals",
            "Requests refused before anything was read, by reason (401, 413).",
            ["source", "reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "leadsync_webhook_request_seconds",
            "From the request's first byte read to its answer.",
            ["source"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
