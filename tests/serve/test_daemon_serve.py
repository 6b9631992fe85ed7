"""`leadsync daemon --serve`: the webhook intake inside the daemon's process, one service
for a small installation; SIGTERM stops both (exit 0)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import requests

from connector.store.engine import open_store
from tests.daemon.test_daemon_cli import (
    RunningDaemon,
    _free_port,
    _project,
    _stored,
    _wait_for,
    start_daemon,
)
from tests.fixtures.sendgrid.signing import (
    batch_body,
    new_private_key,
    public_key_text,
    sample_events,
    sign,
)

__all__ = ["start_daemon"]  # the fixture, imported for the test here


def test_the_daemon_takes_webhooks_and_its_schedule_goes_on(
    tmp_path: Path, sqlite_url: str, start_daemon: Callable[..., RunningDaemon]
) -> None:
    key = new_private_key()
    port = _free_port()
    env = _project(
        tmp_path,
        sqlite_url,
        extra='\n[sources.mail]\ntype = "sendgrid"\n'
        f'webhook_public_key = "{public_key_text(key)}"\n',
    )
    config = tmp_path / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("port = 8080", f"port = {port}"),
        encoding="utf-8",
    )
    daemon = start_daemon(tmp_path, env, "--serve")
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        daemon.alive()
        try:
            return requests.get(f"{url}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    _wait_for(answering, "the intake answering /healthz")
    body = batch_body(sample_events(30, start=int(time.time()) - 60, prefix="d"))
    answer = requests.post(
        f"{url}/webhooks/mail",
        data=body,
        headers={"Content-Type": "application/json", **sign(key, int(time.time()), body)},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.json()["stored"] == 30
    engine = open_store(sqlite_url)
    assert _stored(engine) == 30  # committed before the answer
    # The schedule goes on beside it: the sync pass scores what the webhook brought.
    _wait_for(
        lambda: any(
            line.get("contacts_scored", 0) for line in daemon.events_named("daemon.job_finished")
        ),
        "a sync pass scoring the webhook's contacts",
    )
    took = daemon.stop()
    assert took < 10
    logged = [line.get("event") for line in daemon.log()]
    assert "serve.listening" in logged and "serve.stopped" in logged
    engine.dispose()
