"""Scoring passes over the real store (SQLite and PostgreSQL): incremental, full, split
over workers, reproducible with --as-of, fed by CRM snapshots, and safe to interrupt."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.files import FileSource
from connector.config import Settings, scoring_rules
from connector.errors import FatalError, StoreError
from connector.model import SalesSignals, SalesStatus, Stage
from connector.ports import ProfileSnapshot, SnapshotPage
from connector.runners import rescore as rescore_module
from connector.runners.crm_read import read_crm
from connector.runners.explain import explain_contact
from connector.runners.ingest import ingest
from connector.runners.rescore import rescore
from connector.scoring.lifecycle import Bands
from connector.scoring.rules import ScoringRules
from connector.store.locks import exclusive_pass
from connector.store.schema import contacts, rejects, scores, stage_history
from connector.store.scores import OutcomeWriter

RULES = scoring_rules(Settings())
DAY0 = datetime(2026, 9, 1, tzinfo=UTC)


def _ingest(engine: Engine, path: Path, lines: list[dict[str, object]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    ingest(engine, FileSource(path.stem, path), command="ingest", resume=False)


def _visits(prefix: str, email: str, count: int, day: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"{prefix}-{n}",
            "kind": "site_visit",
            "occurred_at": (DAY0 + timedelta(days=day, minutes=n)).isoformat(),
            "email": email,
        }
        for n in range(count)
    ]


def _stored(engine: Engine) -> dict[int, tuple[float, str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(scores.c.contact_id, scores.c.score, scores.c.temperature, scores.c.stage)
        )
        return {row[0]: (row[1], row[2], row[3]) for row in rows}


def _history(engine: Engine) -> list[tuple[int, str, str]]:
    with engine.connect() as connection:
        return [
            (row[0], row[1], row[2])
            for row in connection.execute(
                sa.select(
                    stage_history.c.contact_id, stage_history.c.from_stage, stage_history.c.to_stage
                ).order_by(stage_history.c.id)
            )
        ]


def test_rescore_touches_only_contacts_with_new_events_and_all_on_rule_change(
    engine: Engine, tmp_path: Path
) -> None:
    people = [f"p{n}@acme.example" for n in range(5)]
    _ingest(
        engine,
        tmp_path / "first.jsonl",
        [line for n, who in enumerate(people) for line in _visits(f"a{n}", who, 1, 0)],
    )
    first = rescore(engine, RULES)
    assert (first.contacts_scored, first.full, first.reason) == (5, True, "first pass")
    assert rescore(engine, RULES).contacts_scored == 0

    _ingest(
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
    assert sorted(score for score, _, _ in _stored(engine).values()) == [1, 1, 1, 1, 21]
    assert [step[1:] for step in _history(engine)] == [("lead", "mql")]

    changed_rules = ScoringRules(RULES.behaviour, bands=Bands(1, 2))
    summary = rescore(engine, changed_rules)
    assert (summary.contacts_scored, summary.full, summary.reason) == (
        5,
        True,
        "scoring rules changed",
    )
    assert rescore(engine, changed_rules, full=True).contacts_scored == 5


@pytest.mark.parametrize("workers", [1, 3])
def test_a_full_pass_split_over_workers_scores_like_one_process(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(rescore_module, "PARALLEL_FROM_CONTACTS", 1)
    monkeypatch.setattr(rescore_module, "CHUNK_CONTACTS", 4)
    lines = [
        line for n in range(30) for line in _visits(f"v{n}", f"c{n}@acme.example", n + 1, day=n % 7)
    ]
    _ingest(engine, tmp_path / "visits.jsonl", lines)
    summary = rescore(engine, RULES, workers=workers)
    assert summary.contacts_scored == 30
    assert summary.workers == workers
    stored = _stored(engine)
    assert sorted(score for score, _, _ in stored.values()) == list(range(1, 31))
    hot = {contact for contact, (score, _, _) in stored.items() if score > 20}
    assert {contact for contact, _, to in _history(engine) if to == "mql"} == hot
    assert len(_history(engine)) == len(hot) == 10


@pytest.mark.parametrize(
    ("changed", "visits_each", "workers_used"),
    # 500 and 125 new events for 30 contacts: every contact read, in the workers; 10 new
    # events: the 10 changed contacts read through the index, in one process.
    [(20, 25, 2), (5, 25, 2), (10, 1, 1)],
)
def test_an_incremental_pass_after_a_bulk_import_is_split_over_workers(
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    changed: int,
    visits_each: int,
    workers_used: int,
) -> None:
    """Past half as many new events as contacts, the pass reads every contact in the workers
    and scores only the changed ones; it stores what --full does."""
    monkeypatch.setattr(rescore_module, "PARALLEL_FROM_CONTACTS", 1)
    monkeypatch.setattr(rescore_module, "CHUNK_CONTACTS", 4)
    lines = [line for n in range(30) for line in _visits(f"v{n}", f"c{n}@acme.example", 1, 0)]
    _ingest(engine, tmp_path / "visits.jsonl", lines)
    rescore(engine, RULES, workers=1)
    bulk = [
        line
        for n in range(changed)
        for line in _visits(f"b{n}", f"c{n}@acme.example", visits_each, 1)
    ]
    _ingest(engine, tmp_path / "bulk.jsonl", bulk)

    summary = rescore(engine, RULES, workers=2)

    assert (summary.full, summary.contacts_scored, summary.workers) == (
        False,
        changed,
        workers_used,
    )
    hot = changed if visits_each > 20 else 0
    assert summary.transitions == hot
    incremental, history = _stored(engine), _history(engine)
    assert (
        sorted(score for score, _, _ in incremental.values())
        == [1] * (30 - changed) + [1 + visits_each] * changed
    )
    full = rescore(engine, RULES, full=True, workers=1)
    assert (full.contacts_scored, full.transitions) == (30, 0)
    assert (_stored(engine), _history(engine)) == (incremental, history)


def test_as_of_makes_decay_and_windows_reproducible(engine: Engine, tmp_path: Path) -> None:
    rules = ScoringRules(
        tuple(
            replace(rule, half_life_days=10) if rule.name == "site_visit" else rule
            for rule in RULES.behaviour
        )
    )
    _ingest(engine, tmp_path / "v.jsonl", _visits("v", "ann@acme.example", 4, day=0))
    as_of = DAY0 + timedelta(days=10)
    rescore(engine, rules, as_of=as_of)
    first = _stored(engine)
    rescore(engine, rules, as_of=as_of, full=True)
    assert _stored(engine) == first
    assert next(iter(first.values()))[0] == 2  # four visits at half weight
    rescore(engine, rules, as_of=as_of + timedelta(days=10), full=True)
    assert next(iter(_stored(engine).values()))[0] == 1


def _die_on_third_save(monkeypatch: pytest.MonkeyPatch) -> object:
    """Make the third chunk's commit fail, as a crash would; returns the real method."""
    real_save = OutcomeWriter.save
    calls = {"count": 0}

    def dying_save(self: OutcomeWriter, *args: object, **kwargs: object) -> int:
        calls["count"] += 1
        if calls["count"] == 3:
            raise RuntimeError("killed")
        return real_save(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(OutcomeWriter, "save", dying_save)
    return real_save


@dataclass
class FakeCrm:
    """A CRM reader as the CRM adapters will be: snapshots changed since a cursor."""

    name: str = "crm"
    pages: list[list[ProfileSnapshot]] = field(default_factory=list)

    def read_changes(self, cursor: str | None) -> Iterator[SnapshotPage]:
        start = int(cursor or 0)
        for number, snapshots in enumerate(self.pages[start:], start=start + 1):
            yield SnapshotPage(snapshots, cursor=str(number))


def test_crm_snapshots_move_stages_through_the_port_and_history_says_why(
    engine: Engine, tmp_path: Path
) -> None:
    email = "lea@acme.example"
    _ingest(engine, tmp_path / "a.jsonl", _visits("a", email, 30, day=0))
    rescore(engine, RULES, as_of=DAY0 + timedelta(days=1))
    crm = FakeCrm()

    def crm_says(day: int, **signals: object) -> None:
        crm.pages.append(
            [
                ProfileSnapshot(
                    "crm",
                    DAY0 + timedelta(days=day),
                    email,
                    {"crm": f"00Q{day}"},
                    {"job_title": "CTO"},
                    SalesSignals(**signals),  # type: ignore[arg-type]
                )
            ]
        )
        read_crm(engine, crm)

    crm_says(2, status=SalesStatus.NOT_NOW)
    assert rescore(engine, RULES, as_of=DAY0 + timedelta(days=2)).transitions == 1
    # A pass with --as-of rescores everyone; the same answer read again moves nothing.
    assert rescore(engine, RULES, as_of=DAY0 + timedelta(days=3)).transitions == 0

    _ingest(engine, tmp_path / "b.jsonl", _visits("b", email, 21, day=5))
    summary = rescore(engine, RULES, as_of=DAY0 + timedelta(days=6))
    assert (summary.contacts_scored, summary.transitions, summary.full) == (1, 1, True)

    crm_says(7, bant=frozenset({"budget", "authority", "need", "timing"}))
    rescore(engine, RULES, as_of=DAY0 + timedelta(days=7))
    crm_says(9, won=True, bant=frozenset({"budget", "authority", "need", "timing"}))
    rescore(engine, RULES, as_of=DAY0 + timedelta(days=9))

    with engine.connect() as connection:
        explained = explain_contact(connection, email, RULES, now=DAY0 + timedelta(days=10))
    assert [(step.from_stage, step.to_stage, step.reason) for step in explained.history] == [
        (Stage.LEAD, Stage.MQL, "score 30 is above 20 (hot)"),
        (Stage.MQL, Stage.NURTURING, "sales answered 'not_now'"),
        (
            Stage.NURTURING,
            Stage.MQL,
            "re-qualified: 21 points earned since recycled on 2026-09-03 (above 20)",
        ),
        (Stage.MQL, Stage.SQL, "sales confirmed AUTHORITY, BUDGET, NEED, TIMING"),
        (Stage.SQL, Stage.CUSTOMER, "the CRM shows a won deal"),
    ]
    assert explained.outcome.stage is Stage.CUSTOMER
    assert explained.as_dict()["stage_set_by"]["reason"] == "the CRM shows a won deal"  # type: ignore[index]
    # The CRM's id was linked to the contact; its profile fields feed fit rules.
    assert explained.outcome.score.score == 51


def test_a_pass_that_dies_midway_is_redone_without_writing_anything_twice(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rescore_module, "CHUNK_CONTACTS", 3)
    lines = [line for n in range(10) for line in _visits(f"h{n}", f"h{n}@acme.example", 21, 0)]
    _ingest(engine, tmp_path / "hot.jsonl", lines)
    real_save = _die_on_third_save(monkeypatch)
    with pytest.raises(RuntimeError, match="killed"):
        rescore(engine, RULES)
    assert len(_stored(engine)) == 6  # two chunks of three committed
    monkeypatch.setattr(OutcomeWriter, "save", real_save)
    summary = rescore(engine, RULES)
    assert summary.full  # the watermark never moved: the pass is redone whole
    assert len(_stored(engine)) == 10
    history = _history(engine)
    assert len(history) == 10 and len({contact for contact, _, _ in history}) == 10


def test_the_order_events_arrive_in_changes_no_stored_result(
    engine: Engine, tmp_path: Path
) -> None:
    def events_of(email: str) -> list[dict[str, object]]:
        kinds = ["site_visit", "email_click", "document_download", "page_view", "bounce"] * 5
        return [
            {
                "id": f"{email}-{n}",
                "kind": kind,
                "occurred_at": (DAY0 + timedelta(hours=n % 7)).isoformat(),
                "email": email,
                "url": ["https://a.example/pricing", None, "https://a.example/quote"][n % 3],
                "attributes": {"type": "hard"} if n % 4 == 0 else {},
            }
            for n, kind in enumerate(kinds)
        ]

    forward = events_of("forward@acme.example")
    backward = list(reversed(events_of("backward@acme.example")))
    shuffled = events_of("shuffled@acme.example")
    shuffled = shuffled[1::2] + shuffled[::2]
    _ingest(engine, tmp_path / "mixed.jsonl", forward + backward + shuffled)
    rescore(engine, RULES, as_of=DAY0 + timedelta(days=1))
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                scores.c.score,
                scores.c.temperature,
                scores.c.stage,
                scores.c.route,
                scores.c.treatment,
                scores.c.reasons,
            )
        ).all()
    assert len(rows) == 3 and len(set(rows)) == 1, rows


