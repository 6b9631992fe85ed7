"""The stage machine: forward only, SQL from BANT or sales, customer, recycle and return."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.config import Settings, scoring_rules
from connector.model import (
    ContactOutcome,
    LifecycleState,
    ProfileValue,
    SalesSignals,
    SalesStatus,
    ScoringEvent,
    Stage,
    profile_fields_of,
)
from connector.scoring.decide import decide
from connector.scoring.lifecycle import LifecyclePolicy
from connector.scoring.rules import FitRule, ScoringRules
from connector.scoring.scorer import Scorer

RULES = scoring_rules(Settings())
T0 = datetime(2026, 9, 1, 9, tzinfo=UTC)
STUDENTS_OUT = ScoringRules(
    RULES.behaviour,
    fit=(FitRule("student", "job_title", "contains", 0, disqualify=True, contains="student"),),
)


def _at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def _visits(count: int, *, day: float) -> list[ScoringEvent]:
    return [
        ScoringEvent("site_visit", _at(day) + timedelta(minutes=n), None, None, "web", f"{day}-{n}")
        for n in range(count)
    ]


class Contact:
    """One contact going through scoring passes, as `leadsync score` would run them."""

    def __init__(self, rules: ScoringRules = RULES) -> None:
        self.rules = rules
        self.events: list[ScoringEvent] = []
        self.profile: dict[str, ProfileValue] = {}
        self.state = LifecycleState()
        self.history: list[str] = []

    def crm_says(self, **signals: object) -> None:
        self.profile.update(profile_fields_of(SalesSignals(**signals)))  # type: ignore[arg-type]

    def score(self, day: float, email: str = "lea@acme.example") -> ContactOutcome:
        moment = _at(day)
        outcome = decide(
            Scorer(self.rules, as_of=moment),
            self.events,
            self.profile,
            self.state,
            email=email,
            at=moment,
        )
        self.state = outcome.lifecycle._replace(transitions=())
        self.history += [
            f"{step.from_stage}->{step.to_stage}: {step.reason}"
            for step in outcome.lifecycle.transitions
        ]
        return outcome


def test_lead_becomes_mql_when_hot_then_sql_when_sales_confirm_bant_then_customer() -> None:
    contact = Contact()
    contact.events += _visits(21, day=0)
    assert contact.score(1).stage is Stage.MQL
    contact.crm_says(bant=frozenset({"budget", "authority", "need"}))
    assert contact.score(2).stage is Stage.MQL  # timing still missing
    contact.crm_says(bant=frozenset({"budget", "authority", "need", "timing"}))
    assert contact.score(3).stage is Stage.SQL
    contact.crm_says(won=True)
    assert contact.score(4).stage is Stage.CUSTOMER
    assert contact.history == [
        "lead->mql: score 21 is above 20 (hot)",
        "mql->sql: sales confirmed AUTHORITY, BUDGET, NEED, TIMING",
        "sql->customer: the CRM shows a won deal",
    ]


def test_which_bant_answers_make_an_sql_is_configurable() -> None:
    rules = ScoringRules(RULES.behaviour, lifecycle=LifecyclePolicy(frozenset({"need", "timing"})))
    contact = Contact(rules)
    contact.events += _visits(21, day=0)
    contact.score(1)
    contact.crm_says(bant=frozenset({"need", "timing"}))
    assert contact.score(2).stage is Stage.SQL


def test_sales_can_set_sql_or_customer_themselves() -> None:
    contact = Contact()
    contact.crm_says(stage=Stage.SQL)
    assert contact.score(1).stage is Stage.SQL  # a lead sales qualified directly
    contact.crm_says(stage=Stage.CUSTOMER)
    assert contact.score(2).stage is Stage.CUSTOMER
    assert contact.history[-1] == "sql->customer: sales set the stage to customer"


def test_stages_never_move_backward_when_the_score_falls() -> None:
    contact = Contact()
    contact.events += [ScoringEvent("quote_request", _at(0), None, None, "web", "q")]
    assert contact.score(1).stage is Stage.MQL
    contact.events += [
        ScoringEvent("unsubscribe", _at(2), None, None, "mail", "u"),
        ScoringEvent("spam_report", _at(2), None, None, "mail", "s"),
    ]
    outcome = contact.score(3)
    assert outcome.score.score == -10
    assert outcome.stage is Stage.MQL


def test_recycled_contact_requalifies_only_on_points_earned_since() -> None:
    contact = Contact()
    contact.events += _visits(30, day=0)
    contact.score(1)
    contact.crm_says(status=SalesStatus.NOT_NOW)
    recycled = contact.score(2)
    assert recycled.stage is Stage.NURTURING
    assert (recycled.route, recycled.treatment) == (None, None)  # nobody works it now

    # Its 30 old points keep it hot, but they were earned before the recycle.
    assert contact.score(3).score.score == 30
    assert contact.state.stage is Stage.NURTURING

    contact.events += _visits(20, day=10)
    assert contact.score(11).stage is Stage.NURTURING  # 20 new points: not above 20
    contact.events += _visits(1, day=12)
    assert contact.score(13).stage is Stage.MQL
    assert contact.history[-2:] == [
        "mql->nurturing: sales answered 'not_now'",
        "nurturing->mql: re-qualified: 21 points earned since recycled on 2026-09-03 (above 20)",
    ]


def test_recycled_contact_requalifies_on_a_new_hand_raiser() -> None:
    contact = Contact()
    contact.events += [ScoringEvent("quote_request", _at(0), None, None, "web", "q1")]
    contact.score(1)
    contact.crm_says(status=SalesStatus.REJECTED)
    assert contact.score(2).stage is Stage.NURTURING
    contact.events += [ScoringEvent("quote_request", _at(5), None, None, "web", "q2")]
    assert contact.score(6).stage is Stage.MQL
    assert "hand-raiser quote_request on 2026-09-06" in contact.history[-1]


def test_crm_signals_act_once_so_a_recycled_lead_does_not_bounce_back() -> None:
    contact = Contact()
    contact.events += _visits(21, day=0)
    contact.score(1)
    contact.crm_says(bant=frozenset({"budget", "authority", "need", "timing"}))
    assert contact.score(2).stage is Stage.SQL
    # Sales change their mind: the BANT answers stay in the CRM, the status says no.
    contact.crm_says(
        bant=frozenset({"budget", "authority", "need", "timing"}), status=SalesStatus.REJECTED
    )
    assert contact.score(3).stage is Stage.NURTURING
    assert contact.score(4).stage is Stage.NURTURING  # same answers, nothing new
    contact.events += _visits(25, day=5)
    assert contact.score(6).stage is Stage.MQL
    # Still "rejected" in the CRM: that answer was already acted on.
    assert contact.score(7).stage is Stage.MQL
    # A new answer acts again.
    contact.crm_says(status=SalesStatus.OPEN)
    contact.score(8)
    contact.crm_says(status=SalesStatus.NOT_NOW)
    assert contact.score(9).stage is Stage.NURTURING


def test_disqualify_rules_take_a_lead_out_and_release_it_when_they_stop_matching() -> None:
    rules = STUDENTS_OUT
    contact = Contact(rules)
    contact.events += _visits(25, day=0)
    contact.profile["job_title"] = "PhD student"
    outcome = contact.score(1)
    assert outcome.stage is Stage.DISQUALIFIED
    assert outcome.route is None
    contact.profile["job_title"] = "Engineer"
    assert contact.score(2).stage is Stage.MQL
    assert contact.history == [
        "lead->disqualified: fit rule student disqualifies",
        "disqualified->lead: no disqualify rule matches any more",
        "lead->mql: score 25 is above 20 (hot)",
    ]


def test_a_customer_stays_a_customer() -> None:
    contact = Contact()
    contact.crm_says(won=True)
    assert contact.score(1).stage is Stage.CUSTOMER
    contact.crm_says(won=False, status=SalesStatus.REJECTED)
    assert contact.score(2).stage is Stage.CUSTOMER


def test_a_nurtured_contact_disqualified_then_released_must_still_earn_new_points() -> None:
    rules = STUDENTS_OUT
    contact = Contact(rules)
    contact.events += _visits(30, day=0)
    contact.score(1)
    contact.crm_says(status=SalesStatus.NOT_NOW)
    assert contact.score(2).stage is Stage.NURTURING
    contact.profile["job_title"] = "student"
    assert contact.score(3).stage is Stage.DISQUALIFIED
    contact.profile["job_title"] = "engineer"
    assert contact.score(4).stage is Stage.NURTURING  # back where it was, not lead -> mql
    assert contact.score(5).stage is Stage.NURTURING  # its 30 old points still do not count
    contact.events += _visits(21, day=6)
    assert contact.score(7).stage is Stage.MQL


def test_sales_confirming_a_disqualified_contact_makes_it_an_sql() -> None:
    rules = STUDENTS_OUT
    contact = Contact(rules)
    contact.profile["job_title"] = "student"
    assert contact.score(1).stage is Stage.DISQUALIFIED
    contact.crm_says(stage=Stage.SQL)
    outcome = contact.score(2)
    assert outcome.stage is Stage.SQL
    assert contact.history[-1] == "disqualified->sql: sales set the stage to sql"
