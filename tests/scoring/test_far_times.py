"""Scoring is safe for any stored time: windows and decay never overflow the calendar."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from connector.model import ScoringEvent
from connector.scoring.rules import ScoringRules
from connector.scoring.scorer import Scorer
from connector.scoring.settings import BehaviourRuleSettings

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def _rules(**timing: float) -> ScoringRules:
    rule = BehaviourRuleSettings(name="visits", kind="site_visit", points=1, **timing)
    return ScoringRules(behaviour=(rule.to_rule(),))


@pytest.mark.parametrize("timing", [{"window_days": 30}, {"half_life_days": 14}])
@pytest.mark.parametrize(
    "stored_at",
    # Times the ledger may hold from before they were bounded at validation.
    ["9999-12-31 23:59:59.999999", "0001-01-01 00:00:00", "2026-12-01 10:00:00"],
)
def test_a_stored_event_at_any_time_scores_without_overflow(
    timing: dict[str, float], stored_at: str
) -> None:
    event = ScoringEvent("site_visit", stored_at, None, None, "fair", "e1")
    scored = Scorer(_rules(**timing), as_of=NOW).score([event], {}, email=None, detailed=True)
    assert scored.score == sum(line.points for line in scored.lines)
    if "window_days" in timing and stored_at.startswith("9999"):
        assert scored.rescore_after is None  # its window never ends within the calendar


@pytest.mark.parametrize("key", ["window_days", "half_life_days"])
def test_a_window_or_half_life_over_a_century_is_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="36500"):
        BehaviourRuleSettings(name="visits", kind="site_visit", points=1, **{key: 40_000})
