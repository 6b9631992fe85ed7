"""The report's view of the scores now: contacts by stage and temperature, and how the
scores are spread, counted by the database.

Both figures count leads, the people the store knows: an anonymous visitor (known by
browser keys alone, or emptied by a join) has a score row too, but it is not a lead, so
it is left out, as ``leadsync kpi`` leaves it out of its leads.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias

import sqlalchemy as sa

from connector.ingest.identity import ANONYMOUS_SUFFIX, EMAIL_NAMESPACE
from connector.model import Stage, Temperature
from connector.store.schema import contacts, identities, scores

__all__ = ["ScoreSnapshot", "score_snapshot"]

# The report's snapshot shape: {"as_of", "warm_from", "hot_above", "stage_temperature":
# {stage: {temperature: n}}, "histogram": {"width", "bins": [{"from", "to", "count"}]}}.
ScoreSnapshot: TypeAlias = dict[str, object]

# Empty bins between the lowest and the highest score are filled in so a chart shows the
# gaps; past this many bins (a score far from the rest) only the bins that hold a score
# are listed, which keeps the snapshot small whatever the scores.
MAX_FILLED_BINS = 400


def score_snapshot(
    connection: sa.Connection,
    *,
    warm_from: float,
    hot_above: float,
    width: float = 5,
    as_of: datetime,
) -> ScoreSnapshot:
    """Count the scored leads by stage and temperature and by score bin of ``width``.

    Bin ``[from, to)`` holds the scores ``from <= score < to``, with ``from`` a multiple of
    ``width``; a negative score lands in a bin of its own below zero (-0.5 in [-5, 0)).
    Every stage and temperature is listed, those with no contact at 0.

    Raises:
        ValueError: ``width`` is not above 0.
    """
    if not width > 0:
        raise ValueError(f"the histogram's bin width must be above 0, not {width}")
    return {
        "as_of": as_of.isoformat(),
        "warm_from": warm_from,
        "hot_above": hot_above,
        "stage_temperature": _stage_temperature(connection),
        "histogram": {"width": width, "bins": _bins(connection, width)},
    }


def _is_lead() -> sa.ColumnElement[bool]:
    """The scored contact is a person: it has an e-mail, or a key that is no visitor's."""
    person_key = (
        sa.select(identities.c.id)
        .where(
            identities.c.contact_id == scores.c.contact_id,
            sa.or_(
                identities.c.namespace == EMAIL_NAMESPACE,
                sa.not_(identities.c.namespace.endswith(ANONYMOUS_SUFFIX, autoescape=True)),
            ),
        )
        .exists()
    )
    return sa.or_(contacts.c.email.is_not(None), person_key)


def _scored_leads() -> sa.FromClause:
    return scores.join(contacts, contacts.c.id == scores.c.contact_id)


def _stage_temperature(connection: sa.Connection) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {
        stage.value: {temperature.value: 0 for temperature in Temperature} for stage in Stage
    }
    rows = connection.execute(
        sa.select(scores.c.stage, scores.c.temperature, sa.func.count())
        .select_from(_scored_leads())
        .where(_is_lead())
        .group_by(scores.c.stage, scores.c.temperature)
    )
    for stage, temperature, count in rows:
        # A value no enum knows (a store written by a later version) is shown, not dropped.
        by_temperature = counts.setdefault(
            str(stage), {temperature.value: 0 for temperature in Temperature}
        )
        by_temperature[str(temperature)] = int(count)
    return counts


def _bin_index(connection: sa.Connection, width: float) -> sa.ColumnElement[int]:
    # The width is written into the statement, not bound: PostgreSQL would see the
    # grouped expression and the selected one as two different parameters otherwise.
    quotient = scores.c.score / sa.literal_column(repr(float(width)), sa.Float())
    if connection.dialect.name == "postgresql":
        return sa.func.floor(quotient)
    # SQLite has floor() only when built with its math functions. CAST truncates toward
    # zero, so a negative quotient with a fraction is one lower than its CAST.
    truncated = sa.cast(quotient, sa.Integer())
    return truncated - sa.case((quotient < truncated, 1), else_=0)


def _bins(connection: sa.Connection, width: float) -> list[dict[str, float | int]]:
    index = _bin_index(connection, width).label("bin")
    counted = {
        int(bin_index): int(count)
        for bin_index, count in connection.execute(
            sa.select(index, sa.func.count())
            .select_from(_scored_leads())
            .where(_is_lead())
            .group_by(index)
        )
    }
    if not counted:
        return []
    low, high = min(counted), max(counted)
    indexes = range(low, high + 1) if high - low < MAX_FILLED_BINS else sorted(counted)
    return [
        {"from": _edge(i, width), "to": _edge(i + 1, width), "count": counted.get(i, 0)}
        for i in indexes
    ]


def _edge(index: int, width: float) -> float | int:
    edge = index * width
    return int(edge) if float(edge).is_integer() else edge
