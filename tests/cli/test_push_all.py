"""`leadsync push --crm hubspot --all` as the real command against the local HubSpot fake:
every contact rewritten although unchanged, a kill midway and a rerun that goes on from
the last chunk recorded, `--all` without `--crm` refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from pytest_httpserver import HTTPServer

from connector.errors import ExitCode
from connector.store.engine import create_store_engine
from connector.store.schema import contacts, cursors
from tests.adapters.hubspot_fake import FakeHubSpot
from tests.adapters.test_hubspot import CONTACTS_SPEC, fake
from tests.adapters.test_hubspot import TOKEN as HUBSPOT_TOKEN
from tests.cli.test_cli import LEADSYNC, cfg, clean_env, leadsync, write_jsonl
from tests.cli.test_terminal_output import visits
from tests.runners.test_killed_ingest import _wait_for

__all__ = ["cfg", "fake"]  # the fixtures, imported for the tests here

PEOPLE = 150
CHECKPOINT = "push-all:hubspot"
needs_spec = pytest.mark.skipif(not CONTACTS_SPEC.exists(), reason="HubSpot's OpenAPI files absent")


@pytest.fixture
def pushed_once(cfg: Path, httpserver: HTTPServer, fake: FakeHubSpot, store_url: str) -> Path:
    """A project whose PEOPLE contacts are scored and pushed to the fake once, one record a
    call and 50 a chunk (HubSpot's writer: 50 calls a write), so a rewrite has 3 chunks."""
    with cfg.open("a", encoding="utf-8") as config:
        config.write(
            f'\n[crm.hubspot]\nbase_url = "{httpserver.url_for("/").rstrip("/")}"\n'
            "batch_size = 1\nin_flight = 1\nrequests_per_10s = 1000\n"
        )
    write_jsonl(cfg.parent / "visits.jsonl", visits(PEOPLE))
    for n in range(PEOPLE):
        fake.add_contact(f"visitor-{n}@example.com")
    env = _env(store_url)
    for command in (["ingest", "visits.jsonl"], ["score"], ["push"]):
        done = leadsync("--config", cfg, *command, cwd=cfg.parent, env=env)
        assert done.returncode == 0, done.stderr
    assert len(fake.writes()) == PEOPLE
    fake.calls.clear()
    return cfg


def _env(store_url: str) -> dict[str, str]:
    return clean_env(LEADSYNC_STORE_URL=store_url, HUBSPOT_ACCESS_TOKEN=HUBSPOT_TOKEN)


def _rewritten(fake: FakeHubSpot) -> Counter[str]:
    """How many times each e-mail's HubSpot record was updated since the calls were
    cleared."""
    return Counter(
        fake.contacts[str(entry["id"])]["email"]
        for body in fake.writes()
        for entry in body["inputs"]
    )


@needs_spec
def test_push_all_rewrites_every_contact_although_unchanged(
    pushed_once: Path, fake: FakeHubSpot, store_url: str
) -> None:
    env = _env(store_url)
    unchanged = leadsync("--config", pushed_once, "push", cwd=pushed_once.parent, env=env)
    assert unchanged.returncode == 0, unchanged.stderr
    assert fake.writes() == []

    result = leadsync(
        "--config", pushed_once, "push", "--crm", "hubspot", "--all", "--json",
        cwd=pushed_once.parent, env=env,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    (summary,) = json.loads(result.stdout)
    assert (summary["written"], summary["unchanged"], summary["rewrite_all"]) == (PEOPLE, 0, True)
    everyone = [f"visitor-{n}@example.com" for n in range(PEOPLE)]
    assert _rewritten(fake) == Counter(dict.fromkeys(everyone, 1))


@needs_spec
def test_a_killed_push_all_goes_on_from_the_last_chunk_recorded(
    pushed_once: Path, fake: FakeHubSpot, store_url: str
) -> None:
    """Killed (SIGKILL) once its first chunk is recorded, the rerun rewrites only the
    contacts after the checkpoint: those of the recorded chunks once in all, the chunk in
    flight at most twice, every contact at least once."""
    fake.latency_s = 0.01  # a round trip, so the kill lands in the second chunk
    env = _env(store_url)
    command = [LEADSYNC, "--config", str(pushed_once), "push", "--crm", "hubspot", "--all"]
    engine = create_store_engine(store_url)

    def checkpoint() -> int | None:
        with engine.connect() as connection:
            value = connection.execute(
                sa.select(cursors.c.value).where(cursors.c.source == CHECKPOINT)
            ).scalar()
        return None if value is None else int(value)

    pushing = subprocess.Popen(
        command, env=env, cwd=pushed_once.parent,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for(lambda: checkpoint() is not None, "no chunk was recorded")
        os.kill(pushing.pid, signal.SIGKILL)
        pushing.wait(timeout=10)
        done_through = checkpoint()
        assert done_through is not None
        with engine.connect() as connection:
            ids = dict(connection.execute(sa.select(contacts.c.email, contacts.c.id)).all())
        recorded = {email for email, contact_id in ids.items() if contact_id <= done_through}
        assert 0 < len(recorded) < PEOPLE
        before_rerun = _rewritten(fake)

        rerun = subprocess.run(
            [*command, "--json"], env=env, cwd=pushed_once.parent, capture_output=True,
            text=True, timeout=120, check=False,
        )  # fmt: skip

        assert rerun.returncode == 0, rerun.stderr
        (summary,) = json.loads(rerun.stdout)
        assert (summary["resumed_after"], summary["written"]) == (
            done_through,
            PEOPLE - len(recorded),
        )
        in_rerun = _rewritten(fake) - before_rerun
        assert set(in_rerun) == set(ids) - recorded
        total = _rewritten(fake)
        assert set(total) == set(ids)
        assert {email: total[email] for email in recorded} == dict.fromkeys(recorded, 1)
        assert max(total.values()) <= 2
        assert checkpoint() is None  # finished: the next push --all starts over
    finally:
        if pushing.poll() is None:
            pushing.kill()
        engine.dispose()


@needs_spec
def test_a_dry_run_all_plans_every_contact(
    pushed_once: Path, fake: FakeHubSpot, store_url: str
) -> None:
    result = leadsync(
        "--config", pushed_once, "push", "--crm", "hubspot", "--all", "--dry-run", "--json",
        cwd=pushed_once.parent, env=_env(store_url),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    (summary,) = json.loads(result.stdout)
    assert (summary["planned"], summary["unchanged"], summary["dry_run"]) == (PEOPLE, 0, True)
    assert fake.writes() == []


def test_all_without_crm_is_a_usage_error(cfg: Path) -> None:
    result = leadsync("--config", cfg, "push", "--all", cwd=cfg.parent)

    assert result.returncode == int(ExitCode.USAGE), result.stderr
    assert "--all needs --crm NAME" in result.stderr
    assert not (cfg.parent / "leadsync.db").exists()
