"""Reliability benchmark: hostile runs of the installed ``leadsync`` CLI on SQLite and PostgreSQL.

Prints measured figures, each beside what the README promises and ``ok`` or ``MISMATCH``;
it decides nothing else (the exit status is 0 whatever it measured). Three runs:

- kill: ``leadsync ingest FILE`` of N events SIGKILLed five times (when the stored count
  passes 10, 25, 45, 65 and 85 % of N), restarted each time, then run to the end. Per kill:
  seconds into the run, events stored, processes of the killed command still alive 2 s
  later, store sessions or locks still held (PostgreSQL: ``pg_stat_activity`` and
  ``pg_locks``; SQLite: whether a write transaction can start at once), and how long the
  next run took to store its first new event (the CLI's start-up, printed once, included;
  ``ingest FILE`` re-reads the file from its start, the stored part as duplicates).
- signals: an ingest of N events stopped by SIGINT and by SIGTERM (sent to the command's
  pid, as ``kill`` does) 3 to 6 s in, or once half the file is stored if that comes first,
  with the file read by the child reader and in-process: exit code, seconds from signal
  to exit, last stderr line, processes left, the run's status, then a rerun.
- poison: a file of good events with one poison record in the middle: exit code, events
  stored, the reject's line and reason (``leadsync rejects --json``).

Each case gets a fresh store: a SQLite file in a temporary folder, or a fresh PostgreSQL
schema (``?options=-csearch_path=SCHEMA``, plus an ``application_name`` that tells the
command's sessions from the benchmark's own) dropped afterwards. leadsync runs with an
environment cleared of ``LEADSYNC_*``, ``HUBSPOT_*`` and ``SALESFORCE_*`` variables, its
store in ``LEADSYNC_STORE_URL``, and a minimal ``config.toml``.

    python bench/reliability.py [--events-kill 1000000] [--events-signal 2000000]
        [--lines-poison 100000] [--only kill,signals,poison] [--skip-postgres]
        [--postgres-url URL] [--max-minutes 40] [--page-size N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

LEADSYNC = Path(sys.executable).with_name("leadsync")
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KEPT_OUT = ("LEADSYNC_", "HUBSPOT_", "SALESFORCE_")
DEFAULT_PAGE_SIZE = 20_000  # [ingest] page_size
DEFAULT_SUBPROCESS_ABOVE = 8_388_608  # [ingest] subprocess_above_bytes
KILL_AT = (0.10, 0.25, 0.45, 0.65, 0.85)
SIGNAL_CASES = (
    (signal.SIGINT, "child", 3.0),
    (signal.SIGTERM, "child", 4.0),
    (signal.SIGINT, "in-process", 5.0),
    (signal.SIGTERM, "in-process", 6.0),
)
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
# A child still alive this long after its command ended is counted as left behind.
LEFT_BEHIND_AFTER_S = 2.0
SIGNAL_EXIT_WAIT_S = 60.0
# No single leadsync command here may take longer, whatever --max-minutes leaves.
RUN_TIMEOUT_S = 30 * 60.0
COMMAND_TIMEOUT_S = 10 * 60.0
FIRST_EVENT_AT = datetime(2026, 1, 1, tzinfo=UTC)
KINDS = ["site_visit"] * 40 + ["page_view"] * 20 + ["email_open"] * 20 + ["email_click"] * 20


class OutOfTime(Exception):
    """The run went past ``--max-minutes``: the summary prints what was measured."""


class Deadline:
    """The benchmark's overall time budget; every wait is capped by what is left of it."""

    def __init__(self, minutes: float) -> None:
        self.ends = time.monotonic() + minutes * 60

    def cap(self, seconds: float) -> float:
        """``seconds``, or what is left of the budget if less.

        Raises:
            OutOfTime: nothing is left.
        """
        left = self.ends - time.monotonic()
        if left <= 0:
            raise OutOfTime
        return min(seconds, left)

    def check(self) -> None:
        """Raises:
        OutOfTime: the budget is spent.
        """
        self.cap(1.0)


@dataclass(frozen=True, slots=True)
class Figure:
    section: str
    store: str
    case: str
    name: str
    value: str
    expected: str
    verdict: str  # "ok", "MISMATCH" or "" (measured, nothing promised)


