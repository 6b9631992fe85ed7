"""A named lease in the store: at most one live holder, which keeps it by renewing it.

The daemon holds the lease named "daemon": a second daemon on the same store finds it
held and waits as a standby; once the holder stops renewing (a clean exit releases it, a
SIGKILL or a vanished host just stops renewing), the lease expires ``lease_s`` later and
the standby takes it. A row rather than an advisory lock: a host that vanishes without
closing its TCP connection would keep a PostgreSQL session lock for as long as TCP
keepalive takes (hours); a row expires after ``lease_s`` whatever happens.

Every decision is one statement that compares the row with the clock, so two processes
racing for a free lease cannot both win. The clock is the database's on PostgreSQL
(``clock_timestamp()``), so hosts with skewed clocks agree on when a lease expires; on
SQLite, whose writers share one host, it is this process's clock.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import StoreError
from connector.secrets import redact
from connector.store.schema import UtcDateTime, leases

__all__ = ["DaemonLease", "LeaseHolder", "current_lease_holder"]

log = structlog.get_logger(__name__)

# The width of leases.name.
_NAME_LENGTH = 64


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """Who holds a lease and until when (UTC, timezone-aware)."""

    holder: str
    host: str
    pid: int
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime


def _now_and_expiry(
    engine: Engine, lease_s: float
) -> tuple[sa.ColumnElement[datetime], sa.ColumnElement[datetime]]:
    """The time a lease statement compares with, and that time plus ``lease_s``: the
    database's clock on PostgreSQL, this process's on SQLite."""
    if engine.dialect.name == "postgresql":
        # clock_timestamp(), not now(): now() is when the transaction began.
        clock = sa.func.clock_timestamp(type_=UtcDateTime())
        expiry = clock + sa.literal(timedelta(seconds=lease_s), sa.Interval())
        return clock, sa.type_coerce(expiry, UtcDateTime())
    now = datetime.now(UTC)
    return (
        sa.literal(now, UtcDateTime()),
        sa.literal(now + timedelta(seconds=lease_s), UtcDateTime()),
    )


def _store_failure(what: str, failure: SQLAlchemyError) -> StoreError:
    detail = redact(str(getattr(failure, "orig", None) or failure)).strip().splitlines()
    return StoreError(
        f"cannot {what}: {detail[0][:300] if detail else type(failure).__name__}",
        hint="check that the store is running and reachable ([store] url)",
    )


class DaemonLease:
    """One process's claim on the lease ``name`` of the store behind ``engine``.

    The holder id is ``host:pid:random``, so two leases in one process (a test, a restart
    in place) are two holders.
    """

    def __init__(self, engine: Engine, *, name: str = "daemon", lease_s: float = 30.0) -> None:
        if not 0 < len(name) <= _NAME_LENGTH:
            raise ValueError(f"a lease name has 1 to {_NAME_LENGTH} characters, got {name!r}")
        if not lease_s > 0:
            raise ValueError(f"lease_s must be positive, got {lease_s!r}")
        self.engine = engine
        self.name = name
        self.lease_s = float(lease_s)
        self.host = socket.gethostname()[:255]
        self.pid = os.getpid()
        self.holder = f"{self.host}:{self.pid}:{secrets.token_hex(4)}"
        # By this process's monotonic clock: until when the lease is surely ours, counted
        # from before the statement that last took or renewed it (the store's expiry is
        # at least that late).
        self._held_until_monotonic: float | None = None

    def held_for_s(self) -> float:
        """How much longer the lease is surely ours without a renewal (0: maybe not)."""
        if self._held_until_monotonic is None:
            return 0.0
        return max(0.0, self._held_until_monotonic - time.monotonic())

    def try_acquire(self) -> bool:
        """Take the lease if it is free, expired or already ours; never waits for it.

        Returns:
            True: this process holds the lease now (for ``lease_s``).

        Raises:
            StoreError: the store cannot be reached.
        """
        started = time.monotonic()
        clock, expiry = _now_and_expiry(self.engine, self.lease_s)
        insert = (
            postgresql.insert(leases)
            if self.engine.dialect.name == "postgresql"
            else sqlite.insert(leases)
        )
        proposed = insert.values(
            name=self.name,
            holder=self.holder,
            host=self.host,
            pid=self.pid,
            acquired_at=clock,
            renewed_at=clock,
            expires_at=expiry,
        )
        upsert = proposed.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={
                "holder": proposed.excluded.holder,
                "host": proposed.excluded.host,
                "pid": proposed.excluded.pid,
                # Taking again what is ours is a renewal: it was acquired back then.
                "acquired_at": sa.case(
                    (leases.c.holder == proposed.excluded.holder, leases.c.acquired_at),
                    else_=proposed.excluded.acquired_at,
                ),
                "renewed_at": proposed.excluded.renewed_at,
                "expires_at": proposed.excluded.expires_at,
            },
            where=sa.or_(leases.c.expires_at < clock, leases.c.holder == self.holder),
        ).returning(leases.c.holder)
        try:
            with self.engine.begin() as connection:
                taken = connection.execute(upsert).scalar() == self.holder
        except SQLAlchemyError as failure:
            raise _store_failure(f"take the {self.name} lease", failure) from None
        was_held = self._held_until_monotonic is not None
        self._held_until_monotonic = started + self.lease_s if taken else None
        if taken and not was_held:
            log.info("lease.acquired", lease=self.name, holder=self.holder, lease_s=self.lease_s)
        return taken

    def renew(self) -> bool:
        """Extend the lease by ``lease_s`` from now, if it is still ours.

        A lease that expired but that nobody took is still ours: no one else ran meanwhile.

        Returns:
            False: another holder took it (or it was released): stop what the lease guards.

        Raises:
            StoreError: the store cannot be reached (the lease may still be ours).
        """
        started = time.monotonic()
        clock, expiry = _now_and_expiry(self.engine, self.lease_s)
        statement = (
            sa.update(leases)
            .where(leases.c.name == self.name, leases.c.holder == self.holder)
            .values(renewed_at=clock, expires_at=expiry)
        )
        try:
            with self.engine.begin() as connection:
                kept = connection.execute(statement).rowcount == 1
        except SQLAlchemyError as failure:
            raise _store_failure(f"renew the {self.name} lease", failure) from None
        if kept:
            self._held_until_monotonic = started + self.lease_s
        else:
            if self._held_until_monotonic is not None:
                log.warning("lease.taken", lease=self.name, holder=self.holder)
            self._held_until_monotonic = None
        return kept

    def release(self) -> None:
        """Give the lease up, if it is ours, so that a standby takes it at once.

        Raises:
            StoreError: the store cannot be reached (the lease then expires by itself).
        """
        statement = sa.delete(leases).where(
            leases.c.name == self.name, leases.c.holder == self.holder
        )
        try:
            with self.engine.begin() as connection:
                released = connection.execute(statement).rowcount == 1
        except SQLAlchemyError as failure:
            raise _store_failure(f"release the {self.name} lease", failure) from None
        finally:
            self._held_until_monotonic = None
        if released:
            log.info("lease.released", lease=self.name, holder=self.holder)


def current_lease_holder(engine: Engine, name: str = "daemon") -> LeaseHolder | None:
    """Who holds the lease ``name`` now; None when it is free (never taken, released or
    expired).

    Raises:
        StoreError: the store cannot be reached.
    """
    statement = sa.select(
        leases.c.holder,
        leases.c.host,
        leases.c.pid,
        leases.c.acquired_at,
        leases.c.renewed_at,
        leases.c.expires_at,
    ).where(leases.c.name == name, leases.c.expires_at >= _now_and_expiry(engine, 0.0)[0])
    try:
        with engine.connect() as connection:
            row = connection.execute(statement).first()
    except SQLAlchemyError as failure:
        raise _store_failure(f"read the {name} lease", failure) from None
    if row is None:
        return None
    return LeaseHolder(
        holder=row.holder,
        host=row.host,
        pid=int(row.pid),
        acquired_at=row.acquired_at,
        renewed_at=row.renewed_at,
        expires_at=row.expires_at,
    )
