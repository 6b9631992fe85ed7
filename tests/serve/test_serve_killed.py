"""`leadsync serve` killed with SIGKILL during a burst of SendGrid webhooks from a second
process, and restarted: every batch answered 2xx before a kill is in the ledger at the
moment of that kill, and at the end, once the sender has resent what was not answered,
every event sent is there exactly once."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization

from connector.store.engine import open_store
from tests.cli.test_cli import clean_env
from tests.daemon.test_daemon_cli import _free_port, _wait_for
from tests.fixtures.sendgrid.signing import new_private_key, public_key_text
from tests.serve.running import start_serve

KILLS = 4
BATCHES = 240
PER_BATCH = 25


def _acked(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [int(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _stored_ids(store_url: str) -> list[str]:
    engine = open_store(store_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text("SELECT source_event_id FROM events")).scalars())
    finally:
        engine.dispose()


def test_kills_during_a_burst_lose_nothing_answered_and_store_everything_once(
    tmp_path: Path, store_url: str
) -> None:
    key = new_private_key()
    key_file = tmp_path / "sendgrid.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    port = _free_port()
    (tmp_path / "config.toml").write_text(
        f'[sources.mail]\ntype = "sendgrid"\nwebhook_public_key = "{public_key_text(key)}"\n',
        encoding="utf-8",
    )
    env = clean_env(LEADSYNC_STORE_URL=store_url)
    logs: list[Path] = []

    def start() -> subprocess.Popen[bytes]:
        logs.append(tmp_path / f"serve-{len(logs)}.log")
        return start_serve(tmp_path, env, port, logs[-1])

    acks = tmp_path / "acks.txt"
    server = start()
    sender = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.serve.webhook_sender",
            f"http://127.0.0.1:{port}/webhooks/mail",
            str(key_file),
            str(BATCHES),
            str(PER_BATCH),
            str(acks),
        ],
        cwd=Path(__file__).resolve().parents[2],
    )
    rng = random.Random(13)
    try:
        for kill in range(KILLS):
            # Somewhere in the burst: after a few more batches were answered.
            wanted = len(_acked(acks)) + rng.randint(5, 30)
            _wait_for(
                lambda wanted=wanted: len(_acked(acks)) >= wanted or sender.poll() is not None,
                f"the sender's batch {wanted} answered",
                timeout_s=60,
            )
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=10)
            answered = set(_acked(acks))  # every batch answered before the kill
            stored = set(_stored_ids(store_url))
            missing = [
                batch
                for batch in answered
                if not {f"b{batch}-{n}" for n in range(PER_BATCH)} <= stored
            ]
            assert not missing, f"kill {kill + 1}: batches answered 2xx but not stored: {missing}"
            time.sleep(rng.uniform(0.1, 0.6))  # the sender meets a refused connection meanwhile
            server = start()
        assert sender.wait(timeout=150) == 0
    finally:
        if sender.poll() is None:
            sender.kill()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0, logs[-1].read_text(encoding="utf-8")[-3000:]
    assert sorted(_acked(acks)) == list(range(BATCHES))
    stored_ids = _stored_ids(store_url)
    expected = {f"b{batch}-{n}" for batch in range(BATCHES) for n in range(PER_BATCH)}
    assert len(stored_ids) == len(expected)  # no event twice
    assert set(stored_ids) == expected  # and every event sent