@dataclass(slots=True)
class Report:
    figures: list[Figure] = field(default_factory=list)

    def add(
        self,
        section: str,
        store: str,
        case: str,
        name: str,
        value: object,
        expected: object = None,
        *,
        ok: bool | None = None,
    ) -> str:
        """Record one figure; ``ok`` defaults to ``value == expected`` when one is given.
        Returns the verdict."""
        if expected is not None and ok is None:
            ok = value == expected
        verdict = "" if ok is None else ("ok" if ok else "MISMATCH")
        self.figures.append(
            Figure(
                section,
                store,
                case,
                name,
                _show(value),
                "" if expected is None else _show(expected),
                verdict,
            )
        )
        return verdict


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def say(text: str) -> None:
    print(text, flush=True)


# --- events files -------------------------------------------------------------------------


def good_event(number: int, rng: random.Random, contacts: int) -> bytes:
    """One canonical event as a JSONL line (without its newline), like bench/ingest.py."""
    person = rng.randrange(contacts)
    return orjson.dumps(
        {
            "id": f"ev-{number:010d}",
            "kind": rng.choice(KINDS),
            "occurred_at": (FIRST_EVENT_AT + timedelta(seconds=number * 20))
            .isoformat()
            .replace("+00:00", "Z"),
            "email": f"contact{person}@company{person % 5000}.example",
            "url": "https://acme.example/pricing"
            if rng.random() < 0.1
            else "https://acme.example/blog/post",
            "attributes": {"campaign": "q4"},
        }
    )


def write_events(path: Path, first: int, last: int, contacts: int, seed: int = 1) -> None:
    """Write events ``first`` to ``last`` (line numbers, inclusive) in constant memory."""
    rng = random.Random(seed + first)
    with path.open("wb") as handle:
        for number in range(first, last + 1):
            handle.write(good_event(number, rng, contacts) + b"\n")