def test_windows_and_decay_rescore_a_contact_when_time_alone_changes_its_score(
    engine: Engine, tmp_path: Path
) -> None:
    rules = ScoringRules(
        tuple(
            replace(rule, window_days=30) if rule.name == "site_visit" else rule
            for rule in RULES.behaviour
        )
    )
    _ingest(engine, tmp_path / "v.jsonl", _visits("v", "win@acme.example", 25, day=0))
    first = rescore(engine, rules, now=DAY0 + timedelta(days=1))
    assert first.contacts_scored == 1
    assert next(iter(_stored(engine).values())) == (25, "hot", "mql")
    # Nothing new and the window still holds every visit: nobody to rescore.
    assert rescore(engine, rules, now=DAY0 + timedelta(days=20)).contacts_scored == 0
    # The first visit leaves the 30-day window: the contact is due although no event came.
    due = rescore(engine, rules, now=DAY0 + timedelta(days=31))
    assert due.contacts_scored == 1
    assert next(iter(_stored(engine).values())) == (0, "cold", "mql")  # stages stay
    assert rescore(engine, rules, now=DAY0 + timedelta(days=60)).contacts_scored == 0


def test_a_rules_change_cut_short_leaves_a_full_pass_due_even_if_rules_revert(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rescore_module, "CHUNK_CONTACTS", 3)
    lines = [line for n in range(10) for line in _visits(f"w{n}", f"w{n}@acme.example", 5, 0)]
    _ingest(engine, tmp_path / "warm.jsonl", lines)
    rescore(engine, RULES)
    assert {temperature for _, temperature, _ in _stored(engine).values()} == {"cold"}

    other = ScoringRules(RULES.behaviour, bands=Bands(1, 2))
    real_save = _die_on_third_save(monkeypatch)
    with pytest.raises(RuntimeError, match="killed"):
        rescore(engine, other)
    monkeypatch.setattr(OutcomeWriter, "save", real_save)
    assert sum(t == "hot" for _, t, _ in _stored(engine).values()) == 6  # 2 chunks under B

    back = rescore(engine, RULES)  # the admin reverted the rules
    assert (back.full, back.contacts_scored) == (True, 10)
    assert back.reason == "an earlier full pass (scoring rules changed) did not finish"
    assert {temperature for _, temperature, _ in _stored(engine).values()} == {"cold"}
    assert not rescore(engine, RULES).full


