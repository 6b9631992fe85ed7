"""Ingest benchmark: N canonical events over M contacts into SQLite and PostgreSQL.

Prints measured figures (events/s for ingest, and for ingest plus a full scoring pass;
peak RSS of the processes that did the work) beside a calibration figure: a bare
orjson + executemany loop into an index-free SQLite table, on the same file and machine.
Each measurement runs in a fresh child process, so peak RSS is that run's own.

    python bench/ingest.py [--events 1000000] [--contacts 100000] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KINDS = (
    ["site_visit"] * 40
    + ["page_view"] * 15
    + ["email_open"] * 20
    + ["email_click"] * 17
    + ["document_download"] * 5
    + ["callback_request"] * 2
    + ["quote_request"] * 1
)


def generate(path: Path, events: int, contacts: int, seed: int = 1) -> None:
    """Write the events file in constant memory."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with path.open("wb") as handle:
        for number in range(events):
            person = rng.randrange(contacts)
            kind = rng.choice(KINDS)
            record: dict[str, object] = {
                "id": f"ev-{number:010d}",
                "kind": kind,
                "occurred_at": (start + timedelta(seconds=number * 20))
                .isoformat()
                .replace("+00:00", "Z"),
                "email": f"contact{person}@company{person % 5000}.example",
                "url": "https://acme.example/pricing"
                if rng.random() < 0.1
                else "https://acme.example/blog/post",
                "attributes": {"campaign": "q4"},
            }
            handle.write(orjson.dumps(record) + b"\n")


def _peak_rss_mb() -> float:
    """The larger of this process's peak RSS and that of its children (the file reader
    runs in one for large files)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def child_bare(path: Path, work: Path) -> dict[str, float]:
    database = work / "bare.db"
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, source_event_id TEXT, kind TEXT, "
        "occurred_at TEXT, email TEXT, url TEXT, attributes TEXT)"
    )
    insert = "INSERT INTO events VALUES (NULL, ?, ?, ?, ?, ?, ?)"
    started = time.perf_counter()
    batch: list[tuple[object, ...]] = []
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            record = orjson.loads(line)
            batch.append(
                (
                    record["id"],
                    record["kind"],
                    record["occurred_at"],
                    record["email"],
                    record.get("url"),
                    orjson.dumps(record.get("attributes")).decode(),
                )
            )
            if len(batch) == 20_000:
                connection.executemany(insert, batch)
                connection.commit()
                count += len(batch)
                batch = []
    connection.executemany(insert, batch)
    connection.commit()
    count += len(batch)
    elapsed = time.perf_counter() - started
    return {
        "events": count,
        "ingest_s": elapsed,
        "ingest_eps": count / elapsed,
        "peak_rss_mb": _peak_rss_mb(),
    }


def child_leadsync(path: Path, url: str) -> dict[str, float]:
    import structlog

    from adapters.files import FileSource
    from connector.config import Settings, scoring_rules
    from connector.runners.ingest import ingest
    from connector.runners.rescore import rescore
    from connector.store.engine import open_store

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    engine = open_store(url)
    started = time.perf_counter()
    settings = Settings()
    summary = ingest(
        engine,
        FileSource("bench", path),
        command="bench",
        resume=False,
        subprocess_above_bytes=settings.ingest.subprocess_above_bytes,
    )
    ingested = time.perf_counter()
    scored = rescore(engine, scoring_rules(settings))
    finished = time.perf_counter()
    engine.dispose()
    return {
        "events": summary.stored,
        "rejected": summary.rejected,
        "contacts": scored.contacts_scored,
        "ingest_s": ingested - started,
        "score_s": finished - ingested,
        "ingest_eps": summary.stored / (ingested - started),
        "ingest_and_score_eps": summary.stored / (finished - started),
        "peak_rss_mb": _peak_rss_mb(),
    }


def _run_child(*arguments: str, script: str = __file__) -> dict[str, float]:
    """Run ``script --child ARGUMENTS`` (a fresh process: its peak RSS is its own) and
    read the JSON figures of its last output line."""
    completed = subprocess.run(
        [sys.executable, script, "--child", *arguments],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{completed.stderr[-3000:]}")
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _postgres_schema_url(admin_url: str) -> tuple[str, str] | None:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = sa.create_engine(admin_url)
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
        admin.dispose()
    except sa.exc.OperationalError as exc:
        print(f"postgresql: skipped, unreachable ({str(exc.orig).strip().splitlines()[0]})")
        return None
    url = make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def _drop_schema(admin_url: str, schema: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


@contextmanager
def postgres_schema(admin_url: str) -> Iterator[str | None]:
    """A URL on a fresh schema, dropped afterwards; None when PostgreSQL is unreachable."""
    found = _postgres_schema_url(admin_url)
    if found is None:
        yield None
        return
    url, schema = found
    try:
        yield url
    finally:
        _drop_schema(admin_url, schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LEADSYNC_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.child:
        kind, file_path, target = arguments.child
        result = (
            child_bare(Path(file_path), Path(target))
            if kind == "bare"
            else child_leadsync(Path(file_path), target)
        )
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="leadsync-bench-") as scratch:
        work = Path(scratch)
        events_file = work / "events.jsonl"
        started = time.perf_counter()
        generate(events_file, arguments.events, arguments.contacts)
        size_mb = events_file.stat().st_size / 1e6
        print(
            f"generated {arguments.events:,} events over {arguments.contacts:,} contacts "
            f"({size_mb:,.0f} MB) in {time.perf_counter() - started:.1f} s"
        )

        rows: list[tuple[str, dict[str, float]]] = []
        rows.append(
            (
                "bare orjson+executemany (calibration)",
                _run_child("bare", str(events_file), str(work)),
            )
        )
        print(f"  calibration done: {rows[-1][1]['ingest_eps']:,.0f} events/s")
        rows.append(
            (
                "leadsync, SQLite",
                _run_child("leadsync", str(events_file), f"sqlite:///{work / 'leadsync.db'}"),
            )
        )
        print(f"  sqlite done: {rows[-1][1]['ingest_eps']:,.0f} events/s")
        if not arguments.skip_postgres:
            with postgres_schema(arguments.postgres_url) as url:
                if url is not None:
                    rows.append(
                        ("leadsync, PostgreSQL", _run_child("leadsync", str(events_file), url))
                    )

    print()
    print(
        f"{'run':<40} {'ingest ev/s':>12} {'ingest+score ev/s':>18} "
        f"{'ingest s':>9} {'score s':>8} {'peak RSS MB':>12}"
    )
    for label, figures in rows:
        print(
            f"{label:<40} {figures['ingest_eps']:>12,.0f} "
            f"{figures.get('ingest_and_score_eps', float('nan')):>18,.0f} "
            f"{figures['ingest_s']:>9.1f} {figures.get('score_s', float('nan')):>8.1f} "
            f"{figures['peak_rss_mb']:>12,.0f}"
        )


if __name__ == "__main__":
    main()
