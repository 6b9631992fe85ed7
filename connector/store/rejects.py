"""Read the records set aside (the ledger writes them, with their page)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import sqlalchemy as sa

from connector.store.schema import rejects

__all__ = ["StoredReject", "list_rejects"]


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
    if source is not None:
        query = query.where(rejects.c.source == source)
    return [StoredReject(*row) for row in connection.execute(query.limit(limit))]
