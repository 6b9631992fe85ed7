"""The daemon's jobs: each a plain function of the settings and the store.

A job is a sync pass restricted to some steps (``connector.sync.SyncPlan``): ``pull``
(every source) or ``pull.SOURCE``, ``crm_read``, ``score``, ``push`` or ``push.CRM``, and
``sync``, the pass of every step that has no schedule of its own. Nothing here knows how
the jobs are scheduled or in which process they run, so the same functions can become
tasks of a distributed task engine later.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from connector.config import KeyLines, Settings, scoring_rules
from connector.errors import ConfigError
from connector.model import Treatment
from connector.plugins import pulled_sources
from connector.settings.daemon import JobSchedule, parse_duration
from connector.sync import SyncPlan, SyncSummary, sync_once

__all__ = [
    "HAND_RAISERS_JOB",
    "JOB_COMMAND",
    "SYNC_JOB",
    "JobOutcome",
    "ScheduledJob",
    "hand_raiser_kinds",
    "outcome_of",
    "plan_of",
    "run_job",
    "scheduled_jobs",
    "touches_crm",
]

SYNC_JOB = "sync"
# Score and push at once, started by the watch on hand-raisers rather than a schedule.
HAND_RAISERS_JOB = "hand_raisers"
# The runs table's command for a job run; the job's name is in its figures.
JOB_COMMAND = "daemon job"
_STEPS = ("pull", "crm_read", "score", "push")
# Windows and decay change scores with no new event: some pass must score at least daily.
DAILY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """A job and when it runs: every ``interval``, or on a crontab line."""

    name: str
    interval: timedelta | None = None
    cron: str | None = None


@dataclass(slots=True)
class JobOutcome:
    """What one run of a job did, for its log line and its row in the runs table."""

    job: str
    outcome: str = "ok"  # ok | failed | limited
    duration_s: float = 0.0
    events_stored: int = 0
    contacts_scored: int = 0
    records_written: int = 0
    sources_failed: list[str] = field(default_factory=list)
    sources_pulled: list[str] = field(default_factory=list)
    source_errors: dict[str, str] = field(default_factory=dict)
    # CRM -> ISO time its API limit frees up at.
    limited: dict[str, str] = field(default_factory=dict)
    # CRM -> [calls used, calls allowed] in its period, as its last answer said.
    api_budget: dict[str, list[int]] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "job": self.job,
            "outcome": self.outcome,
            "duration_s": self.duration_s,
            "events_stored": self.events_stored,
            "contacts_scored": self.contacts_scored,
            "records_written": self.records_written,
            "sources_failed": self.sources_failed,
            "sources_pulled": self.sources_pulled,
            "source_errors": self.source_errors,
            "limited": self.limited,
            "api_budget": self.api_budget,
            "error": self.error,
        }


def _problem(settings: Settings, name: str, message: str) -> ConfigError:
    shown = str(settings.config_file) if settings.config_file else None
    line = None
    if settings.config_file is not None and settings.config_file.is_file():
        lines = KeyLines(settings.config_file.read_text(encoding="utf-8"))
        # [daemon.jobs."pull.web"] or [daemon.jobs.pull.web]
        line = lines.line_of(["daemon", "jobs", name]) or lines.line_of(
            ["daemon", "jobs", *name.split(".", 1)]
        )
    return ConfigError(message, file=shown, line=line, key=f"daemon.jobs.{name}")


def _check_name(settings: Settings, name: str) -> None:
    step, _, target = name.partition(".")
    if step not in _STEPS or (target and step not in ("pull", "push")):
        raise _problem(
            settings,
            name,
            f"{name!r} is not a job; name one of pull, pull.SOURCE, crm_read, score, push, "
            "push.CRM",
        )
    if step == "pull" and target and target not in settings.sources:
        raise _problem(
            settings, name, f"names the source {target!r}, which has no [sources.{target}]"
        )
    if step == "push" and target and target not in settings.crm:
        raise _problem(settings, name, f"names the CRM {target!r}, which has no [crm.{target}]")


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    """The jobs ``settings`` ask for: the sync pass (unless ``every = "off"``) and each
    ``[daemon.jobs.NAME]``; a daily score where no job scores (windows and decay).

    Raises:
        ConfigError: a job names a step, source or CRM that does not exist.
    """
    daemon = settings.daemon
    jobs: list[ScheduledJob] = []
    for name, schedule in daemon.jobs.items():
        _check_name(settings, name)
        jobs.append(_scheduled(name, schedule))
    interval = daemon.sync_interval()
    plan = plan_of(settings, SYNC_JOB)
    if interval is not None and plan != SyncPlan.nothing():
        jobs.insert(0, ScheduledJob(SYNC_JOB, interval=interval))
    scores = any(plan_of(settings, job.name).score for job in jobs)
    if not scores:
        jobs.append(ScheduledJob("score", interval=DAILY))
    return jobs


def _scheduled(name: str, schedule: JobSchedule) -> ScheduledJob:
    if schedule.cron is not None:
        return ScheduledJob(name, cron=schedule.cron)
    assert schedule.every is not None  # one of them: JobSchedule checks it
    return ScheduledJob(name, interval=parse_duration(schedule.every))


def plan_of(settings: Settings, job: str) -> SyncPlan:
    """The steps ``job`` runs. The sync pass runs those no other job has."""
    if job == HAND_RAISERS_JOB:
        return SyncPlan(sources=(), read=(), push=None, score=True, wait_for_push=True)
    if job != SYNC_JOB:
        step, _, target = job.partition(".")
        chosen = (target,) if target else None
        return SyncPlan(
            sources=chosen if step == "pull" else (),
            read=None if step == "crm_read" else (),
            push=chosen if step == "push" else (),
            score=step == "score",
        )
    own = set(settings.daemon.jobs)
    return SyncPlan(
        sources=_left("pull", dict.fromkeys(pulled_sources(settings)), own),
        read=() if "crm_read" in own else None,
        push=_left("push", settings.crm, own),
        score="score" not in own,
    )


def _left(step: str, configured: Mapping[str, object], own: Collection[str]) -> tuple[str, ...]:
    if step in own:
        return ()
    return tuple(name for name in configured if f"{step}.{name}" not in own)


def hand_raiser_kinds(settings: Settings) -> frozenset[str]:
    """The kinds of event a rule hands over for an appointment (a quote or callback
    request in the built-in table): the daemon scores and pushes those at once."""
    rules = scoring_rules(settings)
    return frozenset(
        rule.kind.value for rule in rules.behaviour if rule.treatment is Treatment.APPOINTMENT
    )


def touches_crm(settings: Settings, job: str, crm: str) -> bool:
    """Whether ``job`` calls ``crm``'s API (a paused CRM's jobs wait for its limit)."""
    plan = plan_of(settings, job)
    configured = tuple(settings.crm)
    read = configured if plan.read is None else plan.read
    pushed = configured if plan.push is None else plan.push
    return crm in read or crm in pushed


def run_job(
    engine: Engine,
    settings: Settings,
    job: str,
    *,
    paused: Mapping[str, datetime] | None = None,
    summary: SyncSummary | None = None,
) -> JobOutcome:
    """Run ``job`` once, leaving out the CRMs in ``paused`` (their API limit holds).
    ``summary`` is filled in as the job goes (see ``outcome_of`` for a job cut short)."""
    plan = plan_of(settings, job)
    if paused:
        configured = tuple(settings.crm)
        plan = SyncPlan(
            sources=plan.sources,
            read=tuple(
                c for c in (configured if plan.read is None else plan.read) if c not in paused
            ),
            push=tuple(
                c for c in (configured if plan.push is None else plan.push) if c not in paused
            ),
            score=plan.score,
        )
    started = time.perf_counter()
    summary = sync_once(engine, settings, plan, summary=summary)
    return outcome_of(job, summary, time.perf_counter() - started)


def outcome_of(job: str, summary: SyncSummary, duration_s: float) -> JobOutcome:
    """The outcome of a job from what its pass did (so far, if it was cut short)."""
    outcome = JobOutcome(
        job,
        duration_s=round(duration_s, 3),
        events_stored=sum(item.stored for item in summary.pulled),
        contacts_scored=summary.scored.contacts_scored if summary.scored else 0,
        records_written=sum(item.written for item in summary.pushed),
        sources_failed=[failure.source for failure in summary.failed],
        sources_pulled=[item.source for item in summary.pulled],
        source_errors={failure.source: failure.message for failure in summary.failed},
        limited=dict(summary.limited),
        api_budget={
            pushed.crm: [pushed.api_used, pushed.api_allowed]
            for pushed in summary.pushed
            if pushed.api_used is not None and pushed.api_allowed is not None
        },
    )
    if summary.failed:
        outcome.outcome = "failed"
        outcome.error = "; ".join(f"{f.source}: {f.message}" for f in summary.failed)
    elif summary.limited:
        outcome.outcome = "limited"
    return outcome
