"""One scoring pass at a time per store, one push at a time per CRM, one migration at a time.

Two passes reading the same previous stages would both record the same transitions; two
pushes to one CRM would both plan from the same "last written" and send the same records
(both creating the contacts the CRM lacks: one of each pair answered 409). SQLite: a lock
on a file beside the database (``filelock``: flock on POSIX, the Windows lock elsewhere;
released by the OS if the process dies). PostgreSQL: a session advisory lock keyed by the
schema, released when the connection closes, so a killed pass never leaves it held.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from filelock import FileLock, Timeout
from sqlalchemy.engine import Engine

from connector.errors import BusyError, StoreError

__all__ = ["LOCK_POLL_S", "MIGRATION_WAIT_S", "exclusive_pass", "migration_lock", "push_lock"]

# How long a first use waits for another process migrating the same store.
MIGRATION_WAIT_S = 120.0
# How often a command waiting for a lock tries it again.
LOCK_POLL_S = 0.25

_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def _busy(what: str) -> BusyError:
    return BusyError(
        f"another {what} is running on this store",
        what=what,
        hint="wait for it to finish (a pass that was killed releases its lock at once)",
    )


def _push_busy(crm: str) -> BusyError:
    what = f"push to {crm}"
    return BusyError(
        f"another {what} is running on this store",
        what=what,
        hint="retry when it has finished, or wait for it with `leadsync push --wait`",
    )


@contextmanager
def exclusive_pass(engine: Engine, what: str) -> Iterator[None]:
    """Hold the store's lock for ``what`` (e.g. "scoring pass"); raise if it is taken.

    Raises:
        BusyError: another process holds it.
    """
    with _held(engine, what, what.replace(" ", "-"), lambda: _busy(what), wait=False):
        yield


@contextmanager
def push_lock(
    engine: Engine, crm: str, *, wait: bool = False, on_wait: Callable[[], None] | None = None
) -> Iterator[None]:
    """Hold the store's lock for pushes to ``crm`` (the mapping's CRM name, which keys what
    the store remembers of it); pushes to other CRMs take locks of their own.

    With ``wait``, a lock taken is waited for (``on_wait`` is called once, when the wait
    starts); without it a lock taken raises at once.

    Raises:
        BusyError: another push to ``crm`` holds it, and ``wait`` is false.
    """
    file_part = crm if _PLAIN_NAME.match(crm) else hashlib.sha256(crm.encode()).hexdigest()[:16]
    with _held(engine, f"push:{crm}", f"push-{file_part}", lambda: _push_busy(crm), wait, on_wait):
        yield


@contextmanager
def _held(
    engine: Engine,
    key: str,
    file_part: str,
    busy: Callable[[], BusyError],
    wait: bool,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[None]:
    """The lock named ``key`` (PostgreSQL) or the file ``<database>.<file_part>.lock``."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            lock_id = sa.func.hashtext(sa.func.current_schema() + f"leadsync:{key}")
            waiting = False
            # Tried again and again rather than waited for in pg_advisory_lock: a command
            # waiting in Python stops at once on Ctrl-C or SIGTERM, and its connection
            # sits in no transaction meanwhile.
            while not connection.execute(sa.select(sa.func.pg_try_advisory_lock(lock_id))).scalar():
                connection.commit()
                if not wait:
                    raise busy()
                if not waiting and on_wait is not None:
                    on_wait()
                waiting = True
                time.sleep(LOCK_POLL_S)
            connection.commit()
            try:
                yield
            finally:
                connection.execute(sa.select(sa.func.pg_advisory_unlock(lock_id)))
                connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # one process, one connection: nothing else can run beside it
        return
    lock = FileLock(Path(f"{database}.{file_part}.lock"), mode=0o600)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not wait:
            raise busy() from None
        if on_wait is not None:
            on_wait()
        lock.acquire(timeout=-1, poll_interval=LOCK_POLL_S)
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