def test_a_worker_killed_midway_fails_the_pass_and_the_next_one_redoes_it(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rescore_module, "PARALLEL_FROM_CONTACTS", 1)
    monkeypatch.setattr(rescore_module, "CHUNK_CONTACTS", 2)
    lines = [line for n in range(12) for line in _visits(f"k{n}", f"k{n}@acme.example", 21, 0)]
    _ingest(engine, tmp_path / "hot.jsonl", lines)
    parent = os.getpid()
    real_save = OutcomeWriter.save
    saved = {"count": 0}

    def killed_in_a_worker(self: OutcomeWriter, *args: object, **kwargs: object) -> int:
        saved["count"] += 1  # per process: each worker has its own copy
        if os.getpid() != parent and saved["count"] == 2:
            os._exit(9)  # as a kill -9 would: no cleanup, no message
        return real_save(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(OutcomeWriter, "save", killed_in_a_worker)
    with pytest.raises(FatalError, match="stopped before it finished"):
        rescore(engine, RULES, workers=2)
    partly = len(_stored(engine))
    assert 0 < partly < 12
    monkeypatch.setattr(OutcomeWriter, "save", real_save)
    again = rescore(engine, RULES, workers=2)
    assert again.full and again.contacts_scored == 12
    history = _history(engine)
    assert len(history) == 12 and len({contact for contact, _, _ in history}) == 12


def test_one_scoring_pass_at_a_time(engine: Engine) -> None:
    with (
        exclusive_pass(engine, "scoring pass"),
        pytest.raises(StoreError, match="another scoring pass is running"),
    ):
        rescore(engine, RULES)
    rescore(engine, RULES)  # released


def test_crm_answers_belong_to_the_crm_and_emails_are_normalised(
    engine: Engine, tmp_path: Path
) -> None:
    email = "lea@acme.example"
    _ingest(engine, tmp_path / "a.jsonl", _visits("a", email, 21, day=0))
    crm = FakeCrm(
        pages=[
            [
                ProfileSnapshot(
                    "crm",
                    DAY0 + timedelta(days=2),
                    "  Lea@ACME.example ",
                    sales=SalesSignals(status=SalesStatus.NOT_NOW),
                ),
                ProfileSnapshot("crm", DAY0, "not an e-mail", fields={"job_title": "x"}),
            ]
        ]
    )
    summary = read_crm(engine, crm)
    assert (summary.contacts_changed, summary.rejected) == (1, 1)
    # A form filled later with a profile claiming another answer changes nothing.
    _ingest(
        engine,
        tmp_path / "b.jsonl",
        [
            {
                "id": "form",
                "kind": "form_submit",
                "occurred_at": (DAY0 + timedelta(days=3)).isoformat(),
                "email": email,
                "profile": {"sales_status": "open", "job_title": "CTO"},
            }
        ],
    )
    with engine.connect() as connection:
        profile = connection.execute(sa.select(contacts.c.profile)).scalars().all()
        rejected = connection.execute(sa.select(rejects.c.reason)).scalars().all()
    assert len(profile) == 1  # the snapshot found the contact of the events
    assert profile[0]["sales_status"] == "not_now"
    assert profile[0]["job_title"] == "CTO"
    assert rejected == ["invalid e-mail 'not an e-mail'"]
