"""The before and after of a simulation, contact by contact, added up.

``Comparison`` is what a worker process hands back for its range of contacts (picklable,
merged with ``merge``); ``as_dict`` gives the report's figures.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from connector.model import Stage, Temperature
from connector.simulation.replay import Side

__all__ = ["Comparison", "Move", "weeks_ending"]

WEEKS = 12


class Move(NamedTuple):
    """A contact whose score, temperature or stage the candidate rules change. (A
    NamedTuple: a worker process hands back tens of thousands, and a tuple pickles in a
    fraction of a dataclass's time.)"""

    contact_id: int
    email: str | None
    score_before: float
    score_after: float
    temperature_before: str
    temperature_after: str
    stage_before: str
    stage_after: str

    @property
    def size(self) -> tuple[bool, float, int]:
        """The order moves are shown in: stage changes first, then the largest score
        change; the contact id makes it total."""
        return (
            self.stage_before != self.stage_after,
            abs(self.score_after - self.score_before),
            -self.contact_id,
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "email": self.email,
            "contact_id": self.contact_id,
            "score_before": self.score_before,
            "score_after": self.score_after,
            "temperature_before": self.temperature_before,
            "temperature_after": self.temperature_after,
            "stage_before": self.stage_before,
            "stage_after": self.stage_after,
        }


def weeks_ending(moment: datetime, count: int = WEEKS) -> list[date]:
    """The Mondays of the ``count`` ISO weeks up to the one holding ``moment``."""
    day = moment.date()
    monday = day - timedelta(days=day.weekday())
    return [monday - timedelta(weeks=back) for back in range(count - 1, -1, -1)]


@dataclass(slots=True)
class Comparison:
    first_week: date
    contacts: int = 0
    changed_score: int = 0
    changed_temperature: int = 0
    changed_stage: int = 0
    changed_any: int = 0
    temperature_before: Counter[str] = field(default_factory=Counter)
    temperature_after: Counter[str] = field(default_factory=Counter)
    stage_before: Counter[str] = field(default_factory=Counter)
    stage_after: Counter[str] = field(default_factory=Counter)
    # Moves into MQL by the Monday of their week (the last WEEKS weeks only).
    mql_before: Counter[date] = field(default_factory=Counter)
    mql_after: Counter[date] = field(default_factory=Counter)
    moves: list[Move] = field(default_factory=list)

    def add(self, contact_id: int, email: str | None, was: Side, now: Side) -> Move | None:
        """Count one contact; its move, if the rules change anything of it."""
        self.contacts += 1
        self.temperature_before[was.temperature] += 1
        self.temperature_after[now.temperature] += 1
        self.stage_before[was.stage] += 1
        self.stage_after[now.stage] += 1
        self._count_weeks(self.mql_before, was.mql_dates)
        self._count_weeks(self.mql_after, now.mql_dates)
        score = was.score != now.score
        temperature = was.temperature != now.temperature
        stage = was.stage != now.stage
        self.changed_score += score
        self.changed_temperature += temperature
        self.changed_stage += stage
        if not (score or temperature or stage):
            return None
        self.changed_any += 1
        move = _move(contact_id, email, was, now)
        self.moves.append(move)
        return move

    def _count_weeks(self, weeks: Counter[date], moments: tuple[datetime, ...]) -> None:
        for moment in moments:
            day = moment.date()
            monday = day - timedelta(days=day.weekday())
            if monday >= self.first_week:
                weeks[monday] += 1

    def merge(self, other: Comparison) -> None:
        self.contacts += other.contacts
        self.changed_score += other.changed_score
        self.changed_temperature += other.changed_temperature
        self.changed_stage += other.changed_stage
        self.changed_any += other.changed_any
        for mine, theirs in (
            (self.temperature_before, other.temperature_before),
            (self.temperature_after, other.temperature_after),
            (self.stage_before, other.stage_before),
            (self.stage_after, other.stage_after),
        ):
            mine.update(theirs)
        self.mql_before.update(other.mql_before)
        self.mql_after.update(other.mql_after)
        # Each side's moves are in order already (``put_in_order``, in its worker).
        self.moves = list(heapq.merge(self.moves, other.moves, key=_move_order, reverse=True))

    def __getstate__(self) -> dict[str, object]:
        # A worker hands back tens of thousands of moves: as eight columns, they pickle
        # and unpickle several times faster than as as many tuples.
        state = {name: getattr(self, name) for name in _FIELDS if name != "moves"}
        state["moves"] = [list(column) for column in zip(*self.moves, strict=True)]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        columns: list[list[Any]] = state.pop("moves")
        for name, value in state.items():
            object.__setattr__(self, name, value)
        self.moves = [Move(*row) for row in zip(*columns, strict=True)]

    def put_in_order(self) -> Comparison:
        """Sort the moves, biggest first (in the worker that found them)."""
        self.moves.sort(key=_move_order, reverse=True)
        return self

    def ordered_moves(self) -> list[Move]:
        """The moves, biggest first, once ``put_in_order`` (and merges) made them so."""
        return self.moves

    def as_dict(self, weeks: list[date]) -> dict[str, object]:
        temperatures = [temperature.value for temperature in Temperature]
        stages = [stage.value for stage in Stage]

        def side(by_temperature: Counter[str], by_stage: Counter[str]) -> dict[str, object]:
            return {
                "temperature": {name: by_temperature[name] for name in temperatures},
                "stage": {name: by_stage[name] for name in stages},
            }

        return {
            "contacts": self.contacts,
            "changed": {
                "score": self.changed_score,
                "temperature": self.changed_temperature,
                "stage": self.changed_stage,
                "any": self.changed_any,
            },
            "before": side(self.temperature_before, self.stage_before),
            "after": side(self.temperature_after, self.stage_after),
            "mql_per_week": [
                {
                    "week": f"{monday.isocalendar().year}-W{monday.isocalendar().week:02d}",
                    "start": monday.isoformat(),
                    "before": self.mql_before[monday],
                    "after": self.mql_after[monday],
                }
                for monday in weeks
            ],
        }


_FIELDS = tuple(Comparison.__dataclass_fields__)


def _move_order(move: Move) -> tuple[bool, float, int]:
    return move.size


def _move(contact_id: int, email: str | None, was: Side, now: Side) -> Move:
    return Move(
        contact_id,
        email,
        was.score,
        now.score,
        was.temperature,
        now.temperature,
        was.stage,
        now.stage,
    )
