"""The reference points table, bands and hand-over rules, as the domain states them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.files import FileSource
from connector.config import DEFAULT_STRONG_CLICK_PATTERNS
from connector.ingest import ingest
from connector.lifecycle import Bands, temperature_for
from connector.model import Route, Stage, Temperature, Treatment
from connector.rescore import rescore
from connector.scoring import ScoringEvent, ScoringRules, default_behaviour_rules, score_contact
from connector.store.schema import scores

RULES = ScoringRules(default_behaviour_rules(DEFAULT_STRONG_CLICK_PATTERNS))
START = datetime(2026, 11, 2, 10, tzinfo=UTC)


def _event(
    kind: str, minutes: int = 0, url: str | None = None, **attributes: object
) -> ScoringEvent:
    return ScoringEvent(kind, START + timedelta(minutes=minutes), "test", url, dict(attributes))


def test_strong_click_then_download_is_8_cold_and_handed_to_telemarketing() -> None:
    result = score_contact(
        [
            _event("email_click", 0, "https://acme.example/request-a-QUOTE?x=1"),
            _event("document_download", 5, "https://acme.example/white-paper.pdf"),
        ],
        RULES,
    )
    assert result.score == 8
    assert result.temperature is Temperature.COLD
    assert result.stage is Stage.LEAD
    assert result.route is Route.TELEMARKETING
    assert result.treatment is Treatment.PROJECT_DETECTION
    assert [line.rule for line in result.lines] == ["strong_email_click", "document_download"]


def test_click_is_strong_by_attribute_and_weak_otherwise() -> None:
    strong = score_contact(
        [_event("email_click", url="https://acme.example/blog", strong=True)], RULES
    )
    weak = score_contact([_event("email_click", url="https://acme.example/blog")], RULES)
    csv_flag = score_contact([_event("email_click", strong="true")], RULES)
    assert (strong.score, weak.score, csv_flag.score) == (3, 1, 3)
    assert weak.route is None and weak.treatment is None


def test_a_quote_request_goes_to_sales_at_once_as_mql() -> None:
    result = score_contact([_event("quote_request")], RULES)
    assert result.score == 20
    assert result.temperature is Temperature.WARM
    assert (result.stage, result.route, result.treatment) == (
        Stage.MQL,
        Route.SALES,
        Treatment.APPOINTMENT,
    )


def test_callback_request_goes_to_telemarketing_for_an_appointment() -> None:
    result = score_contact([_event("document_download"), _event("callback_request", 1)], RULES)
    assert result.score == 15
    assert (result.route, result.treatment) == (Route.TELEMARKETING, Treatment.APPOINTMENT)


def test_21_visits_are_hot_mql_and_go_to_sales_without_asking() -> None:
    result = score_contact([_event("site_visit", minute) for minute in range(21)], RULES)
    assert result.score == 21
    assert result.temperature is Temperature.HOT
    assert (result.stage, result.route, result.treatment) == (
        Stage.MQL,
        Route.SALES,
        Treatment.APPOINTMENT,
    )


@pytest.mark.parametrize(
    ("score", "temperature"),
    [
        (0, "cold"),
        (9, "cold"),
        (9.99, "cold"),
        (10, "warm"),
        (20, "warm"),
        (20.5, "hot"),
        (21, "hot"),
    ],
)
def test_bands_exactly_10_and_20_are_warm_21_is_hot(score: float, temperature: str) -> None:
    assert temperature_for(score, Bands()) == Temperature(temperature)


def test_kinds_without_a_rule_count_nothing_but_stay_out_of_the_lines() -> None:
    result = score_contact(
        [_event("email_open"), _event("page_view", url="https://x/pricing")], RULES
    )
    assert result.score == 0 and result.lines == ()
    assert result.reasons == "no scored activity"


def test_rules_fingerprint_changes_with_bands_and_patterns() -> None:
    other_bands = ScoringRules(RULES.behaviour, Bands(5, 20))
    other_patterns = ScoringRules(default_behaviour_rules(["*demo*"]))
    assert len({RULES.fingerprint(), other_bands.fingerprint(), other_patterns.fingerprint()}) == 3


def _ingest_lines(engine: Engine, path: Path, lines: list[dict[str, object]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    ingest(engine, FileSource(path.stem, path), command="ingest", resume=False)


def test_rescore_touches_only_contacts_with_new_events_and_all_on_rule_change(
    engine: Engine, tmp_path: Path
) -> None:
    people = [f"p{n}@acme.example" for n in range(5)]
    _ingest_lines(
        engine,
        tmp_path / "first.jsonl",
        [
            {
                "id": f"a{n}",
                "kind": "site_visit",
                "occurred_at": "2026-11-02T10:00:00Z",
                "email": who,
            }
            for n, who in enumerate(people)
        ],
    )
    assert rescore(engine, RULES).contacts_scored == 5
    assert rescore(engine, RULES).contacts_scored == 0

    _ingest_lines(
        engine,
        tmp_path / "second.jsonl",
        [
            {
                "id": "b1",
                "kind": "quote_request",
                "occurred_at": "2026-11-03T10:00:00Z",
                "email": people[1],
            }
        ],
    )
    assert rescore(engine, RULES).contacts_scored == 1
    with engine.connect() as connection:
        stored = dict(connection.execute(sa.select(scores.c.contact_id, scores.c.score)).all())
    assert sorted(stored.values()) == [1, 1, 1, 1, 21]

    changed_rules = ScoringRules(RULES.behaviour, Bands(1, 2))
    summary = rescore(engine, changed_rules)
    assert (summary.contacts_scored, summary.full) == (5, True)
    assert rescore(engine, changed_rules, full=True).contacts_scored == 5
