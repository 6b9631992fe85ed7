"""`simulate` over the real store (SQLite and PostgreSQL): the current rules change
nothing; raising hot_above moves exactly the MQLs the score alone made; a rule's points
show in the lines that changed; nothing is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.files import FileSource
from connector.config import Settings, candidate_rules, scoring_rules
from connector.errors import ConfigError
from connector.model import SalesSignals
from connector.ports import ProfileSnapshot
from connector.runners.crm_read import read_crm
from connector.runners.ingest import ingest
from connector.runners.rescore import rescore
from connector.runners.simulate import simulate
from tests.runners.test_rescore import FakeCrm

SETTINGS = Settings()
RULES = scoring_rules(SETTINGS)
DAY0 = datetime(2026, 9, 1, 9, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
BANT = frozenset({"budget", "authority", "need", "timing"})


def _visits(email: str, count: int, *, day: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"{email}-{n}",
            "kind": "site_visit",
            "occurred_at": (DAY0 + timedelta(days=day, hours=n)).isoformat(),
            "email": email,
        }
        for n in range(count)
    ]


def _store(engine: Engine, tmp_path: Path) -> None:
    lines = [
        *_visits("hot30@acme.example", 30, day=0),  # MQL by score, stays hot at 27
        *_visits("hot25@acme.example", 25, day=20),  # MQL by score 25: leaves at 27
        *_visits("warm15@acme.example", 15, day=1),  # a warm lead
        *_visits("sql24@acme.example", 24, day=2),  # hot, then SQL by BANT
        {
            "id": "quote-1",
            "kind": "quote_request",
            "occurred_at": (DAY0 + timedelta(days=70)).isoformat(),
            "email": "asked@acme.example",
        },  # 20 points, a hand-raiser: MQL whatever the threshold
    ]
    path = tmp_path / "web.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    ingest(engine, FileSource("web", path), command="ingest", resume=False)
    rescore(engine, RULES, now=DAY0 + timedelta(days=75))
    crm = FakeCrm(
        pages=[
            [
                ProfileSnapshot(
                    "crm",
                    DAY0 + timedelta(days=30),
                    "sql24@acme.example",
                    sales=SalesSignals(bant=BANT),
                )
            ]
        ]
    )
    read_crm(engine, crm)
    rescore(engine, RULES, now=DAY0 + timedelta(days=76))


def _candidate(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "candidate.toml"
    path.write_text(text, encoding="utf-8")
    return candidate_rules(path, SETTINGS)


def _store_rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        scores = connection.execute(sa.text("SELECT * FROM scores ORDER BY contact_id")).all()
        history = connection.execute(sa.text("SELECT * FROM stage_history ORDER BY id")).all()
    return [tuple(row) for row in [*scores, *history]]


def test_the_current_rules_change_nothing(engine: Engine, tmp_path: Path) -> None:
    _store(engine, tmp_path)
    stored = _store_rows(engine)
    result = simulate(engine, RULES, _candidate(tmp_path, "[scoring]\n"), now=NOW)
    assert result["contacts"] == 5
    assert result["changed"] == {"score": 0, "temperature": 0, "stage": 0, "any": 0}
    assert result["before"] == result["after"]
    assert result["before"]["stage"]["mql"] == 3  # type: ignore[index]
    assert result["before"]["stage"]["sql"] == 1  # type: ignore[index]
    assert result["moves"] == []
    weeks = result["mql_per_week"]
    assert len(weeks) == 12  # type: ignore[arg-type]
    assert all(week["before"] == week["after"] for week in weeks)  # type: ignore[union-attr]
    assert _store_rows(engine) == stored  # nothing written


def test_raising_hot_above_moves_exactly_the_mqls_the_score_alone_made(
    engine: Engine, tmp_path: Path
) -> None:
    _store(engine, tmp_path)
    stored = _store_rows(engine)
    result = simulate(engine, RULES, _candidate(tmp_path, "[scoring]\nhot_above = 27\n"), now=NOW)
    moves = {move["email"]: move for move in result["moves"]}  # type: ignore[union-attr]
    stage_moves = {
        email: (move["stage_before"], move["stage_after"])
        for email, move in moves.items()
        if move["stage_before"] != move["stage_after"]
    }
    assert stage_moves == {"hot25@acme.example": ("mql", "lead")}
    # The SQL at 24 cools too, but sales made it an SQL: its stage stays.
    assert moves["sql24@acme.example"]["temperature_after"] == "warm"
    assert moves["sql24@acme.example"]["stage_after"] == "sql"
    assert result["changed"] == {"score": 0, "temperature": 2, "stage": 1, "any": 2}
    assert result["after"]["stage"]["mql"] == 2  # type: ignore[index]
    assert result["after"]["stage"]["lead"] == result["before"]["stage"]["lead"] + 1  # type: ignore[index]
    assert result["candidate"] == {"warm_from": 10, "hot_above": 27}
    # hot25's MQL (20 + 21 hours: the 21st visit, on 21 September) leaves its week.
    (week,) = [w for w in result["mql_per_week"] if w["before"] != w["after"]]  # type: ignore[union-attr]
    assert (week["start"], week["before"], week["after"]) == ("2026-09-21", 1, 0)
    assert _store_rows(engine) == stored

    # Replayed on both sides (a fixed moment: the stored scores are not "now"'s), the
    # answer is the same as beside the stored state.
    replayed = simulate(
        engine, RULES, _candidate(tmp_path, "[scoring]\nhot_above = 27\n"), as_of=NOW
    )
    for key in ("changed", "before", "after", "mql_per_week"):
        assert replayed[key] == result[key], key
    assert [(m["email"], m["stage_after"]) for m in replayed["moves"]] == [  # type: ignore[union-attr]
        (m["email"], m["stage_after"])
        for m in result["moves"]  # type: ignore[union-attr]
    ]


def test_contacts_changed_since_the_last_pass_are_replayed_on_both_sides(
    engine: Engine, tmp_path: Path
) -> None:
    _store(engine, tmp_path)
    # Six more visits for the warm lead, not scored yet: the stored 15 is not its score.
    path = tmp_path / "late.jsonl"
    path.write_bytes(
        b"".join(
            orjson.dumps(line) + b"\n"
            for line in _visits("late-warm15@acme.example", 0, day=0)
            + [
                {
                    "id": f"late-{n}",
                    "kind": "site_visit",
                    "occurred_at": (DAY0 + timedelta(days=80, hours=n)).isoformat(),
                    "email": "warm15@acme.example",
                }
                for n in range(6)
            ]
        )
    )
    ingest(engine, FileSource("late", path), command="ingest", resume=False)
    same = simulate(engine, RULES, _candidate(tmp_path, "[scoring]\n"), now=NOW)
    assert same["changed"]["any"] == 0  # type: ignore[index]
    # Both sides see 21 points: hot, an MQL by the current rules and by the candidate.
    assert same["before"]["stage"]["mql"] == 4  # type: ignore[index]
    result = simulate(engine, RULES, _candidate(tmp_path, "[scoring]\nhot_above = 27\n"), now=NOW)
    stage_moves = {
        move["email"]
        for move in result["moves"]  # type: ignore[union-attr]
        if move["stage_before"] != move["stage_after"]
    }
    assert stage_moves == {"hot25@acme.example", "warm15@acme.example"}


def test_a_rule_change_shows_the_lines_it_changes(engine: Engine, tmp_path: Path) -> None:
    _store(engine, tmp_path)
    text = '[[scoring.behaviour]]\nname = "visit_worth_two"\nkind = "site_visit"\npoints = 2\n'
    result = simulate(engine, RULES, _candidate(tmp_path, text), now=NOW)
    moves = {move["email"]: move for move in result["moves"]}  # type: ignore[union-attr]
    assert set(moves) == {
        "hot30@acme.example",
        "hot25@acme.example",
        "warm15@acme.example",
        "sql24@acme.example",
    }
    warm = moves["warm15@acme.example"]
    assert (warm["score_before"], warm["score_after"]) == (15, 30)
    assert (warm["stage_before"], warm["stage_after"]) == ("lead", "mql")
    lines = warm["lines"]
    assert len(lines) == 30  # 15 visits: each line gone under site_visit, new under the rule
    assert {(line["rule"], line["before"], line["after"]) for line in lines} == {
        ("site_visit", 1.0, None),
        ("visit_worth_two", None, 2.0),
    }
    # Stage changes come first, then the largest score change.
    assert result["moves"][0]["email"] == "warm15@acme.example"  # type: ignore[index]


def test_a_bad_candidate_is_named_with_its_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as missing:
        candidate_rules(tmp_path / "nope.toml", SETTINGS)
    assert "nope.toml" in str(missing.value.attrs())
    path = tmp_path / "bad.toml"
    path.write_text("[scoring]\nwarm_from = 10\nhot_abvoe = 30\n", encoding="utf-8")
    with pytest.raises(ConfigError) as bad:
        candidate_rules(path, SETTINGS)
    assert "scoring.hot_abvoe" in str(bad.value)
    assert bad.value.attrs()["line"] == 3
    path.write_text("[store]\nurl = 'sqlite:///x.db'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="neither a \\[scoring\\] nor a \\[lifecycle\\]"):
        candidate_rules(path, SETTINGS)


def test_a_candidate_of_one_key_keeps_the_rest_of_the_current_rules(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "[scoring]\nwarm_from = 15\n\n[[scoring.behaviour]]\n"
        'name = "pricing_visit"\nkind = "page_view"\nurl = "*/pricing*"\npoints = 4\n',
        encoding="utf-8",
    )
    from connector.config import load_settings

    settings = load_settings(config)
    path = tmp_path / "candidate.toml"
    path.write_text("[scoring]\nhot_above = 27\n", encoding="utf-8")
    rules = candidate_rules(path, settings)
    assert (rules.bands.warm_from, rules.bands.hot_above) == (15, 27)
    assert rules.behaviour[0].name == "pricing_visit"
    # A list given replaces the whole list.
    path.write_text(
        '[[scoring.behaviour]]\nname = "visit_worth_two"\nkind = "site_visit"\npoints = 2\n',
        encoding="utf-8",
    )
    rules = candidate_rules(path, settings)
    assert [rule.name for rule in rules.behaviour][:1] == ["visit_worth_two"]
    assert "pricing_visit" not in {rule.name for rule in rules.behaviour}
    assert rules.bands.warm_from == 15
