"""Read a source's cursor. It is written by the ledger, in the transaction of its page."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.store.schema import cursors

__all__ = ["read_cursor"]


def read_cursor(engine: Engine, source: str) -> str | None:
    with engine.connect() as connection:
        value = connection.execute(
            sa.select(cursors.c.value).where(cursors.c.source == source)
        ).scalar()
    return None if value is None else str(value)
