"""`leadsync calibrate` as a person and a tool run it: the JSON object, the tables, the
drift on the next run, and a bad --target refused with what to write instead."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from connector.store.engine import open_store
from connector.store.schema import identities, stage_history
from tests.cli.test_cli import cfg, clean_env, leadsync, write_jsonl

__all__ = ["cfg"]  # the fixture, imported for the tests here


def _visits(email: str, count: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"{email}-{n}",
            "kind": "site_visit",
            "occurred_at": f"2025-01-01T10:{n:02d}:00Z",
            "email": email,
        }
        for n in range(count)
    ]


def _prepared(cfg: Path, store_url: str) -> dict[str, str]:
    """A hot contact that became a customer four days later, two cold ones that did not:
    all in January 2025, so every 30-day horizon has long passed."""
    events = cfg.parent / "visits.jsonl"
    write_jsonl(
        events,
        [
            *_visits("hot@acme.example", 21),
            *_visits("a@acme.example", 3),
            *_visits("b@acme.example", 3),
        ],
    )
    env = clean_env(LEADSYNC_STORE_URL=store_url)
    ingested = leadsync("--config", cfg, "ingest", events, cwd=cfg.parent, env=env)
    assert ingested.returncode == 0, ingested.stderr
    engine = open_store(store_url)
    try:
        with engine.begin() as connection:
            contact_id = connection.execute(
                sa.select(identities.c.contact_id).where(identities.c.value == "hot@acme.example")
            ).scalar_one()
            connection.execute(
                sa.insert(stage_history).values(
                    contact_id=contact_id,
                    at=datetime(2025, 1, 5, tzinfo=UTC),
                    from_stage="mql",
                    to_stage="customer",
                    reason="the CRM shows a won deal",
                    recorded_at=datetime(2025, 6, 1, tzinfo=UTC),
                )
            )
    finally:
        engine.dispose()
    return env


OPTIONS = ("--horizon-days", "30", "--min-outcomes", "1")


class TestCalibrateCommand:
    def test_json_gives_the_bands_and_the_next_run_its_drift(
        self, cfg: Path, store_url: str
    ) -> None:
        env = _prepared(cfg, store_url)
        first = leadsync("--config", cfg, "calibrate", *OPTIONS, "--json", cwd=cfg.parent, env=env)
        assert first.returncode == 0, first.stderr
        found = json.loads(first.stdout)
        assert [
            (row["band"], row["outcomes"], row["customers"], row["rate"]) for row in found["bands"]
        ] == [
            ("cold", 2, 0, 0.0),
            ("warm", 0, 0, None),
            ("hot", 1, 1, 1.0),
        ]
        assert (found["suggested"]["warm_from"], found["suggested"]["hot_above"]) == (20, 20)
        assert found["drift"] is None
        second = leadsync("--config", cfg, "calibrate", *OPTIONS, "--json", cwd=cfg.parent, env=env)
        assert second.returncode == 0, second.stderr
        drift = json.loads(second.stdout)["drift"]
        assert drift == {
            "since": found["as_of"],
            "bands": {"cold": 0.0, "warm": None, "hot": 0.0},
            "warm_from": 0,
            "hot_above": 0,
        }

    def test_the_tables_show_rates_notes_and_the_suggestion(
        self, cfg: Path, store_url: str
    ) -> None:
        env = _prepared(cfg, store_url)
        shown = leadsync(
            "--config", cfg, "calibrate", "--horizon-days", "30", cwd=cfg.parent, env=env
        )
        assert shown.returncode == 0, shown.stderr
        lines = [line.rstrip() for line in shown.stdout.splitlines()]
        assert lines[0].endswith(
            "3 known outcome(s) within 30 days (0 not known yet); a rate needs 30 outcomes"
        )
        assert lines[2].split() == [
            "cold",
            "2",
            "0",
            "5.0%",
            "too",
            "few",
            "outcomes",
            "(2",
            "<",
            "30)",
        ]
        assert (
            "suggested warm_from none (now 10, target 0.25): no bucket has enough known "
            "outcomes for a rate"
        ) in lines
        assert lines[-1] == "no drift: this is the first calibration of this store"

    def test_a_target_that_is_no_rate_is_refused_with_the_form_to_use(self, cfg: Path) -> None:
        result = leadsync(
            "--config", cfg, "calibrate", "--target", "hot=half", cwd=cfg.parent, env=clean_env()
        )
        assert result.returncode == 2
        assert "'half' is not a number; write BAND=RATE" in result.stderr
        assert "Traceback" not in result.stderr

    def test_a_target_for_the_cold_band_is_refused(self, cfg: Path) -> None:
        result = leadsync(
            "--config", cfg, "calibrate", "--target", "cold=0.05", cwd=cfg.parent, env=clean_env()
        )
        assert result.returncode == 2
        assert "'cold=0.05' is not BAND=RATE, BAND warm or hot" in result.stderr


def test_html_writes_the_report_and_says_where(cfg: Path, sqlite_url: str) -> None:
    env = _prepared(cfg, sqlite_url)
    report = cfg.parent / "bands.html"
    done = leadsync(
        "--config", cfg, "calibrate", *OPTIONS, "--html", report, cwd=cfg.parent, env=env
    )
    assert done.returncode == 0, done.stderr
    assert f"report: {report}" in done.stdout
    page = report.read_text(encoding="utf-8")
    assert "Calibration of the bands" in page
    assert "Conversion by band" in page
