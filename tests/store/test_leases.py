"""The daemon's lease on a real SQLite file and the real PostgreSQL: one holder at a time,
taken over within lease_s of the holder's death (even by SIGKILL), lost at once when taken,
and lost after lease_s when the store stops answering."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

import connector.store.engine
from connector.store.engine import create_store_engine, open_store, store_revision
from connector.store.lease_renewal import LeaseRenewer
from connector.store.leases import DaemonLease, current_lease_holder
from connector.store.schema import contacts, leases
from tests.cli.test_cli import clean_env, leadsync

LEASE_S = 1.0
# How late a takeover may come after the lease expired: the poll interval, a statement,
# and a loaded 2-core machine.
TAKEOVER_MARGIN_S = 0.75
POLL_S = 0.05

_HOLD_THE_LEASE = """
import sys, time
import structlog
structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
from connector.store.engine import create_store_engine
from connector.store.lease_renewal import LeaseRenewer
from connector.store.leases import DaemonLease
lease = DaemonLease(create_store_engine(sys.argv[1]), lease_s=float(sys.argv[2]))
if not lease.try_acquire():
    sys.exit("the lease was taken")
LeaseRenewer(lease, on_lost=lambda: sys.exit("lost")).start()
print(lease.holder, flush=True)
time.sleep(120)
"""


# A holder on a host whose clock is off by argv[3] seconds: every datetime.now() of the
# process, ours and the libraries', reads the skewed time.
_HOLD_THE_LEASE_ON_A_SKEWED_HOST = (
    """
import datetime, sys
skew = datetime.timedelta(seconds=float(sys.argv[3]))

