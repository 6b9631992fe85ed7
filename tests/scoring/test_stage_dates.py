"""Stage moves are dated in event time: the event that crossed the threshold or raised a
hand, the CRM's date of a change (else its read), never the moment the pass ran; the
pass's moment is kept as ``recorded_at``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.config import Settings, scoring_rules
from connector.model import (
    LifecycleState,
    ProfileValue,
    SalesSignals,
    SalesStatus,
    ScoringEvent,
    Stage,
    Transition,
    profile_fields_of,
)
from connector.scoring.decide import decide
from connector.scoring.scorer import Scorer

RULES = scoring_rules(Settings())
SEPT = datetime(2026, 9, 1, 9, tzinfo=UTC)
NOV = datetime(2026, 11, 20, 8, tzinfo=UTC)


def _visit(moment: datetime, n: int) -> ScoringEvent:
    return ScoringEvent("site_visit", moment, None, None, "web", f"v{n}")


def _moves(
    events: list[ScoringEvent],
    *,
    profile: dict[str, ProfileValue] | None = None,
    state: LifecycleState | None = None,
    at: datetime = NOV,
    profile_at: datetime | None = None,
) -> tuple[LifecycleState, tuple[Transition, ...]]:
    outcome = decide(
        Scorer(RULES, as_of=at),
        events,
        profile or {},
        state or LifecycleState(),
        email="lea@acme.example",
        at=at,
        profile_at=profile_at,
    )
    return outcome.lifecycle, outcome.lifecycle.transitions


def test_a_backfilled_lead_is_an_mql_from_the_visit_that_made_it_hot() -> None:
    # 25 visits, one a day from 1 September: the 21st (21 September) makes 21 > 20.
    events = [_visit(SEPT + timedelta(days=n), n) for n in range(25)]
    state, (step,) = _moves(events)
    assert (step.from_stage, step.to_stage) == (Stage.LEAD, Stage.MQL)
    assert step.at == SEPT + timedelta(days=20)
    assert step.recorded_at == NOV
    assert state.since == SEPT + timedelta(days=20)


def test_the_same_events_in_another_order_and_pass_give_the_same_date() -> None:
    events = [_visit(SEPT + timedelta(days=n), n) for n in range(25)]
    _, (first,) = _moves(events)
    _, (again,) = _moves(list(reversed(events)), at=NOV + timedelta(days=3))
    assert again.at == first.at
    assert again.recorded_at == NOV + timedelta(days=3)


def test_a_hand_raiser_before_the_crossing_dates_the_mql() -> None:
    quote = ScoringEvent("quote_request", SEPT + timedelta(days=2), None, None, "web", "q1")
    events = [quote, *(_visit(SEPT + timedelta(days=10, hours=n), n) for n in range(5))]
    _, (step,) = _moves(events)  # 20 + 5 = 25: hot, but the quote came first
    assert step.at == SEPT + timedelta(days=2)
    assert step.reason == "hand-raiser: quote_request on 2026-09-03"


def test_crm_signals_are_dated_by_the_crm_else_by_their_read() -> None:
    won_at = datetime(2026, 10, 5, tzinfo=UTC)
    read_at = datetime(2026, 10, 20, tzinfo=UTC)
    signals = SalesSignals(won=True, won_at=won_at, read_at=read_at)
    _, (step,) = _moves([], profile=dict(profile_fields_of(signals)))
    assert (step.to_stage, step.at, step.recorded_at) == (Stage.CUSTOMER, won_at, NOV)

    rejected = SalesSignals(status=SalesStatus.REJECTED, read_at=read_at)
    mql = LifecycleState(stage=Stage.MQL, since=SEPT)
    state, (step,) = _moves([], profile=dict(profile_fields_of(rejected)), state=mql)
    assert (step.to_stage, step.at) == (Stage.NURTURING, read_at)
    assert state.recycled_at == read_at

    changed_at = datetime(2026, 10, 12, tzinfo=UTC)
    sql = SalesSignals(stage=Stage.SQL, changed_at=changed_at, read_at=read_at)
    _, (step,) = _moves([], profile=dict(profile_fields_of(sql)), state=mql)
    assert (step.to_stage, step.at) == (Stage.SQL, changed_at)

    # Nothing says when: the pass's moment, as before.
    _, (step,) = _moves([], profile=dict(profile_fields_of(SalesSignals(won=True))))
    assert step.at == NOV


def test_a_move_is_never_dated_before_the_stage_it_leaves_nor_after_the_pass() -> None:
    sql = LifecycleState(stage=Stage.SQL, since=datetime(2026, 10, 1, tzinfo=UTC))
    early = SalesSignals(won=True, won_at=datetime(2026, 9, 1, tzinfo=UTC))
    _, (step,) = _moves([], profile=dict(profile_fields_of(early)), state=sql)
    assert step.at == datetime(2026, 10, 1, tzinfo=UTC)
    late = SalesSignals(won=True, won_at=NOV + timedelta(days=30))
    _, (step,) = _moves([], profile=dict(profile_fields_of(late)), state=sql)
    assert step.at == NOV


def test_a_requalification_is_dated_by_the_event_that_crossed_since_the_recycle() -> None:
    recycled = datetime(2026, 10, 1, tzinfo=UTC)
    state = LifecycleState(stage=Stage.NURTURING, since=recycled, recycled_at=recycled)
    old = [_visit(SEPT + timedelta(hours=n), n) for n in range(30)]
    new = [_visit(recycled + timedelta(days=1 + n), 100 + n) for n in range(22)]
    _, (step,) = _moves([*old, *new], state=state)
    assert step.to_stage is Stage.MQL
    assert step.at == recycled + timedelta(days=21)  # the 21st visit since: 21 > 20
    assert "22 points earned since recycled on 2026-10-01" in step.reason  # all, by now


def test_a_disqualification_is_dated_by_the_profile_it_read() -> None:
    from connector.scoring.rules import FitRule, ScoringRules

    students_out = ScoringRules(
        RULES.behaviour,
        fit=(FitRule("student", "job_title", "contains", 0, disqualify=True, contains="student"),),
    )
    seen = datetime(2026, 9, 15, tzinfo=UTC)
    outcome = decide(
        Scorer(students_out, as_of=NOV),
        [],
        {"job_title": "PhD student"},
        LifecycleState(),
        email="s@uni.example",
        at=NOV,
        profile_at=seen,
    )
    (step,) = outcome.lifecycle.transitions
    assert (step.to_stage, step.at, step.recorded_at) == (Stage.DISQUALIFIED, seen, NOV)


def test_explain_says_both_times_when_they_differ() -> None:
    from connector.cli.explanation import transition_in_words

    step = Transition(SEPT, Stage.LEAD, Stage.MQL, "score 21 is above 20 (hot)", NOV)
    assert transition_in_words(step) == (
        "became MQL on 2026-09-01 09:00 UTC because score 21 is above 20 (hot) "
        "(recorded 2026-11-20 08:00 UTC)"
    )
    same = Transition(NOV, Stage.LEAD, Stage.MQL, "score 21 is above 20 (hot)", NOV)
    assert "recorded" not in transition_in_words(same)
