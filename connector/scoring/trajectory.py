"""A contact's score over time, from its score lines: when it first went above a
threshold, and the highest it reached before a moment.

Pure. The lines are a detailed score's (``Scorer.score(..., detailed=True)``); their
points are those they earn as of the scoring moment (a decayed or windowed event counts
what it counts now), added in event order. Fit lines (no time) count from the start.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from connector.model import ScoreLine

__all__ = ["first_above", "first_reaching", "peak_score", "running_scores"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _moment(line: ScoreLine) -> tuple[bool, datetime]:
    return line.occurred_at is not None, line.occurred_at or _EPOCH


def _in_time_order(lines: Sequence[ScoreLine]) -> list[ScoreLine]:
    return sorted(lines, key=_moment)


def running_scores(
    lines: Sequence[ScoreLine], *, after: datetime | None = None
) -> Iterator[tuple[ScoreLine, float]]:
    """Each line with the score once it is added, in event order; with ``after``, only
    the points of events after that moment (fit lines left out)."""
    # A running sum, not an fsum of all so far (quadratic in a contact's events): points
    # carry two decimals, so rounding each step keeps the sum exact enough to compare.
    total = 0.0
    for line in _in_time_order(lines):
        if after is not None and (line.occurred_at is None or line.occurred_at <= after):
            continue
        total = round(total + line.points, 2)
        yield line, total


def first_above(
    lines: Sequence[ScoreLine], threshold: float, *, after: datetime | None = None
) -> ScoreLine | None:
    """The event line with which the score first went above ``threshold`` (a fit line
    if the profile alone did), or None if it never did."""
    for line, total in running_scores(lines, after=after):
        if total > threshold:
            return line
    return None


def first_reaching(lines: Sequence[ScoreLine], threshold: float) -> ScoreLine | None:
    """As ``first_above``, for a score of ``threshold`` or more (the warm band's rule)."""
    for line, total in running_scores(lines):
        if total >= threshold:
            return line
    return None


def peak_score(lines: Sequence[ScoreLine], *, before: datetime | None = None) -> float | None:
    """The highest score reached by events before ``before`` (None: all); None when no
    line counts (no event and no fit rule)."""
    highest: float | None = None
    for line, total in running_scores(lines):
        if before is not None and line.occurred_at is not None and line.occurred_at >= before:
            break
        highest = total if highest is None else max(highest, total)
    return highest