def timed_write(path: Path, events: int) -> None:
    started = time.perf_counter()
    write_events(path, 1, events, max(1, events // 10))
    say(
        f"  generated {path.name}: {events:,} events, {path.stat().st_size / 1e6:,.0f} MB "
        f"in {time.perf_counter() - started:.1f} s"
    )


def _poison_record(**fields: object) -> bytes:
    base: dict[str, object] = {
        "id": "poison",
        "kind": "site_visit",
        "occurred_at": "2026-11-02T10:00:00Z",
        "email": "poison@acme.example",
    }
    return orjson.dumps({**base, **fields})


# name -> (the JSONL line, a fragment its reject reason should hold). orjson writes a NUL
# as \u0000, as the brief's records carry it.
POISONS: dict[str, tuple[bytes, str]] = {
    "occurred_at 9999-12-31T23:59:59-01:00": (
        _poison_record(occurred_at="9999-12-31T23:59:59-01:00"),
        "outside the years",
    ),
    "occurred_at 0001-01-01T00:00:00+01:00": (
        _poison_record(occurred_at="0001-01-01T00:00:00+01:00"),
        "outside the years",
    ),
    # orjson writes at most 255 levels, so this line is written out by hand.
    "attributes nested 300 deep": (
        _poison_record()[:-1] + b',"attributes":' + b'{"a":' * 300 + b"1" + b"}" * 300 + b"}",
        "nest more than",
    ),
    "NUL in url": (_poison_record(url="https://acme.example/\x00"), "url holds a NUL"),
    "NUL in id": (_poison_record(id="poi\x00son"), "id holds a NUL"),
    "NUL in email": (_poison_record(email="poison\x00@acme.example"), "email holds a NUL"),
    "source of 101 characters": (_poison_record(source="s" * 101), "longer than 100"),
    "ids value of 255 characters": (_poison_record(ids={"crm": "k" * 255}), "longer than 254"),
    "site_visit at 9999-12-31T23:59:59Z": (
        _poison_record(occurred_at="9999-12-31T23:59:59Z"),
        "outside the years",
    ),
}
SCORE_AFTER = "site_visit at 9999-12-31T23:59:59Z"


# --- processes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessId:
    """A pid and its kernel start time, so a reused pid is not taken for the same process."""

    pid: int
    started: int
    name: str


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time) of ``pid`` from /proc, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces
    return fields[0], int(fields[19])


def _name(pid: int) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    return " ".join(Path(word.decode(errors="replace")).name for word in words[:3] if word)


def descendants(pid: int) -> list[ProcessId]:
    """Every process below ``pid`` now (children of every thread, recursively)."""
    found: list[ProcessId] = []
    queue = [pid]
    while queue and len(found) < 500:
        current = queue.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                stat = _stat(child)
                if stat is not None and all(known.pid != child for known in found):
                    found.append(ProcessId(child, stat[1], _name(child)))
                    queue.append(child)
    return found


def alive(process: ProcessId) -> bool:
    stat = _stat(process.pid)
    return stat is not None and stat[0] != "Z" and stat[1] == process.started


@dataclass(slots=True)
class Run:
    """One leadsync command started in the background, its output in files."""

    popen: subprocess.Popen[bytes]
    started: float
    stdout: Path
    stderr: Path

    def last_stderr_line(self) -> str:
        lines = self.stderr.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

    def summary(self) -> dict[str, object] | None:
        """The ``--json`` summary the command printed, or None."""
        try:
            value = orjson.loads(self.stdout.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        return value if isinstance(value, dict) else None


_STARTED: list[subprocess.Popen[bytes]] = []


def start(command: list[str], env: dict[str, str], cwd: Path, label: str) -> Run:
    """Start ``leadsync COMMAND`` in its own session (a Ctrl-C on this benchmark does not
    reach it; its whole group can be ended by id)."""
    stdout, stderr = cwd / f"{label}.stdout", cwd / f"{label}.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        popen = subprocess.Popen(
            [str(LEADSYNC), *command],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    _STARTED.append(popen)
    return Run(popen, time.monotonic(), stdout, stderr)


def end_group(popen: subprocess.Popen[bytes]) -> None:
    """SIGKILL what is left of the process group this benchmark started as ``popen``."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(timeout=10)


def end_left_behind(processes: list[ProcessId]) -> None:
    for process in processes:
        if alive(process):
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)


def run_command(
    command: list[str], env: dict[str, str], cwd: Path, deadline: Deadline
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LEADSYNC), *command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=deadline.cap(COMMAND_TIMEOUT_S),
        check=False,
    )


def wait_until(
    check: Callable[[], bool], timeout: float, interval: float, deadline: Deadline
) -> bool:
    """Poll ``check`` until it holds (True) or ``timeout`` passes (False).

    The pause between polls is at least four times what the last check took, so counting a
    large table does not take a core from the command being measured.

    Raises:
        OutOfTime: the benchmark's budget ran out first.
    """
    ends = time.monotonic() + deadline.cap(timeout)
    while True:
        polled = time.monotonic()
        if check():
            return True
        now = time.monotonic()
        if now >= ends:
            deadline.check()
            return False
        time.sleep(max(interval, 4 * (now - polled)))


def clean_env(store_url: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(KEPT_OUT)}
    env["LEADSYNC_STORE_URL"] = store_url
    return env


def write_config(folder: Path, **ingest: int) -> Path:
    """A minimal config.toml: only the [ingest] keys given (the store URL comes from the
    environment)."""
    lines = ["# written by bench/reliability.py"]
    if ingest:
        lines.append("[ingest]")
        lines += [f"{key} = {value}" for key, value in ingest.items()]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- stores -------------------------------------------------------------------------------


class Store:
    """One fresh store and a connection of this benchmark's own to look into it."""

    def __init__(
        self,
        kind: str,
        url: str,
        folder: Path,
        *,
        monitor_url: str,
        admin: Engine | None = None,
        schema: str | None = None,
        tag: str | None = None,
    ) -> None:
        self.kind, self.url, self.folder = kind, url, folder
        self.admin, self.schema, self.tag = admin, schema, tag
        self.sqlite_path = Path(make_url(url).database or "") if kind == "sqlite" else None
        self._monitor_url = monitor_url
        self._monitor: Engine | None = None

    def _scalar(self, sql: str) -> object:
        """The first value of ``sql``, or None before leadsync has created the tables."""
        if self.sqlite_path is not None and not self.sqlite_path.exists():
            return None  # connecting would create the file before leadsync tunes it
        if self._monitor is None:
            self._monitor = sa.create_engine(self._monitor_url)
        try:
            with self._monitor.connect() as connection:
                return connection.execute(sa.text(sql)).scalar()
        except sa.exc.DBAPIError:
            return None

    def count(self) -> int:
        return int(str(self._scalar("SELECT count(*) FROM events") or 0))

    def max_id(self) -> int:
        """The newest event's id: cheap to poll, and it grows exactly when a page commits
        new events (a conflicting insert may burn sequence values but adds no row)."""
        return int(str(self._scalar("SELECT max(id) FROM events") or 0))

    def last_run_status(self) -> str:
        return str(self._scalar("SELECT status FROM runs ORDER BY id DESC LIMIT 1"))

    def still_running_runs(self) -> int:
        return int(str(self._scalar("SELECT count(*) FROM runs WHERE status = 'running'") or 0))

    def rejects(self) -> int:
        return int(str(self._scalar("SELECT count(*) FROM rejects") or 0))

    def sessions(self) -> int | None:
        """PostgreSQL sessions the command under test has open now (None on SQLite)."""
        if self.admin is None:
            return None
        with self.admin.connect() as connection:
            return int(
                connection.execute(
                    sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :tag"),
                    {"tag": self.tag},
                ).scalar_one()
            )

    def held(self) -> str:
        """What the store still holds for a command that ended: "none", or the sessions and
        locks (PostgreSQL), or "write lock held" (SQLite)."""
        if self.sqlite_path is not None:
            if not self.sqlite_path.exists():
                return "none"
            lite = sqlite3.connect(self.sqlite_path, timeout=0, isolation_level=None)
            try:
                lite.execute("BEGIN IMMEDIATE")
                lite.execute("ROLLBACK")
            except sqlite3.OperationalError as exc:
                return f"write lock held ({exc})"
            finally:
                lite.close()
            return "none"
        assert self.admin is not None
        with self.admin.connect() as connection:
            sessions = connection.execute(
                sa.text(
                    "SELECT pid, state FROM pg_stat_activity "
                    "WHERE application_name = :tag AND pid <> pg_backend_pid()"
                ),
                {"tag": self.tag},
            ).all()
            # Any session's lock on a table of the schema, or any lock of a leadsync
            # session (the pass lock is an advisory lock on no table).
            locks = connection.execute(
                sa.text(
                    "SELECT l.pid, l.locktype, l.mode, coalesce(c.relname, '') "
                    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "LEFT JOIN pg_class c ON c.oid = l.relation "
                    "LEFT JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE l.pid <> pg_backend_pid() "
                    "AND (a.application_name = :tag OR n.nspname = :schema)"
                ),
                {"tag": self.tag, "schema": self.schema},
            ).all()
        if not sessions and not locks:
            return "none"
        described = ", ".join(f"{pid} {state}" for pid, state in sessions)
        lock_text = ", ".join(
            f"{pid} {kind} {mode} {rel}".strip() for pid, kind, mode, rel in locks
        )
        return f"{len(sessions)} session(s) [{described}], {len(locks)} lock(s) [{lock_text}]"

    def close(self) -> None:
        if self._monitor is not None:
            self._monitor.dispose()
        if self.admin is None:
            return
        with self.admin.begin() as connection:
            # Only sessions of commands this benchmark started carry its tag; one left
            # behind would otherwise block the DROP.
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name IN (:tag, :monitor)"
                ),
                {"tag": self.tag, "monitor": f"{self.tag}_m"},
            )
            connection.exec_driver_sql("SET LOCAL lock_timeout = '30s'")
            connection.exec_driver_sql(f"DROP SCHEMA {self.schema} CASCADE")


