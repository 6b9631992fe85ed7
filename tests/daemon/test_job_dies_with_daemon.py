"""A job's process ends when its daemon is killed: its parent is the fork server, so
nothing else would stop it, and it would go on writing beside the standby that takes the
lease over (seen: a sync pass finishing 1.4 s after the standby's had started)."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import time

from connector.daemon.child import _die_with_the_daemon


def _job_of(daemon_pid: int) -> None:
    _die_with_the_daemon(daemon_pid)
    time.sleep(60)  # a long chunk


def test_a_job_is_killed_within_a_second_of_its_daemon():
    daemon = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    job = multiprocessing.get_context("spawn").Process(target=_job_of, args=(daemon.pid,))
    job.start()
    try:
        time.sleep(1.0)  # the job has started its watch
        assert job.is_alive()
        daemon.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        job.join(timeout=10)
        took = time.monotonic() - killed_at
        assert job.exitcode == -signal.SIGKILL  # it died as the daemon did
        assert took < 2.0, f"the job lived {took:.1f} s after its daemon"
    finally:
        daemon.kill()
        daemon.wait()
        if job.is_alive():
            job.kill()


def test_a_job_whose_daemon_lives_goes_on():
    daemon = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    job = multiprocessing.get_context("spawn").Process(target=_job_of, args=(daemon.pid,))
    job.start()
    try:
        job.join(timeout=1.5)
        assert job.is_alive()
    finally:
        job.kill()
        job.join()
        daemon.kill()
        daemon.wait()
