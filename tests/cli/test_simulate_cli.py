"""`leadsync simulate` as a user runs it: the JSON keys, the text, a bad candidate."""

from __future__ import annotations

import json
from pathlib import Path

from connector.errors import ExitCode
from tests.cli.test_cli import (
    QUOTE,
    VISITOR,
    assert_clean_failure,
    cfg,
    leadsync,
    three_people,
    write_jsonl,
)

__all__ = ["cfg"]  # the project-folder fixture, shared with test_cli.py


def _scored(cfg: Path) -> Path:
    events = cfg.parent / "events.jsonl"
    write_jsonl(events, three_people())
    for args in (("ingest", events), ("score",)):
        done = leadsync("--config", cfg, *args, cwd=cfg.parent)
        assert done.returncode == 0, done.stderr
    return cfg.parent


def test_simulate_reports_the_contacts_a_higher_threshold_moves(cfg: Path) -> None:
    run = _scored(cfg)
    candidate = run / "stricter.toml"
    candidate.write_text("[scoring]\nhot_above = 21\n", encoding="utf-8")

    same = run / "same.toml"
    same.write_text("[scoring]\nhot_above = 20\n", encoding="utf-8")
    unchanged = leadsync("--config", cfg, "simulate", same, "--json", cwd=run)
    assert unchanged.returncode == 0, unchanged.stderr
    assert json.loads(unchanged.stdout)["changed"]["any"] == 0

    done = leadsync("--config", cfg, "simulate", candidate, "--json", cwd=run)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) >= {"contacts", "changed", "before", "after", "mql_per_week", "moves"}
    assert result["contacts"] == 3
    (move,) = result["moves"]
    assert {key: move[key] for key in move if key != "lines" and key != "contact_id"} == {
        "email": VISITOR,
        "score_before": 21,
        "score_after": 21,
        "temperature_before": "hot",
        "temperature_after": "warm",
        "stage_before": "mql",
        "stage_after": "lead",
    }
    assert result["before"]["stage"]["mql"] == 2
    assert result["after"]["stage"]["mql"] == 1  # the quote request still asked for sales
    assert QUOTE not in {m["email"] for m in result["moves"]}

    text = leadsync("--config", cfg, "simulate", candidate, cwd=run)
    assert text.returncode == 0, text.stderr
    assert "3 contacts replayed" in text.stdout
    assert "1 would change (score 0, temperature 1, stage 1)" in text.stdout
    assert "hot above 20 -> 21" in text.stdout
    assert VISITOR in text.stdout and "mql -> lead" in text.stdout

    report = run / "what-if.html"
    written = leadsync("--config", cfg, "simulate", candidate, "--html", report, cwd=run)
    assert written.returncode == 0, written.stderr
    assert f"report: {report}" in written.stdout
    page = report.read_text(encoding="utf-8")
    assert "What stricter.toml would change" in page
    assert VISITOR in page  # the move's row

    # Nothing was written: the stored stage is still MQL.
    listed = leadsync("--config", cfg, "contacts", "--json", cwd=run)
    stages = {contact["email"]: contact["stage"] for contact in json.loads(listed.stdout)}
    assert stages[VISITOR] == "mql"


def test_a_candidate_with_a_misspelt_key_is_refused_with_file_and_line(cfg: Path) -> None:
    run = _scored(cfg)
    candidate = run / "typo.toml"
    candidate.write_text("[scoring]\nhot_abve = 25\n", encoding="utf-8")
    done = leadsync("--config", cfg, "simulate", candidate, cwd=run)
    assert_clean_failure(done, ExitCode.CONFIG)
    assert "typo.toml:2:" in done.stderr
    assert "scoring.hot_abve" in done.stderr