@dataclass(slots=True)
class Stores:
    """Makes fresh stores of one kind."""

    kind: str
    work: Path
    postgres_url: str
    made: int = 0

    @contextlib.contextmanager
    def fresh(self) -> Iterator[Store]:
        self.made += 1
        folder = self.work / f"{self.kind}-{self.made}"
        folder.mkdir()
        if self.kind == "sqlite":
            url = f"sqlite:///{folder / 'leadsync.db'}"
            store = Store("sqlite", url, folder, monitor_url=url)
        else:
            admin = sa.create_engine(self.postgres_url, poolclass=NullPool)
            schema = f"rel_{uuid.uuid4().hex[:10]}"
            tag = f"lsbench_{schema}"
            with admin.begin() as connection:
                connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
            base = make_url(self.postgres_url)

            def in_schema(application: str) -> str:
                query = {"options": f"-csearch_path={schema}", "application_name": application}
                return base.update_query_dict(query).render_as_string(hide_password=False)

            store = Store(
                "postgresql",
                in_schema(tag),
                folder,
                monitor_url=in_schema(f"{tag}_m"),
                admin=admin,
                schema=schema,
                tag=tag,
            )
        try:
            yield store
        finally:
            store.close()
            if store.admin is not None:
                store.admin.dispose()
            shutil.rmtree(folder, ignore_errors=True)


