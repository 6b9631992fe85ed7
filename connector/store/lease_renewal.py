"""Keep a held lease renewed from a background thread; say at once when it is lost.

A renewal runs every ``lease_s / 3``. One that finds the lease taken reports it lost at
once. One that fails (the store briefly unreachable) is retried at the next interval for
as long as the lease is surely still ours, then reported lost: past that moment a standby
may have taken it, so the holder must stop what the lease guards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from connector.errors import StoreError
from connector.store.leases import DaemonLease

__all__ = ["LeaseRenewer"]

log = structlog.get_logger(__name__)

# How long stop() waits for the thread when no renewal is in flight.
_STOP_WAIT_S = 5.0


class LeaseRenewer:
    """Renews ``lease`` every ``interval_s`` (default ``lease_s / 3``) until stopped;
    calls ``on_lost`` once, from its thread, if the lease is lost.

    ``on_lost`` should only signal (set an event, pause a scheduler): it runs on the
    renewer's thread, which ends after it. Start the renewer after ``try_acquire()``
    returned True; stop it before ``release()``. A renewer runs once: after a loss, take
    the lease again and start a new one.
    """

    def __init__(
        self,
        lease: DaemonLease,
        on_lost: Callable[[], None],
        *,
        interval_s: float | None = None,
    ) -> None:
        self.lease = lease
        self.on_lost = on_lost
        self.interval_s = lease.lease_s / 3 if interval_s is None else interval_s
        if not self.interval_s > 0:
            raise ValueError(f"interval_s must be positive, got {self.interval_s!r}")
        self.lost = threading.Event()
        self._stopping = threading.Event()
        # Set when a renewal in flight ends, and by stop(): the thread waits on it.
        self._woken = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-renewer-{lease.name}", daemon=True
        )

    def start(self) -> LeaseRenewer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing (the lease stays held until released or expired)."""
        self._stopping.set()
        self._woken.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=_STOP_WAIT_S)

    def __enter__(self) -> LeaseRenewer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            outcome = self._renew_once()
            if self._stopping.is_set():
                return
            if outcome is True:
                continue
            if outcome is False:
                self._report_lost("another holder took it")
                return
            if self.lease.held_for_s() <= 0:
                self._report_lost(f"the store did not answer for {self.lease.lease_s:g} s")
                return

    def _renew_once(self) -> bool | None:
        """One renewal, waited for no longer than the lease is surely ours (a connection
        to a host that stopped answering can hang far longer than a lease).

        Returns:
            True: renewed; False: taken; None: failed or still in flight (lease may be ours).
        """
        outcome: list[bool | None] = [None]

        def renew() -> None:
            try:
                outcome[0] = self.lease.renew()
            except StoreError as failure:
                log.warning(
                    "lease.renew_failed",
                    lease=self.lease.name,
                    error=failure.message,
                    held_for_s=round(self.lease.held_for_s(), 3),
                )
            finally:
                self._woken.set()

        self._woken.clear()
        # A thread per renewal: one that hangs is abandoned (it ends with its connection)
        # and must not keep the process from exiting, so it is a daemon thread.
        threading.Thread(target=renew, name=f"lease-renew-{self.lease.name}", daemon=True).start()
        # A renewal that starts late (this thread starved) still gets one interval.
        self._woken.wait(max(self.lease.held_for_s(), self.interval_s))
        return outcome[0]

    def _report_lost(self, reason: str) -> None:
        log.error("lease.lost", lease=self.lease.name, holder=self.lease.holder, reason=reason)
        self.lost.set()
        try:
            self.on_lost()
        except Exception as failure:
            # The renewer's thread is ending anyway; the holder learns of the loss from
            # ``lost`` even when its callback is broken.
            log.exception("lease.on_lost_failed", lease=self.lease.name, error=repr(failure))
