"""Read the records set aside (the ledger writes them, with their page)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.store.schema import rejects

__all__ = ["ReasonCount", "StoredReject", "count_rejects", "list_rejects", "rejects_by_reason"]


@dataclass(frozen=True, slots=True)
class StoredReject:
    source: str
    location: str
    line: int | None
    reason: str
    raw: str
    created_at: datetime

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def list_rejects(
    connection: sa.Connection, *, source: str | None = None, limit: int = 100
) -> list[StoredReject]:
    query = sa.select(
        rejects.c.source,
        rejects.c.location,
        rejects.c.line,
        rejects.c.reason,
        rejects.c.raw,
        rejects.c.created_at,
    ).order_by(rejects.c.id.desc())
    return [
        StoredReject(*row) for row in connection.execute(_of_source(query, source).limit(limit))
    ]


def _of_source(query: sa.Select[Any], source: str | None) -> sa.Select[Any]:
    return query if source is None else query.where(rejects.c.source == source)


def count_rejects(connection: sa.Connection, *, source: str | None = None) -> int:
    query = _of_source(sa.select(sa.func.count()).select_from(rejects), source)
    return int(connection.execute(query).scalar() or 0)


@dataclass(frozen=True, slots=True)
class ReasonCount:
    reason: str  # the quoted values of the record as '…': one line per kind of problem
    count: int
    example: str  # one reason as stored, values and all

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


# Reasons quote the record's own values (``invalid e-mail 'x'``); counted by kind, the
# values are left out, or each bad e-mail would be a line of its own.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def rejects_by_reason(connection: sa.Connection, *, source: str | None = None) -> list[ReasonCount]:
    """How many records were set aside for each kind of reason, the most frequent first."""
    query = _of_source(
        sa.select(rejects.c.reason, sa.func.count()).group_by(rejects.c.reason), source
    )
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for reason, count in connection.execute(query):
        kind = _QUOTED.sub("'…'", reason)
        counts[kind] += int(count)
        examples.setdefault(kind, reason)
    return [
        ReasonCount(kind, count, examples[kind])
        for kind, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