def postgres_reachable(url: str) -> str | None:
    """None if PostgreSQL answers at ``url``, else why not."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sa.exc.DBAPIError as exc:
        return str(exc.orig).strip().splitlines()[0]
    finally:
        engine.dispose()
    return None


# --- the three runs -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    events_kill: int
    events_signal: int
    lines_poison: int
    page_size: int | None  # None: leadsync's default


def page_size_for(events: int, asked: int) -> int | None:
    """The page size for a file of ``events``: ``asked`` if given, else leadsync's default
    when that leaves 20 pages or more, else events / 20 (so small development runs still
    have pages to kill between)."""
    if asked:
        return asked
    if events >= 20 * DEFAULT_PAGE_SIZE:
        return None
    return max(100, events // 20)


def reading_keys(reading: str, data: Path) -> dict[str, int]:
    """The [ingest] key that makes leadsync read ``data`` in a child ("child") or in its
    own process ("in-process"). A file under the default threshold (a small development
    run) is sent to the child explicitly, so it is read as the full-size file would be."""
    if reading == "in-process":
        return {"subprocess_above_bytes": 2**40}
    if data.stat().st_size >= DEFAULT_SUBPROCESS_ABOVE:
        return {}
    return {"subprocess_above_bytes": 0}


def _ingest_config(folder: Path, page_size: int | None, **more: int) -> Path:
    keys = dict(more)
    if page_size is not None:
        keys = {"page_size": page_size, **keys}
    return write_config(folder, **keys)


def first_new_event_s(run: Run, store: Store, before: int, deadline: Deadline) -> float | None:
    """Seconds from ``run``'s start until an event newer than id ``before`` is stored, or
    None if the run ended (or the wait timed out) without one."""
    stored = wait_until(
        lambda: store.max_id() > before or run.popen.poll() is not None,
        RUN_TIMEOUT_S,
        0.02,
        deadline,
    )
    if stored and store.max_id() > before:
        return time.monotonic() - run.started
    return None


def kill_run(
    report: Report, stores: Stores, data: Path, events: int, plan: Plan, deadline: Deadline
) -> None:
    section, label = "kill", stores.kind
    page = page_size_for(events, plan.page_size or 0)
    with stores.fresh() as store:
        keys = reading_keys("child", data)
        config = _ingest_config(store.folder, page, **keys)
        say(
            f"\n[kill / {label}] {events:,} events, page size {page or DEFAULT_PAGE_SIZE:,}, "
            f"read by the child reader{' (forced: small file)' if keys else ''}; SIGKILL when "
            f"the stored count passes {', '.join(f'{share:.0%}' for share in KILL_AT)}"
        )
        env = clean_env(store.url)
        command = ["--config", str(config), "ingest", str(data), "--json"]
        previous: str | None = None  # the kill the run being started follows

        def started_storing(run: Run, before_id: int) -> None:
            first_new = first_new_event_s(run, store, before_id, deadline)
            if previous is None:
                say(f"  first run (empty store): first new event after {_seconds(first_new)}")
                return
            say(f"  rerun after {previous}: first new event after {_seconds(first_new)}")
            report.add(section, label, previous, "rerun first new s", _seconds(first_new))

        for number, share in enumerate(KILL_AT, start=1):
            case = f"kill {number} at {share:.0%}"
            before_count = store.count()
            run = start(command, env, store.folder, f"kill-{number}")
            try:
                started_storing(run, store.max_id())
                target = int(events * share)
                wait_until(
                    lambda: store.count() >= target or run.popen.poll() is not None,  # noqa: B023
                    RUN_TIMEOUT_S,
                    0.1,
                    deadline,
                )
                if run.popen.poll() is not None:
                    say(
                        f"  {case}: the run ended (exit {run.popen.returncode}) before the "
                        f"kill; stored {store.count():,}; last stderr line: "
                        f"{run.last_stderr_line()!r}"
                    )
                    report.add(section, label, case, "killed mid-run", False, True)
                    previous = None
                    continue
                below = descendants(run.popen.pid)
                sessions = store.sessions()
                os.kill(run.popen.pid, signal.SIGKILL)
                killed_at = time.monotonic() - run.started
                run.popen.wait(timeout=deadline.cap(30))
                time.sleep(LEFT_BEHIND_AFTER_S)
                left = [process for process in below if alive(process)]
                held = store.held()
                stored = store.count()
            finally:
                if run.popen.poll() is None:
                    end_group(run.popen)
            end_left_behind(left)
            say(
                f"  {case}: killed {killed_at:.2f} s into the run, stored {stored:,} "
                f"(+{stored - before_count:,}); below it at the kill: "
                f"{[process.name for process in below] or 'none'}"
                + ("" if sessions is None else f", store sessions {sessions}")
                + f"; alive 2 s later: {[process.name for process in left] or 'none'}; "
                f"store still holds: {held}"
            )
            report.add(section, label, case, "kill at s", killed_at)
            report.add(section, label, case, "stored", stored)
            report.add(section, label, case, "children", len(below))
            report.add(section, label, case, "sessions", "n/a" if sessions is None else sessions)
            report.add(section, label, case, "alive +2 s", len(left), 0)
            report.add(section, label, case, "held +2 s", held, "none")
            previous = case
        before_count = store.count()
        run = start(command, env, store.folder, "kill-final")
        try:
            started_storing(run, store.max_id())
            run.popen.wait(timeout=deadline.cap(RUN_TIMEOUT_S))
        finally:
            if run.popen.poll() is None:
                end_group(run.popen)
        summary = run.summary() or {}
        final = store.count()
        running = store.still_running_runs()
        say(
            f"  final run: exit {run.popen.returncode}, stored {summary.get('stored', '?')} new "
            f"(expected {events - before_count:,}), duplicates {summary.get('duplicates', '?')}; "
            f"total {final:,} of {events:,}; runs still 'running': {running}"
        )
        case = "final run"
        report.add(section, label, case, "exit", run.popen.returncode, 0)
        report.add(section, label, case, "stored new", summary.get("stored"), events - before_count)
        report.add(section, label, case, "stored", final, events)
        report.add(section, label, case, "runs running", running, 0)


def _seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f} s"


def signal_run(
    report: Report, stores: Stores, data: Path, events: int, plan: Plan, deadline: Deadline
) -> None:
    section, label = "signals", stores.kind
    page = page_size_for(events, plan.page_size or 0)
    say(f"\n[signals / {label}] {events:,} events, page size {page or DEFAULT_PAGE_SIZE:,}")
    for stop, reading, delay in SIGNAL_CASES:
        case = f"{stop.name} {reading}"
        with stores.fresh() as store:
            config = _ingest_config(store.folder, page, **reading_keys(reading, data))
            env = clean_env(store.url)
            command = ["--config", str(config), "ingest", str(data), "--json"]
            run = start(command, env, store.folder, "signalled")
            try:
                half = events // 2
                wait_until(
                    lambda: store.count() >= half or run.popen.poll() is not None,  # noqa: B023
                    delay,
                    0.1,
                    deadline,
                )
                if run.popen.poll() is not None:
                    say(
                        f"  {case}: the run ended (exit {run.popen.returncode}) before the "
                        f"signal; last stderr line: {run.last_stderr_line()!r}"
                    )
                    report.add(section, label, case, "signalled mid-run", False, True)
                    continue
                below = descendants(run.popen.pid)
                stored_before = store.count()
                run.popen.send_signal(stop)
                signalled = time.monotonic()
                sent_at = signalled - run.started
                try:
                    run.popen.wait(timeout=deadline.cap(SIGNAL_EXIT_WAIT_S))
                    took: float | None = time.monotonic() - signalled
                except subprocess.TimeoutExpired:
                    took = None
                    end_group(run.popen)
                time.sleep(LEFT_BEHIND_AFTER_S)
                left = [process for process in below if alive(process)]
                held = store.held()
            finally:
                if run.popen.poll() is None:
                    end_group(run.popen)
            end_left_behind(left)
            code = run.popen.returncode
            last_line = run.last_stderr_line()
            status = store.last_run_status()
            interrupted = store.count()
            rerun = run_command(command, env, store.folder, deadline)
            summary = _json(rerun.stdout)
            final = store.count()
            say(
                f"  {case}: sent {sent_at:.2f} s in (stored {stored_before:,}), exit {code} "
                f"after {_seconds(took)}; last stderr line: {last_line!r}; below it: "
                f"{[process.name for process in below] or 'none'}; alive 2 s later: "
                f"{[process.name for process in left] or 'none'}; store holds: {held}; "
                f"run status {status!r}; stored at exit {interrupted:,}; rerun exit "
                f"{rerun.returncode}, stored {summary.get('stored', '?')} new; "
                f"total {final:,} of {events:,}"
            )
            report.add(section, label, case, "sent at s", sent_at)
            report.add(section, label, case, "exit", code, EXIT_CODES[stop])
            report.add(section, label, case, "to exit s", _seconds(took))
            report.add(
                section,
                label,
                case,
                "last stderr line",
                last_line,
                "interrupted: ...",
                ok=last_line.startswith("interrupted:"),
            )
            report.add(section, label, case, "children", len(below))
            report.add(section, label, case, "alive +2 s", len(left), 0)
            report.add(section, label, case, "held +2 s", held, "none")
            report.add(section, label, case, "run status", status, "interrupted")
            report.add(section, label, case, "rerun exit", rerun.returncode, 0)
            report.add(
                section,
                label,
                case,
                "rerun new",
                summary.get("stored"),
                events - interrupted,
            )
            report.add(section, label, case, "stored", final, events)


def _json(text: str) -> dict[str, object]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def poison_run(report: Report, stores: Stores, work: Path, lines: int, deadline: Deadline) -> None:
    section, label = "poison", stores.kind
    at = lines // 2 + 1
    contacts = max(1, lines // 10)
    head, tail = work / "poison-head.jsonl", work / "poison-tail.jsonl"
    if not head.exists():
        write_events(head, 1, at - 1, contacts)
        write_events(tail, at + 1, lines, contacts)
    reading = (
        "the child reader"
        if head.stat().st_size + tail.stat().st_size >= DEFAULT_SUBPROCESS_ABOVE
        else "in-process"
    )
    say(
        f"\n[poison / {label}] {lines:,} lines, the poison at line {at:,}, read {reading} "
        "(leadsync's default for this size)"
    )
    for name, (line, reason_fragment) in POISONS.items():
        deadline.check()
        with stores.fresh() as store:
            data = store.folder / "poison.jsonl"
            with data.open("wb") as out:
                for part in (head, tail):
                    with part.open("rb") as piece:
                        shutil.copyfileobj(piece, out)
                    if part is head:
                        out.write(line + b"\n")
            config = write_config(store.folder)
            env = clean_env(store.url)
            ingested = run_command(
                ["--config", str(config), "ingest", str(data), "--json"],
                env,
                store.folder,
                deadline,
            )
            summary = _json(ingested.stdout)
            stored = store.count()
            rejects = store.rejects()
            listed = run_command(
                ["--config", str(config), "rejects", "--json"], env, store.folder, deadline
            )
            try:
                rows = orjson.loads(listed.stdout)
            except orjson.JSONDecodeError:
                rows = []
            first = rows[0] if rows else {}
            reason = str(first.get("reason", ""))
            last_error = (ingested.stderr.strip().splitlines() or [""])[-1]
            say(
                f"  {name}: exit {ingested.returncode}, stored {stored:,} "
                f"(summary {summary.get('stored', '?')}), rejects {rejects} "
                f"(summary {summary.get('rejected', '?')}), reject at line "
                f"{first.get('line', '?')}: {reason!r}"
                + (f"; last stderr line: {last_error!r}" if ingested.returncode else "")
            )
            report.add(section, label, name, "exit", ingested.returncode, 0)
            report.add(section, label, name, "stored", stored, lines - 1)
            report.add(section, label, name, "rejects", rejects, 1)
            report.add(section, label, name, "line", first.get("line"), at)
            report.add(
                section,
                label,
                name,
                "reason",
                reason,
                f"...{reason_fragment}...",
                ok=reason_fragment in reason,
            )
            if name == SCORE_AFTER:
                scored = run_command(
                    ["--config", str(config), "score"], env, store.folder, deadline
                )
                tail_line = (scored.stderr.strip().splitlines() or [""])[-1]
                say(
                    f"  {name}: leadsync score exit {scored.returncode}"
                    + (f"; last stderr line: {tail_line!r}" if scored.returncode else "")
                )
                report.add(section, label, name, "score exit", scored.returncode, 0)
            data.unlink()


# --- the whole ----------------------------------------------------------------------------


def _cell(figure: Figure) -> str:
    if figure.verdict == "MISMATCH":
        return f"{figure.value} (want {figure.expected})"
    return figure.value


def print_summary(report: Report) -> None:
    """One table per run: a row per store and case, a column per figure."""
    width_cap = 36
    for section in dict.fromkeys(figure.section for figure in report.figures):
        figures = [figure for figure in report.figures if figure.section == section]
        columns = list(dict.fromkeys(figure.name for figure in figures))
        rows: dict[tuple[str, str], dict[str, Figure]] = {}
        for figure in figures:
            rows.setdefault((figure.store, figure.case), {})[figure.name] = figure
        header = ["store", "case", *columns, "verdict"]
        table = []
        for (store, case), cells in rows.items():
            wrong = [name for name, figure in cells.items() if figure.verdict == "MISMATCH"]
            promised = any(figure.verdict for figure in cells.values())
            verdict = f"MISMATCH: {', '.join(wrong)}" if wrong else ("ok" if promised else "")
            table.append(
                [store, case]
                + [_cell(cells[name]) if name in cells else "" for name in columns]
                + [verdict]
            )
        widths = [
            min(width_cap, max(len(row[index]) for row in [header, *table]))
            for index in range(len(header))
        ]
        say(f"\n{section}")
        for row in [header, *table]:
            say(
                "  ".join(
                    f"{cell[:width]:<{width}}" for cell, width in zip(row, widths, strict=True)
                )
            )
    mismatches = [figure for figure in report.figures if figure.verdict == "MISMATCH"]
    checked = sum(bool(figure.verdict) for figure in report.figures)
    say(
        f"\n{checked - len(mismatches)} of {checked} checked figures ok, {len(mismatches)} MISMATCH"
    )
    for figure in mismatches:
        say(
            f"  MISMATCH {figure.section} / {figure.store} / {figure.case} / {figure.name}: "
            f"measured {figure.value!r}, expected {figure.expected!r}"
        )


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # `kill` (or a non-interactive shell, where SIGINT is ignored) stops it as Ctrl-C does:
    # its processes ended, its schemas dropped, what was measured printed.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # Started in the background by a non-interactive shell, this process and so every
    # leadsync it starts would ignore SIGINT (the shell's rule for `cmd &`, which leadsync
    # keeps, as every Unix tool does). A handler of our own is reset to the default when
    # a child starts, so the children take Ctrl-C as a user's terminal would send it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events-kill", type=int, default=1_000_000)
    parser.add_argument("--events-signal", type=int, default=2_000_000)
    parser.add_argument("--lines-poison", type=int, default=100_000)
    parser.add_argument(
        "--only", default="kill,signals,poison", help="comma-separated: kill, signals, poison"
    )
    parser.add_argument(
        "--page-size",
        type=int,
        default=0,
        help="[ingest] page_size (default: leadsync's, or events/20 for files under 20 pages)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LEADSYNC_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--max-minutes", type=float, default=40.0)
    parser.add_argument("--work-dir", type=Path, default=None, help="where the temp folder goes")
    arguments = parser.parse_args()
    wanted = {name.strip() for name in arguments.only.split(",") if name.strip()}
    unknown = wanted - {"kill", "signals", "poison"}
    if unknown:
        parser.error(f"--only: unknown run(s) {', '.join(sorted(unknown))}")
    if not LEADSYNC.exists():
        parser.error(f"{LEADSYNC} is missing: install the project in this interpreter's venv")

    deadline = Deadline(arguments.max_minutes)
    plan = Plan(
        arguments.events_kill, arguments.events_signal, arguments.lines_poison, arguments.page_size
    )
    kinds = ["sqlite"]
    if not arguments.skip_postgres:
        why = postgres_reachable(arguments.postgres_url)
        if why is None:
            kinds.append("postgresql")
        else:
            say(f"postgresql: skipped, unreachable ({why})")
    report = Report()
    say(
        f"leadsync reliability: {LEADSYNC}; stores {', '.join(kinds)}; "
        f"budget {arguments.max_minutes:g} min; load average "
        f"{' '.join(f'{load:.2f}' for load in os.getloadavg())}"
    )
    started = time.monotonic()
    version = subprocess.run(
        [str(LEADSYNC), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    say(
        f"{version.stdout.strip() or version.stderr.strip()}: `leadsync --version` takes "
        f"{time.monotonic() - started:.2f} s (the start-up inside every 'first new' figure)"
    )
    with tempfile.TemporaryDirectory(
        prefix="leadsync-reliability-", dir=arguments.work_dir
    ) as scratch:
        work = Path(scratch)
        all_stores = [Stores(kind, work, arguments.postgres_url) for kind in kinds]
        try:
            if "kill" in wanted:
                data = work / "kill.jsonl"
                timed_write(data, plan.events_kill)
                for stores in all_stores:
                    kill_run(report, stores, data, plan.events_kill, plan, deadline)
                data.unlink()
            if "signals" in wanted:
                data = work / "signals.jsonl"
                timed_write(data, plan.events_signal)
                for stores in all_stores:
                    signal_run(report, stores, data, plan.events_signal, plan, deadline)
                data.unlink()
            if "poison" in wanted:
                for stores in all_stores:
                    poison_run(report, stores, work, plan.lines_poison, deadline)
        except OutOfTime:
            say(f"\nstopped: --max-minutes {arguments.max_minutes:g} reached")
        except KeyboardInterrupt:
            say("\nstopped: interrupted")
        except subprocess.TimeoutExpired as exc:
            say(f"\nstopped: a leadsync command did not end in {exc.timeout:.0f} s: {exc.cmd}")
        finally:
            for popen in _STARTED:
                if popen.poll() is None:
                    end_group(popen)
    print_summary(report)
    say(f"took {(time.monotonic() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
