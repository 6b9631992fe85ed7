"""The explain lines a change of rules changes for one contact: each line's points under
the current and under the candidate rules, where they differ."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from connector.model import ScoreLine

__all__ = ["changed_lines"]

_Key = tuple[str, str, datetime | None, str | None, str | None]


def _key(line: ScoreLine) -> _Key:
    return (line.rule, line.kind, line.occurred_at, line.source, line.url)


def _points_by_key(lines: Sequence[ScoreLine]) -> dict[_Key, float]:
    points: dict[_Key, float] = {}
    for line in lines:
        points[_key(line)] = round(points.get(_key(line), 0.0) + line.points, 2)
    return points


def changed_lines(
    before: Sequence[ScoreLine], after: Sequence[ScoreLine]
) -> list[dict[str, object]]:
    """Lines whose points differ (None: the line is not there on that side), in event
    order with fit lines first."""
    was, now = _points_by_key(before), _points_by_key(after)
    changed = [key for key in {**was, **now} if was.get(key) != now.get(key)]
    changed.sort(key=lambda key: (key[2] is not None, key[2] or datetime.min, key[0], key[1]))
    return [
        {
            "rule": rule,
            "kind": kind,
            "occurred_at": None if occurred_at is None else occurred_at.isoformat(),
            "before": was.get((rule, kind, occurred_at, source, url)),
            "after": now.get((rule, kind, occurred_at, source, url)),
        }
        for rule, kind, occurred_at, source, url in changed
    ]
