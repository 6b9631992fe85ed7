"""The ``[daemon]`` section of ``config.toml`` and its ``[daemon.jobs.NAME]`` tables (what
`leadsync daemon` runs and when; outside `connector.daemon` so the config can read it).

``every`` is the schedule of the sync pass; a job table gives one step (``pull``,
``pull.SOURCE``, ``crm_read``, ``score``, ``push``, ``push.CRM``) a schedule of its own,
``every = "30s"`` or ``cron = "*/5 * * * *"``. Whether a named source or CRM exists is
checked against the rest of the settings by ``connector.daemon.jobs``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

__all__ = ["DaemonSettings", "JobSchedule", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
OFF = "off"


def parse_duration(text: str) -> timedelta:
    """``"30s"``, ``"5m"``, ``"2h"``, ``"1d"`` as a duration of at least a second."""
    found = _DURATION.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a duration; write it like 30s, 5m, 2h or 1d")
    seconds = float(found[1]) * _UNIT_SECONDS[found[2]]
    if seconds < 1:
        raise ValueError(f"{text!r} is shorter than a second")
    return timedelta(seconds=seconds)


def _duration_text(value: object) -> object:
    if isinstance(value, str) and value.strip() != OFF:
        parse_duration(value)
    return value


Duration = Annotated[str, BeforeValidator(_duration_text)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobSchedule(_Section):
    """``[daemon.jobs.NAME]``: one of ``every`` and ``cron``."""

    every: Duration | None = None
    cron: str | None = None

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                CronTrigger.from_crontab(value, timezone="UTC")
            except ValueError as error:
                raise ValueError(
                    f"{value!r} is not a crontab line (minute hour day month weekday, "
                    f'like "*/5 * * * *"): {error}'
                ) from None
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> JobSchedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError('give either every (like "30s") or cron (like "*/5 * * * *")')
        if self.every is not None and self.every.strip() == OFF:
            raise ValueError('every = "off" is for the sync pass; remove the table instead')
        return self


def _flat_job_tables(value: object) -> object:
    """``[daemon.jobs.pull.web]`` is TOML for ``{"pull": {"web": {...}}}``: the job
    ``pull.web``. Quoted, ``[daemon.jobs."pull.web"]``, means the same."""
    if not isinstance(value, dict):
        return value
    flat: dict[str, Any] = {}
    for name, table in value.items():
        if isinstance(table, dict) and name in ("pull", "push"):
            inner = {key: item for key, item in table.items() if isinstance(item, dict)}
            own = {key: item for key, item in table.items() if not isinstance(item, dict)}
            for target, schedule in inner.items():
                flat[f"{name}.{target}"] = schedule
            if own or not inner:
                flat[name] = own
        else:
            flat[name] = table
    return flat


class DaemonSettings(_Section):
    """``[daemon]``: what `leadsync daemon` runs and when."""

    # The sync pass (pull, read the CRMs, score, push), or "off" when jobs cover it all.
    every: Duration = "5m"
    # How long a daemon that stopped renewing its lease (killed, cut off) holds the store
    # before a standby takes over.
    lease_s: float = Field(default=30.0, ge=3, le=3600)
    # After this many failures in a row a job is logged at error level and `status` says so.
    alert_after: int = Field(default=3, ge=1, le=1000)
    # GET /healthz and Prometheus GET /metrics on metrics_host:metrics_port (None: off).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    # A hand-raiser (an event handed over for an appointment) taking longer than this from
    # the ledger to the CRMs is logged as a warning.
    hand_raiser_s: float = Field(default=10.0, gt=0, le=3600)
    # How long a stopping daemon gives its jobs to finish their page or chunk.
    stop_within_s: float = Field(default=9.0, gt=0, le=600)
    jobs: Annotated[dict[str, JobSchedule], BeforeValidator(_flat_job_tables)] = {}

    def sync_interval(self) -> timedelta | None:
        return None if self.every.strip() == OFF else parse_duration(self.every)
