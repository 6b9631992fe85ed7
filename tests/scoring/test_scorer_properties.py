"""Properties that must hold for any events and any rules: the lines add up to the score,
the order events arrive in changes nothing, and a pass's fast tally agrees with explain."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.config import Settings, scoring_rules
from connector.model import EventKind, ProfileValue, ScoringEvent
from connector.scoring.lifecycle import Bands
from connector.scoring.rules import (
    AttributeCondition,
    BehaviourRule,
    FitRule,
    Normalisation,
    ScoringRules,
)
from connector.scoring.scorer import Scorer

START = datetime(2026, 1, 1, tzinfo=UTC)
AS_OF = START + timedelta(days=120)
DEFAULTS = scoring_rules(Settings())
# Rules with every time feature, on top of the defaults, so caps, windows and decay
# meet each other and the plain rules.
TIMED = ScoringRules(
    (
        BehaviourRule("capped_visit", EventKind.SITE_VISIT, 2, max_times=3, url=("*pricing*",)),
        BehaviourRule("recent_click", EventKind.EMAIL_CLICK, 4, window_days=30, max_points=10),
        BehaviourRule(
            "fading_download",
            EventKind.DOCUMENT_DOWNLOAD,
            6,
            half_life_days=20,
            attributes=(AttributeCondition("campaign", ("q4",)),),
        ),
        BehaviourRule("bounce_penalty", EventKind.BOUNCE, -3, max_points=5),
        *DEFAULTS.behaviour,
    ),
    fit=(
        FitRule("manager", "job_title", "contains", 4.5, contains="manager"),
        FitRule("small", "company_size", "range", -2, high=10),
    ),
)

events = st.builds(
    ScoringEvent,
    kind=st.sampled_from([kind.value for kind in EventKind]),
    occurred_at=st.integers(0, 150 * 24 * 60).map(
        lambda minutes: START + timedelta(minutes=minutes)
    ),
    url=st.one_of(
        st.none(),
        st.sampled_from(
            ["https://a.example/pricing", "https://a.example/blog", "https://a.example/devis"]
        ),
    ),
    attributes=st.one_of(
        st.none(),
        st.just({}),
        st.just({"strong": True}),
        st.just({"campaign": "q4"}),
        st.just('{"campaign":"q4"}'),  # as the store hands attributes over: JSON text
        st.just({"type": "hard"}),
    ),
    source=st.sampled_from(["newsletter", "website", "tradeshow"]),
    source_event_id=st.uuids().map(str),
)
profiles = st.fixed_dictionaries(
    {},
    optional={
        "job_title": st.sampled_from(["Sales Manager", "Student", "CEO"]),
        "company_size": st.integers(1, 500),
    },
)
rule_sets = st.sampled_from([DEFAULTS, TIMED])


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=40), profiles, rule_sets, st.randoms(use_true_random=False))
def test_score_is_the_sum_of_its_lines_whatever_the_event_order(
    batch: list[ScoringEvent],
    profile: dict[str, ProfileValue],
    rules: ScoringRules,
    random: object,
) -> None:
    scorer = Scorer(rules, as_of=AS_OF)
    result = scorer.score(batch, profile, email="x@acme.example")
    assert result.score == round(math.fsum(line.points for line in result.lines), 2)
    assert result.behaviour_score == round(
        math.fsum(line.points for line in result.lines if line.kind != "fit"), 2
    )
    assert result.fit_score == round(
        math.fsum(line.points for line in result.lines if line.kind == "fit"), 2
    )

    shuffled = list(batch)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    assert Scorer(rules, as_of=AS_OF).score(shuffled, profile, email="x@acme.example") == result


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=40), profiles, rule_sets)
def test_a_pass_tally_agrees_with_the_explained_lines(
    batch: list[ScoringEvent], profile: dict[str, ProfileValue], rules: ScoringRules
) -> None:
    scorer = Scorer(rules, as_of=AS_OF)
    detailed = scorer.score(batch, profile, detailed=True)
    fast = scorer.score(batch, profile, detailed=False)
    assert fast.lines == ()
    assert fast._replace(lines=()) == detailed._replace(lines=())


def _as_sqlite_row(event: ScoringEvent) -> ScoringEvent:
    # SQLite hands times back as naive UTC text; the scorer parses them only where needed.
    text = event.occurred_at.isoformat(" ", "microseconds")[:26]  # type: ignore[union-attr]
    return event._replace(occurred_at=text)


@settings(max_examples=200, deadline=None)
@given(st.lists(events, max_size=30), profiles, rule_sets, st.booleans(), st.booleans())
def test_times_as_sqlite_text_score_like_datetimes(
    batch: list[ScoringEvent],
    profile: dict[str, ProfileValue],
    rules: ScoringRules,
    lines: bool,
    strict: bool,
) -> None:
    # strict: a fixed --as-of, before some of the events (they must be left out both ways)
    scorer = Scorer(rules, as_of=AS_OF, strict=strict)
    as_text = [_as_sqlite_row(event) for event in batch]
    assert scorer.score(as_text, profile, detailed=lines) == scorer.score(
        batch, profile, detailed=lines
    )


@settings(max_examples=300, deadline=None)
@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.one_of(st.none(), st.floats(0.5, 1000)),
)
def test_the_normalised_score_never_decreases_and_stays_within_0_and_100(
    low: float, high: float, half_at: float | None
) -> None:
    low, high = sorted((low, high))
    normalise = Normalisation(enabled=True, half_at=half_at)
    bands = Bands()
    below, above = normalise.of(low, bands), normalise.of(high, bands)
    assert below is not None and above is not None
    assert 0 <= below <= above <= 100
