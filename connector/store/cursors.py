"""Read a source's cursor. It is written by the ledger, in the transaction of its page.

Besides the regular cursor of each source (named as the source), the cursors table holds
each backfill's checkpoint under a name of its own (``backfill_checkpoint_name``), so a
backfill never moves the cursor the regular pulls resume from, and how far a
``push --all`` got (``rewrite_checkpoint_name``), written with each chunk's outcome.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.store._raw import dialect_insert
from connector.store.schema import cursors

__all__ = [
    "backfill_checkpoint_name",
    "forget_cursor",
    "read_cursor",
    "rewrite_checkpoint_name",
    "write_cursor",
]

_NAME_CHARS = 100  # cursors.source
_DIGEST_CHARS = 12


def read_cursor(engine: Engine, source: str) -> str | None:
    with engine.connect() as connection:
        value = connection.execute(
            sa.select(cursors.c.value).where(cursors.c.source == source)
        ).scalar()
    return None if value is None else str(value)


def write_cursor(connection: sa.Connection, name: str, value: str) -> None:
    """Set cursor ``name`` to ``value``, in the caller's transaction."""
    statement = dialect_insert(connection.dialect, cursors)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[cursors.c.source],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        ),
        {"source": name, "value": value, "updated_at": datetime.now(UTC)},
    )


def forget_cursor(engine: Engine, name: str) -> None:
    with engine.begin() as connection:
        connection.execute(sa.delete(cursors).where(cursors.c.source == name))


def rewrite_checkpoint_name(crm: str) -> str:
    """The cursor holding the last contact a ``push --all`` to ``crm`` wrote, while it is
    not finished."""
    return f"push-all:{crm}"[:_NAME_CHARS]


def _compact(moment: datetime | None) -> str:
    if moment is None:
        return "open"
    utc = moment.astimezone(UTC)
    shown = f"{utc:%Y%m%dT%H%M%S}"
    return (shown + f".{utc:%f}" if utc.microsecond else shown) + "Z"


def backfill_checkpoint_name(source: str, since: datetime, until: datetime | None) -> str:
    """The cursor name of the backfill of ``source`` over ``[since, until)``: one per
    source and range, so two ranges never share a checkpoint; prefixed, as CRM reads'
    are (``crm:NAME``), so it is not the source's regular cursor.

    A name past the column's width keeps its start and ends with a digest of the whole.
    """
    name = f"backfill:{source}:{_compact(since)}-{_compact(until)}"
    if len(name) <= _NAME_CHARS:
        return name
    digest = hashlib.blake2b(name.encode(), digest_size=_DIGEST_CHARS // 2).hexdigest()
    return f"{name[: _NAME_CHARS - _DIGEST_CHARS - 1]}~{digest}"
