"""Plain DBAPI statements for the ingest hot path, in the engine's dialect.

SQLAlchemy Core processes each row's parameters in Python; on the ledger's bulk writes
that costs more than the database work itself, so those few statements go to the driver's
``executemany`` with tuples. Everything else uses Core.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = ["RawSql"]


class RawSql:
    def __init__(self, dialect: Dialect) -> None:
        self.is_sqlite = dialect.name == "sqlite"
        self.placeholder = "?" if dialect.paramstyle == "qmark" else "%s"

    def insert(
        self, table: str, columns: Sequence[str], *, ignore_conflict_on: Sequence[str] = ()
    ) -> str:
        values = ", ".join([self.placeholder] * len(columns))
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"
        if ignore_conflict_on:
            statement += f" ON CONFLICT ({', '.join(ignore_conflict_on)}) DO NOTHING"
        return statement

    def time(self, moment: datetime) -> object:
        """A timezone-aware datetime as the driver should receive it."""
        if self.is_sqlite:
            # The text SQLAlchemy's SQLite DateTime writes and reads back (naive UTC);
            # slicing the offset off is cheaper than replace(tzinfo=None).
            return moment.isoformat(" ", "microseconds")[:26]
        return moment

    def lock_for_writing(self, connection: sa.Connection) -> None:
        """Serialise ledger writers for the rest of the transaction.

        Two guarantees rest on it: ids read with max() on SQLite stay free until commit,
        and event ids become visible in increasing order on both backends, so scoring can
        find new events by id alone. On PostgreSQL the lock blocks other writers of
        ``events`` only; readers go on.
        """
        if self.is_sqlite:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE")

    def allocate_ids(self, connection: sa.Connection, table: str, count: int) -> list[int]:
        """``count`` fresh primary keys for ``table``, before inserting the rows."""
        if count == 0:
            return []
        if self.is_sqlite:
            highest = connection.exec_driver_sql(f"SELECT max(id) FROM {table}").scalar() or 0
            return list(range(int(highest) + 1, int(highest) + 1 + count))
        rows = connection.exec_driver_sql(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
            f"FROM generate_series(1, {int(count)})"
        )
        return [int(row[0]) for row in rows]
