"""One scoring pass at a time per store, and one migration at a time.

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

__all__ = ["MIGRATION_WAIT_S", "exclusive_pass", "migration_lock"]

# How long a first use waits for another process migrating the same store.
MIGRATION_WAIT_S = 120.0


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


@contextmanager
def migration_lock(engine: Engine) -> Iterator[sa.Connection]:
    """A transaction on ``engine`` that no other process migrating the store runs beside:
    two commands using a new store at once both find it migrated, one by the other.

    PostgreSQL: a transaction-level advisory lock (waited for, released at commit or when
    the connection dies). SQLite: a lock on a file beside the database, waited for.
    """
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(
                sa.select(
                    sa.func.pg_advisory_xact_lock(
                        sa.func.hashtext(sa.func.current_schema() + "leadsync:migration")
                    )
                )
            )
            yield connection
        return
    database = engine.url.database
    if not database or database == ":memory:":
        with engine.begin() as connection:
            yield connection
        return
    lock = FileLock(Path(f"{database}.migration.lock"), mode=0o600)
    try:
        lock.acquire(timeout=MIGRATION_WAIT_S)
    except Timeout:
        raise StoreError(
            f"another command has been migrating this store for over {MIGRATION_WAIT_S:g} s",
            hint="wait for it to finish, or stop it and run `leadsync db upgrade`",
        ) from None
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        lock.release()
