"""One scoring pass at a time per store.

Two passes reading the same previous stages would both record the same transitions.
SQLite: a lock on a file beside the database (``filelock``: flock on POSIX, the Windows
lock elsewhere; released by the OS if the process dies). PostgreSQL: a session advisory
lock keyed by the schema, released when the connection closes, so a killed pass never
leaves it held.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from filelock import FileLock, Timeout
from sqlalchemy.engine import Engine

from connector.errors import StoreError

__all__ = ["exclusive_pass"]


def _busy(what: str) -> StoreError:
    return StoreError(
        f"another {what} is running on this store",
        hint="wait for it to finish (a pass that was killed releases its lock at once)",
    )


@contextmanager
def exclusive_pass(engine: Engine, what: str) -> Iterator[None]:
    """Hold the store's lock for ``what`` (e.g. "scoring pass"); raise if it is taken."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            key = f"leadsync:{what}"
            taken = connection.execute(
                sa.select(
                    sa.func.pg_try_advisory_lock(sa.func.hashtext(sa.func.current_schema() + key))
                )
            ).scalar()
            connection.commit()
            if not taken:
                raise _busy(what)
            try:
                yield
            finally:
                connection.execute(
                    sa.select(
                        sa.func.pg_advisory_unlock(sa.func.hashtext(sa.func.current_schema() + key))
                    )
                )
                connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # one process, one connection: nothing else can run a pass
        return
    lock = FileLock(Path(f"{database}.{what.replace(' ', '-')}.lock"), mode=0o600)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise _busy(what) from None
    try:
        yield
    finally:
        lock.release()
