"""The `[daemon]` section and what the daemon makes of it: which jobs, which steps each
runs, and errors that name the file, the line and the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connector.config import load_settings
from connector.daemon.jobs import ScheduledJob, plan_of, scheduled_jobs, touches_crm
from connector.errors import ConfigError
from connector.sync import SyncPlan

SOURCES = """
[sources.web]
type = "file"
path = "web.jsonl"

[sources.mail]
type = "file"
path = "mail.jsonl"

[crm.hubspot]
type = "hubspot"
"""


def _settings(tmp_path: Path, text: str) -> object:
    config = tmp_path / "config.toml"
    config.write_text(SOURCES + text, encoding="utf-8")
    return load_settings(config)


def test_by_default_the_sync_pass_runs_every_five_minutes_and_does_every_step(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, "")
    assert scheduled_jobs(settings) == [ScheduledJob("sync", interval=timedelta(minutes=5))]
    assert plan_of(settings, "sync") == SyncPlan(
        sources=("web", "mail"), read=None, push=("hubspot",), score=True
    )


def test_a_step_with_a_schedule_of_its_own_leaves_the_sync_pass(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        """
[daemon]
every = "10m"

[daemon.jobs.pull.web]
every = "30s"

[daemon.jobs."push.hubspot"]
cron = "*/5 * * * *"
""",
    )
    assert scheduled_jobs(settings) == [
        ScheduledJob("sync", interval=timedelta(minutes=10)),
        ScheduledJob("pull.web", interval=timedelta(seconds=30)),
        ScheduledJob("push.hubspot", cron="*/5 * * * *"),
    ]
    assert plan_of(settings, "sync") == SyncPlan(sources=("mail",), read=None, push=(), score=True)
    assert plan_of(settings, "pull.web") == SyncPlan(
        sources=("web",), read=(), push=(), score=False
    )
    assert plan_of(settings, "push.hubspot") == SyncPlan(
        sources=(), read=(), push=("hubspot",), score=False
    )
    assert touches_crm(settings, "push.hubspot", "hubspot")
    assert not touches_crm(settings, "pull.web", "hubspot")


def test_when_every_step_has_its_own_schedule_there_is_no_sync_pass(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        """
[daemon.jobs.pull]
every = "1m"
[daemon.jobs.crm_read]
every = "15m"
[daemon.jobs.score]
every = "2m"
[daemon.jobs.push]
every = "5m"
""",
    )
    assert [job.name for job in scheduled_jobs(settings)] == ["pull", "crm_read", "score", "push"]


def test_without_any_job_that_scores_a_daily_score_keeps_windows_and_decay_current(
    tmp_path: Path,
) -> None:
    settings = _settings(
        tmp_path,
        """
[daemon]
every = "off"
[daemon.jobs.pull]
every = "1m"
""",
    )
    assert scheduled_jobs(settings) == [
        ScheduledJob("pull", interval=timedelta(minutes=1)),
        ScheduledJob("score", interval=timedelta(days=1)),
    ]


@pytest.mark.parametrize(
    ("text", "line", "key", "said"),
    [
        ('[daemon]\nevery = "5 minutes"\n', 2, "daemon.every", "not a duration"),
        (
            '[daemon.jobs.score]\nevery = "1m"\ncron = "* * * * *"\n',
            1,
            "daemon.jobs.score",
            "either",
        ),
        ('[daemon.jobs.score]\ncron = "every day"\n', 2, "daemon.jobs.score.cron", "crontab"),
        ("[daemon]\nlease_s = 1\n", 2, "daemon.lease_s", "greater than or equal to 3"),
    ],
)
def test_a_bad_daemon_setting_names_its_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, said: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        _settings(tmp_path, text)
    message = str(raised.value)
    first_line = SOURCES.count("\n")
    assert f"config.toml:{first_line + line}" in message, message
    assert key in message and said in message


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ("[daemon.jobs.pull.shop]", "names the source 'shop', which has no [sources.shop]"),
        (
            "[daemon.jobs.push.salesforce]",
            "names the CRM 'salesforce', which has no [crm.salesforce]",
        ),
        ("[daemon.jobs.backup]", "'backup' is not a job"),
        ('[daemon.jobs."score.all"]', "'score.all' is not a job"),
    ],
)
def test_a_job_that_names_nothing_configured_is_refused_with_its_line(
    tmp_path: Path, table: str, said: str
) -> None:
    settings = _settings(tmp_path, f'{table}\nevery = "1m"\n')
    with pytest.raises(ConfigError) as raised:
        scheduled_jobs(settings)
    message = str(raised.value)
    assert said in message, message
    assert f"config.toml:{SOURCES.count(chr(10)) + 1}" in message, message
