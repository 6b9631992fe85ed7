"""`leadsync daemon` as it runs for real: a subprocess with second-long schedules over a
file that keeps growing, on SQLite and PostgreSQL; stopped by SIGTERM, reloaded by SIGHUP,
and alerting on a job that keeps failing."""

from __future__ import annotations

import itertools
import json
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.store.engine import open_store
from connector.store.schema import events, runs
from tests.cli.test_cli import LEADSYNC, clean_env, leadsync

WAIT_S = 30.0
STOP_WITHIN_S = 10.0


@dataclass
class RunningDaemon:
    process: subprocess.Popen[str]
    log_path: Path

    def log(self) -> list[dict[str, object]]:
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def events_named(self, name: str) -> list[dict[str, object]]:
        return [line for line in self.log() if line.get("event") == name]

    def alive(self) -> bool:
        """True while it runs; once it has ended, a failed assertion with its log."""
        assert self.process.poll() is None, self.log_path.read_text(encoding="utf-8")[-3000:]
        return True

    def stop(self) -> float:
        """SIGTERM; returns how long it took to exit (it must exit 0)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=STOP_WITHIN_S + 5)
        took = time.monotonic() - started
        assert code == 0, self.log_path.read_text(encoding="utf-8")[-3000:]
        return took


def _wait_for(condition: Callable[[], object], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s:g} s: {what}")


def _project(
    folder: Path, store_url: str, daemon: str = 'every = "1s"', extra: str = ""
) -> dict[str, str]:
    """A project as `leadsync init` leaves it, with a file source, ``daemon`` as the
    keys of its [daemon] table and ``extra`` at the end of the file."""
    env = clean_env(LEADSYNC_STORE_URL=store_url)
    assert leadsync("init", folder, cwd=folder, env=env).returncode == 0
    config = folder / "config.toml"
    text = config.read_text(encoding="utf-8")
    for key in (line.split("=")[0].strip() for line in daemon.splitlines()):
        # The [daemon] keys the example sets: the test's values replace them.
        text = re.sub(rf"(?m)^{key} *=.*\n", "", text)
    assert "\n[daemon]\n" in text
    text = text.replace("\n[daemon]\n", f"\n[daemon]\n{daemon}\n")
    config.write_text(
        text + '\n[sources.web]\ntype = "file"\npath = "web.jsonl"\n' + extra, encoding="utf-8"
    )
    (folder / "web.jsonl").touch()
    return env


def _append_visits(path: Path, first: int, count: int) -> None:
    with path.open("a", encoding="utf-8") as stream:
        for n in range(first, first + count):
            record = {
                "id": f"v{n}",
                "kind": "site_visit",
                "occurred_at": "2026-12-01T10:00:00Z",
                "email": f"p{n % 40}@acme.example",
            }
            stream.write(json.dumps(record) + "\n")


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[[Path, dict[str, str]], RunningDaemon]]:
    started: list[RunningDaemon] = []

    def start(folder: Path, env: dict[str, str], *options: str) -> RunningDaemon:
        log_path = folder / f"daemon-{len(started)}.log"
        with log_path.open("w", encoding="utf-8") as log:
            process = subprocess.Popen(
                [LEADSYNC, "daemon", *options],
                cwd=folder,
                env=env,
                stdout=log,
                stderr=log,
                text=True,
            )
        daemon = RunningDaemon(process, log_path)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(timeout=10)


def _stored(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())


def _job_runs(engine: Engine) -> list[tuple[str, dict[str, object]]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(runs.c.status, runs.c.stats)
            .where(runs.c.command == "daemon job")
            .order_by(runs.c.id)
        )
        return [(row.status, dict(row.stats or {})) for row in rows]


def test_the_daemon_pulls_a_growing_file_records_each_run_and_stops_on_sigterm(
    tmp_path: Path, store_url: str, start_daemon: Callable[[Path, dict[str, str]], RunningDaemon]
) -> None:
    env = _project(tmp_path, store_url)
    engine = open_store(store_url)
    daemon = start_daemon(tmp_path, env)

    def reported() -> int:
        finished = daemon.events_named("daemon.job_finished")
        return sum(int(str(line["events_stored"])) for line in finished)

    for batch in range(3):
        _append_visits(tmp_path / "web.jsonl", batch * 100, 100)
        _wait_for(lambda n=batch: reported() == (n + 1) * 100, f"batch {batch} pulled")

    took = daemon.stop()

    assert took < STOP_WITHIN_S
    assert _stored(engine) == reported() == 300
    finished = daemon.events_named("daemon.job_finished")
    assert len(finished) >= 3 and {line["job"] for line in finished} == {"sync"}
    recorded = _job_runs(engine)
    assert len(recorded) == len(finished)
    # A tick the stop cut short is recorded as interrupted, with what it did.
    assert {status for status, _ in recorded[:-1]} == {"ok"}
    assert recorded[-1][0] in ("ok", "interrupted")
    assert sum(int(str(stats["events_stored"])) for _, stats in recorded) == 300
    assert daemon.events_named("daemon.stopped")
    status = json.loads(leadsync("status", "--json", cwd=tmp_path, env=env).stdout)
    assert status["sources"][0]["lag"] == "caught up"
    before = (tmp_path / "web.jsonl").stat().st_size
    _append_visits(tmp_path / "web.jsonl", 300, 5)
    unread = (tmp_path / "web.jsonl").stat().st_size - before
    status = json.loads(leadsync("status", "--json", cwd=tmp_path, env=env).stdout)
    assert status["sources"][0]["lag"] == f"{unread:,} bytes unread"
    engine.dispose()


def test_sighup_reloads_the_config_and_keeps_the_old_one_when_the_new_is_refused(
    tmp_path: Path, sqlite_url: str, start_daemon: Callable[[Path, dict[str, str]], RunningDaemon]
) -> None:
    env = _project(tmp_path, sqlite_url)
    config = tmp_path / "config.toml"
    good = config.read_text(encoding="utf-8")
    daemon = start_daemon(tmp_path, env)
    _wait_for(lambda: daemon.events_named("daemon.job_finished"), "a first run")

    config.write_text(good.replace('every = "1s"', 'every = "soon"'), encoding="utf-8")
    daemon.process.send_signal(signal.SIGHUP)
    _wait_for(lambda: daemon.events_named("daemon.reload_refused"), "the refusal")
    refused = str(daemon.events_named("daemon.reload_refused")[0]["error"])
    line = good.splitlines().index('every = "1s"') + 1  # as _project wrote it
    assert f"config.toml:{line}" in refused and "daemon.every" in refused, refused
    runs_before = len(daemon.events_named("daemon.job_finished"))
    _wait_for(
        lambda: len(daemon.events_named("daemon.job_finished")) > runs_before + 1,
        "the old schedule going on",
    )

    config.write_text(good + '\n[daemon.jobs.score]\nevery = "2s"\n', encoding="utf-8")
    daemon.process.send_signal(signal.SIGHUP)
    _wait_for(lambda: daemon.events_named("daemon.reloaded"), "the reload")
    assert daemon.events_named("daemon.reloaded")[0]["jobs"] == {
        "sync": "every 1 s",
        "score": "every 2 s",
    }
    _wait_for(
        lambda: any(line["job"] == "score" for line in daemon.events_named("daemon.job_finished")),
        "the new job run",
    )
    assert daemon.stop() < STOP_WITHIN_S


def test_a_job_that_keeps_failing_is_retried_each_tick_and_alerts_after_alert_after(
    tmp_path: Path, sqlite_url: str, start_daemon: Callable[[Path, dict[str, str]], RunningDaemon]
) -> None:
    env = _project(tmp_path, sqlite_url, daemon='every = "1s"\nalert_after = 2')
    (tmp_path / "web.jsonl").unlink()  # the source's file is missing: each pass fails
    daemon = start_daemon(tmp_path, env)
    _wait_for(lambda: daemon.events_named("daemon.job_alert"), "the alert")

    finished = daemon.events_named("daemon.job_finished")
    assert [line["failures_in_a_row"] for line in finished[:2]] == [1, 2]
    assert [line["level"] for line in finished[:2]] == ["warning", "error"]
    assert all(line["outcome"] == "failed" for line in finished[:2])
    assert "web.jsonl" in str(finished[0]["error"])
    alert = daemon.events_named("daemon.job_alert")[0]
    assert (alert["level"], alert["job"], alert["failures_in_a_row"]) == ("error", "sync", 2)
    status = json.loads(leadsync("status", "--json", cwd=tmp_path, env=env).stdout)
    (job,) = status["jobs"]
    assert (job["job"], job["outcome"], job["alerting"]) == ("sync", "failed", True)
    assert job["failures_in_a_row"] >= 2 and job["next_run_at"] is not None
    assert "web.jsonl" in status["sources"][0]["last_error"]
    table = leadsync("status", cwd=tmp_path, env=env).stdout
    assert "(alert)" in table and "web.jsonl" in table

    _append_visits(tmp_path / "web.jsonl", 0, 10)  # fixed: the next tick succeeds
    _wait_for(
        lambda: any(line["outcome"] == "ok" for line in daemon.events_named("daemon.job_finished")),
        "a run that works",
    )
    ok = next(
        line for line in daemon.events_named("daemon.job_finished") if line["outcome"] == "ok"
    )
    assert ok["failures_in_a_row"] == 0
    status = json.loads(leadsync("status", "--json", cwd=tmp_path, env=env).stdout)
    assert status["sources"][0]["last_error"] is None
    assert daemon.stop() < STOP_WITHIN_S


def test_sigterm_in_the_middle_of_a_long_pull_exits_0_in_time_and_the_next_run_finishes(
    tmp_path: Path, store_url: str, start_daemon: Callable[[Path, dict[str, str]], RunningDaemon]
) -> None:
    env = _project(tmp_path, store_url)
    config = tmp_path / "config.toml"
    text = config.read_text(encoding="utf-8")
    assert "page_size = 20000" in text
    config.write_text(text.replace("page_size = 20000", "page_size = 2000"), encoding="utf-8")
    total = 200_000
    _append_visits(tmp_path / "web.jsonl", 0, total)
    engine = open_store(store_url)
    daemon = start_daemon(tmp_path, env)
    _wait_for(lambda: daemon.alive() and _stored(engine) > 0, "a first page stored", 60)

    took = daemon.stop()

    assert took < STOP_WITHIN_S
    part = _stored(engine)
    assert 0 < part < total
    assert _job_runs(engine)[-1][0] == "interrupted"
    again = start_daemon(tmp_path, env)
    _wait_for(lambda: again.alive() and _stored(engine) == total, "the rest stored", 120)
    again.stop()
    with engine.connect() as connection:
        distinct = connection.execute(
            sa.select(sa.func.count(sa.distinct(events.c.source_event_id)))
        ).scalar_one()
    assert distinct == total
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_healthz_and_metrics_are_served_while_the_daemon_runs(
    tmp_path: Path, sqlite_url: str, start_daemon: Callable[[Path, dict[str, str]], RunningDaemon]
) -> None:
    port = _free_port()
    env = _project(tmp_path, sqlite_url, daemon=f'every = "1s"\nmetrics_port = {port}')
    _append_visits(tmp_path / "web.jsonl", 0, 25)
    daemon = start_daemon(tmp_path, env)
    base = f"http://127.0.0.1:{port}"

    def served() -> bool:
        daemon.alive()
        try:
            return requests.get(f"{base}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    _wait_for(served, "/healthz answering")
    health = requests.get(f"{base}/healthz", timeout=2).json()
    assert health == {"status": "ok", "scheduler": "running", "store": "ok"}
    _wait_for(lambda: daemon.events_named("daemon.job_finished"), "a first run")
    metrics = requests.get(f"{base}/metrics", timeout=2).text
    runs = re.search(r'^leadsync_job_runs_total\{job="sync",outcome="ok"\} (\S+)$', metrics, re.M)
    assert runs is not None and float(runs[1]) >= 1, metrics
    assert re.search(r"^leadsync_events_ingested_total 25\.0$", metrics, re.M), metrics
    assert 'leadsync_job_duration_seconds_bucket{job="sync",le="0.1"}' in metrics

    assert daemon.stop() < STOP_WITHIN_S
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=2)


def test_a_second_daemon_on_the_store_waits_and_takes_over_within_lease_s_of_a_kill(
    tmp_path: Path, store_url: str, start_daemon: Callable[[Path, dict[str, str]], RunningDaemon]
) -> None:
    lease_s = 3
    env = _project(tmp_path, store_url, daemon=f'every = "1s"\nlease_s = {lease_s}')
    engine = open_store(store_url)
    first = start_daemon(tmp_path, env)
    _wait_for(lambda: first.alive() and first.events_named("daemon.active"), "the first active")
    second = start_daemon(tmp_path, env)
    _wait_for(lambda: second.alive() and second.events_named("daemon.standby"), "a standby")
    # A minute side by side on PostgreSQL (the case of two hosts), a few ticks on SQLite.
    window_s = 60.0 if "postgresql" in store_url else 4.0
    ticks_before = len(first.events_named("daemon.job_finished"))
    time.sleep(window_s)
    first.alive()
    ticks = len(first.events_named("daemon.job_finished")) - ticks_before
    assert not second.events_named("daemon.job_finished")  # a standby runs nothing
    # every = "1s": at most once a tick (a slow pass on a busy machine may miss some).
    assert window_s / 2 - 1 <= ticks <= window_s + 1, f"{ticks} runs in {window_s:g} s"

    killed_at = time.monotonic()
    killed_wall = datetime.now(UTC)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    _wait_for(
        lambda: second.alive() and second.events_named("daemon.active"),
        "the standby taking over",
        timeout_s=lease_s + 10,
    )
    took = time.monotonic() - killed_at
    assert took <= lease_s + 1.5, f"took over {took:.1f} s after the kill (lease_s {lease_s})"
    _wait_for(lambda: second.events_named("daemon.job_finished"), "a tick of the second")
    status = json.loads(leadsync("status", "--json", cwd=tmp_path, env=env).stdout)
    assert status["lease"]["pid"] == second.process.pid and status["lease"]["live"]

    assert second.stop() < STOP_WITHIN_S
    released = json.loads(leadsync("status", "--json", cwd=tmp_path, env=env).stdout)
    assert released["lease"] is None or not released["lease"]["live"]
    assert leadsync("status", cwd=tmp_path, env=env).stdout.startswith("daemon: none active\n")
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(runs.c.pid, runs.c.status, runs.c.started_at, runs.c.finished_at)
            .where(runs.c.command == "daemon job")
            .order_by(runs.c.id)
        ).all()
    assert {row.pid for row in rows} == {first.process.pid, second.process.pid}
    # The killed daemon's job died with it: none of its runs ended by itself after the
    # kill (the one it had in flight was closed as abandoned, by a later command).
    finished_late = [
        row
        for row in rows
        if row.pid == first.process.pid
        and row.status != "interrupted"
        and row.finished_at is not None
        and row.finished_at > killed_wall + timedelta(seconds=1)
    ]
    assert not finished_late, f"the killed daemon's jobs went on: {finished_late}"
    # One sync pass at a time: each starts after the one before it ended (or was killed:
    # an abandoned run's end is when another command closed it, not its own).
    ended = [
        row
        for row in rows
        if row.finished_at is not None
        and not (row.pid == first.process.pid and row.status == "interrupted")
    ]
    for before, after in itertools.pairwise(ended):
        assert after.started_at >= before.finished_at
    engine.dispose()