class SkewedDatetime(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return super().now(tz) + skew

datetime.datetime = SkewedDatetime
"""
    + _HOLD_THE_LEASE
)


def _poll(condition: Callable[[], bool], *, within_s: float) -> float | None:
    """Try ``condition`` every POLL_S until it holds; the monotonic time it first held,
    or None if it did not within ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(POLL_S)
    return None


def _read_line(process: subprocess.Popen[str], *, within_s: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=within_s):
            pytest.fail(f"the lease holder printed nothing within {within_s:g} s")
    return process.stdout.readline().strip()


@contextmanager
def _store_stops_answering(engine: Engine) -> Iterator[None]:
    """Another session holds a lock on the leases table, so every write to it waits (as
    a store whose host stopped answering does) until the block ends."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql("LOCK TABLE leases IN EXCLUSIVE MODE")
            yield
            connection.rollback()
        return
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA busy_timeout=0")
        connection.exec_driver_sql("BEGIN EXCLUSIVE")
        yield
        connection.exec_driver_sql("ROLLBACK")


@contextmanager
def _leases_table_missing(engine: Engine) -> Iterator[None]:
    """Every lease statement fails with the store's error until the block ends."""
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE leases RENAME TO leases_away")
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE leases_away RENAME TO leases")


def _renewed_at(engine: Engine) -> datetime:
    held = current_lease_holder(engine)
    assert held is not None
    return held.renewed_at


class TestTakingTheLease:
    def test_a_second_holder_is_refused_while_the_first_renews(self, engine: Engine) -> None:
        """While the first holder renews, past several lease_s, nobody else takes it."""
        first = DaemonLease(engine, lease_s=LEASE_S)
        second = DaemonLease(engine, lease_s=LEASE_S)
        assert first.try_acquire() is True
        outcomes: list[tuple[bool, bool]] = []
        ends = time.monotonic() + 2 * LEASE_S
        while time.monotonic() < ends:
            outcomes.append((second.try_acquire(), first.renew()))
            time.sleep(LEASE_S / 5)
        assert set(outcomes) == {(False, True)}
        assert len(outcomes) >= 6
        held = current_lease_holder(engine)
        assert held is not None
        assert held.holder == first.holder
        # Taking again what it holds is a renewal for the first, not a new acquisition.
        assert first.try_acquire() is True
        again = current_lease_holder(engine)
        assert again is not None
        assert again.acquired_at == held.acquired_at
        assert again.renewed_at > held.renewed_at

    def test_once_the_holder_stops_renewing_the_next_takes_it_after_lease_s_not_before(
        self, engine: Engine
    ) -> None:
        """A lease nobody renews is free lease_s after its last renewal."""
        first = DaemonLease(engine, lease_s=LEASE_S)
        second = DaemonLease(engine, lease_s=LEASE_S)
        started = time.monotonic()
        assert first.try_acquire() is True
        taken_at = _poll(second.try_acquire, within_s=LEASE_S + 3)
        assert taken_at is not None, "the second never took the expired lease"
        assert LEASE_S <= taken_at - started <= LEASE_S + TAKEOVER_MARGIN_S
        held = current_lease_holder(engine)
        assert held is not None
        assert held.holder == second.holder

    def test_a_holder_killed_by_sigkill_is_replaced_within_lease_s(
        self, engine: Engine, store_url: str
    ) -> None:
        """A holder that cannot release (SIGKILL) loses its lease to the standby within
        lease_s of its death."""
        lease_s = 1.5
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLD_THE_LEASE, store_url, str(lease_s)],
            stdout=subprocess.PIPE,
            text=True,
        )
        standby = DaemonLease(engine, lease_s=lease_s)
        try:
            holder_id = _read_line(holder, within_s=60)
            held = current_lease_holder(engine)
            assert held is not None
            assert (held.holder, held.pid) == (holder_id, holder.pid)
            # Its renewer keeps it past its first lease_s.
            assert _poll(standby.try_acquire, within_s=1.2 * lease_s) is None
            os.kill(holder.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            assert holder.wait(timeout=10) == -signal.SIGKILL
            taken_at = _poll(standby.try_acquire, within_s=lease_s + 5)
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait(timeout=10)
        assert taken_at is not None, "the standby never took the dead holder's lease"
        assert taken_at - killed_at <= lease_s + TAKEOVER_MARGIN_S

    def test_release_lets_the_next_take_it_at_once(self, engine: Engine) -> None:
        """A clean exit hands over at once, not after lease_s."""
        first = DaemonLease(engine, lease_s=30.0)
        second = DaemonLease(engine, lease_s=30.0)
        assert first.try_acquire() is True
        assert second.try_acquire() is False
        first.release()
        assert current_lease_holder(engine) is None
        assert second.try_acquire() is True
        assert first.renew() is False
        first.release()  # not its lease any more: the second keeps it
        held = current_lease_holder(engine)
        assert held is not None
        assert held.holder == second.holder

    def test_renew_after_being_taken_over_returns_false(self, engine: Engine) -> None:
        """The holder learns from renew() that it lost the lease, and cannot take it back
        while the new holder keeps it."""
        first = DaemonLease(engine, lease_s=LEASE_S)
        second = DaemonLease(engine, lease_s=LEASE_S)
        assert first.try_acquire() is True
        assert _poll(second.try_acquire, within_s=LEASE_S + 3) is not None
        with capture_logs() as logs:
            assert first.renew() is False
        assert logs == [
            {
                "event": "lease.taken",
                "lease": "daemon",
                "holder": first.holder,
                "log_level": "warning",
            }
        ]
        assert first.held_for_s() == 0.0
        assert first.try_acquire() is False

    def test_an_expired_lease_nobody_took_is_still_the_holders(self, engine: Engine) -> None:
        """A holder late to renew keeps the lease if nobody took it meanwhile."""
        first = DaemonLease(engine, lease_s=0.5)
        assert first.try_acquire() is True
        assert _poll(lambda: current_lease_holder(engine) is None, within_s=3) is not None
        assert first.renew() is True
        held = current_lease_holder(engine)
        assert held is not None
        assert held.holder == first.holder

    @pytest.mark.parametrize("skew_s", [-3600.0, 3600.0], ids=["behind", "ahead"])
    def test_on_postgresql_hosts_with_skewed_clocks_agree_on_the_expiry(
        self, postgres_url: str, skew_s: float
    ) -> None:
        """The holder's clock is an hour off: its lease still lasts lease_s by the
        database's clock, neither expired at once nor held for an hour."""
        lease_s = 1.5
        engine = open_store(postgres_url)
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _HOLD_THE_LEASE_ON_A_SKEWED_HOST,
                postgres_url,
                str(lease_s),
                str(skew_s),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        standby = DaemonLease(engine, lease_s=lease_s)
        try:
            holder_id = _read_line(holder, within_s=60)
            held = current_lease_holder(engine)
            assert held is not None
            assert held.holder == holder_id
            assert abs((held.expires_at - datetime.now(UTC)).total_seconds()) <= lease_s + 1
            assert _poll(standby.try_acquire, within_s=1.2 * lease_s) is None
            os.kill(holder.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            holder.wait(timeout=10)
            taken_at = _poll(standby.try_acquire, within_s=lease_s + 5)
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait(timeout=10)
            engine.dispose()
        assert taken_at is not None, "the standby never took the dead holder's lease"
        assert taken_at - killed_at <= lease_s + TAKEOVER_MARGIN_S


class TestCurrentLeaseHolder:
    def test_it_reports_the_holder_and_none_when_free(self, engine: Engine) -> None:
        """The holder's host, pid and times, as `leadsync status` shows them."""
        assert current_lease_holder(engine) is None
        lease = DaemonLease(engine, lease_s=30.0)
        assert lease.try_acquire() is True
        held = current_lease_holder(engine)
        assert held is not None
        host, pid, _random = lease.holder.split(":")
        assert (held.holder, held.host, held.pid) == (lease.holder, host, os.getpid())
        assert int(pid) == os.getpid()
        assert held.acquired_at == held.renewed_at
        assert (held.expires_at - held.renewed_at).total_seconds() == pytest.approx(30.0, abs=0.01)
        assert held.expires_at.utcoffset() is not None
        assert current_lease_holder(engine, "another") is None
        lease.release()
        assert current_lease_holder(engine) is None

    def test_an_expired_lease_is_reported_free(self, engine: Engine) -> None:
        lease = DaemonLease(engine, lease_s=0.3)
        assert lease.try_acquire() is True
        assert current_lease_holder(engine) is not None
        assert _poll(lambda: current_lease_holder(engine) is None, within_s=3) is not None


class TestLeaseRenewer:
    def test_it_keeps_the_lease_until_stopped(self, engine: Engine) -> None:
        """Renewed every lease_s / 3, the lease stays held; once stopped, it expires."""
        lease = DaemonLease(engine, lease_s=LEASE_S)
        standby = DaemonLease(engine, lease_s=LEASE_S)
        lost: list[float] = []
        assert lease.try_acquire() is True
        with LeaseRenewer(lease, on_lost=lambda: lost.append(time.monotonic())) as renewer:
            assert renewer.interval_s == LEASE_S / 3
            assert _poll(standby.try_acquire, within_s=2 * LEASE_S) is None
        stopped_at = time.monotonic()
        assert lost == []
        taken_at = _poll(standby.try_acquire, within_s=LEASE_S + 3)
        assert taken_at is not None
        assert taken_at - stopped_at <= LEASE_S + TAKEOVER_MARGIN_S

    def test_it_calls_on_lost_once_when_the_lease_was_taken(self, engine: Engine) -> None:
        """A renewal that finds another holder reports the loss at once."""
        lease = DaemonLease(engine, lease_s=0.5)
        other = DaemonLease(engine, lease_s=30.0)
        lost: list[float] = []
        assert lease.try_acquire() is True
        # Renewing less often than the lease lasts lets the other take it in between.
        renewer = LeaseRenewer(lease, on_lost=lambda: lost.append(time.monotonic()), interval_s=2)
        with capture_logs() as logs, renewer:
            taken_at = _poll(other.try_acquire, within_s=3)
            assert taken_at is not None
            assert renewer.lost.wait(timeout=5)
        assert len(lost) == 1
        assert lost[0] - taken_at <= 2 + TAKEOVER_MARGIN_S
        assert [entry for entry in logs if entry["event"] == "lease.lost"] == [
            {
                "event": "lease.lost",
                "lease": "daemon",
                "holder": lease.holder,
                "reason": "another holder took it",
                "log_level": "error",
            }
        ]

    def test_failed_renewals_are_retried_while_the_lease_lasts(self, engine: Engine) -> None:
        """A store answering errors for less than lease_s costs nothing."""
        lease = DaemonLease(engine, lease_s=2.0)
        standby = DaemonLease(engine, lease_s=2.0)
        lost: list[float] = []
        assert lease.try_acquire() is True
        with capture_logs() as logs, LeaseRenewer(lease, on_lost=lambda: lost.append(1.0)):
            with _leases_table_missing(engine):
                failed = _poll(
                    lambda: any(entry["event"] == "lease.renew_failed" for entry in logs),
                    within_s=3,
                )
                assert failed is not None
            back = current_lease_holder(engine)
            assert back is not None
            assert back.holder == lease.holder
            renewed = _poll(
                lambda: _renewed_at(engine) > back.renewed_at,
                within_s=3,
            )
            assert renewed is not None, "no renewal once the store answered again"
            assert standby.try_acquire() is False
        assert lost == []
        failures = [entry for entry in logs if entry["event"] == "lease.renew_failed"]
        assert failures
        assert failures[0]["error"].startswith("cannot renew the daemon lease: ")
        assert "leases" in failures[0]["error"]

    def test_a_store_that_stops_answering_is_reported_lost_after_lease_s(
        self, engine: Engine
    ) -> None:
        """A renewal that hangs is given up when the lease would expire, no sooner."""
        lease_s = 1.5
        lease = DaemonLease(engine, lease_s=lease_s)
        lost: list[float] = []
        assert lease.try_acquire() is True
        renewer = LeaseRenewer(lease, on_lost=lambda: lost.append(time.monotonic()))
        with capture_logs() as logs, renewer, _store_stops_answering(engine):
            blocked_at = time.monotonic()
            assert renewer.lost.wait(timeout=lease_s + 5)
        assert len(lost) == 1
        silent_s = lost[0] - blocked_at
        assert lease_s - renewer.interval_s - 0.25 <= silent_s <= lease_s + TAKEOVER_MARGIN_S
        assert [entry for entry in logs if entry["event"] == "lease.lost"] == [
            {
                "event": "lease.lost",
                "lease": "daemon",
                "holder": lease.holder,
                "reason": "the store did not answer for 1.5 s",
                "log_level": "error",
            }
        ]


class TestLeasesMigration:
    def test_a_store_at_0004_is_upgraded_and_keeps_its_data(
        self, store_url: str, tmp_path: Path
    ) -> None:
        """An existing store gains the leases table; `leadsync db` reports each step."""
        engine = create_store_engine(store_url)
        config = Config()
        config.set_main_option(
            "script_location", str(Path(connector.store.engine.__file__).with_name("migrations"))
        )
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0004")
            connection.execute(
                contacts.insert().values(
                    email="kept@example.com", change_seq=0, created_at=sa.func.current_timestamp()
                )
            )
        assert not sa.inspect(engine).has_table("leases")
        env = clean_env(LEADSYNC_STORE_URL=store_url)

        before = leadsync("db", "current", cwd=tmp_path, env=env)
        assert before.returncode == 0, before.stderr
        assert "store at 0004; this leadsync knows up to 0007" in before.stdout
        upgraded = leadsync("db", "upgrade", cwd=tmp_path, env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        assert "migrated from 0004 to 0007" in upgraded.stdout
        after = leadsync("db", "current", cwd=tmp_path, env=env)
        assert "store at 0007; this leadsync knows up to 0007" in after.stdout

        assert store_revision(engine) == ("0007", "0007")
        with engine.connect() as connection:
            kept = connection.execute(sa.select(contacts.c.email)).scalars().all()
        assert kept == ["kept@example.com"]
        assert DaemonLease(engine).try_acquire() is True
        engine.dispose()

    def test_the_migration_goes_down_and_up_again(self, engine: Engine) -> None:
        config = Config()
        config.set_main_option(
            "script_location", str(Path(connector.store.engine.__file__).with_name("migrations"))
        )
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0004")
        assert not sa.inspect(engine).has_table("leases")
        open_store(engine.url.render_as_string(hide_password=False)).dispose()
        assert sa.inspect(engine).has_table(leases.name)
