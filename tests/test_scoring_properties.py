"""Properties of scoring that must hold for any events: the lines add up, order is moot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.config import DEFAULT_STRONG_CLICK_PATTERNS
from connector.model import EventKind
from connector.scoring import ScoringEvent, ScoringRules, default_behaviour_rules, score_contact

RULES = ScoringRules(default_behaviour_rules(DEFAULT_STRONG_CLICK_PATTERNS))
START = datetime(2026, 1, 1, tzinfo=UTC)

events = st.builds(
    ScoringEvent,
    kind=st.sampled_from([kind.value for kind in EventKind]),
    occurred_at=st.integers(0, 10_000).map(lambda minutes: START + timedelta(minutes=minutes)),
    source=st.sampled_from(["newsletter", "website", "tradeshow"]),
    url=st.one_of(
        st.none(),
        st.sampled_from(
            ["https://a.example/pricing", "https://a.example/blog", "https://a.example/devis"]
        ),
    ),
    attributes=st.one_of(st.just({}), st.just({"strong": True}), st.just({"campaign": "q4"})),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=40), st.randoms(use_true_random=False))
def test_score_is_the_sum_of_its_lines_whatever_the_event_order(batch, random) -> None:
    result = score_contact(batch, RULES)
    assert result.score == sum(line.points for line in result.lines)
    assert result.behaviour_score + result.fit_score == result.score

    shuffled = list(batch)
    random.shuffle(shuffled)
    assert score_contact(shuffled, RULES) == result
