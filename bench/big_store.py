"""Big-store benchmark: the `leadsync` commands a new user runs first, on N contacts.

Prints measured figures, it asserts only that two passes agree. For each backend it
builds a store of N contacts through the real CLI (``leadsync init``, ``leadsync
ingest``, ``leadsync score``), then a bulk import gives every contact one new event, and
it times, each command as its own subprocess:

- ``score`` (incremental: every contact changed) then ``score --full`` over the same
  store; the scores both leave (``contacts --json`` without ``scored_at``) must be equal,
- ``contacts`` (the default view),
- ``contacts --json`` (every contact), with the peak RSS of its process, and the same
  at N/4 contacts, to show the RSS does not grow with N.

Each measured command runs under a fresh Python process that only waits for it, so
``RUSAGE_CHILDREN`` there is that command's own peak. SQLite always; PostgreSQL with
``--store-url`` (a fresh schema per run, dropped after).

    python bench/big_store.py [--contacts 200000] [--store-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import orjson
from ingest import generate, postgres_schema
from score import GENERATED_FROM, _email

LEADSYNC = str(Path(sys.executable).parent / "leadsync")
# Two events a contact: about 86 % of them get some before the bulk import adds the rest.
EVENTS_PER_CONTACT = 2


def generate_bulk_import(path: Path, events: int, contacts: int) -> None:
    """One newsletter open for every contact, after every event of the main file."""
    start = GENERATED_FROM + timedelta(seconds=events * 20 + 3600)
    with path.open("wb") as handle:
        for person in range(contacts):
            record = {
                "id": f"bulk-{person:08d}",
                "kind": "email_open",
                "occurred_at": (start + timedelta(seconds=person))
                .isoformat()
                .replace("+00:00", "Z"),
                "email": _email(person),
                "attributes": {"campaign": "newsletter"},
            }
            handle.write(orjson.dumps(record) + b"\n")


def _measured(*arguments: str, cwd: Path, env: dict[str, str], output: Path) -> dict[str, float]:
    """Run ``leadsync ARGUMENTS`` under a fresh process and return its wall time and peak
    RSS (the command's own: the only child of that process)."""
    code = (
        "import json, resource, subprocess, sys, time\n"
        "started = time.perf_counter()\n"
        "with open(sys.argv[1], 'wb') as out:\n"
        "    code = subprocess.run(sys.argv[2:], stdout=out, check=False).returncode\n"
        "wall = time.perf_counter() - started\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'code': code, 'wall_s': wall, 'rss_mb': rss}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, str(output), LEADSYNC, *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )
    figures: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    if figures["code"] != 0:
        raise RuntimeError(f"leadsync {' '.join(arguments)} failed:\n{completed.stderr[-3000:]}")
    return figures


def _scores_without_times(path: Path) -> list[dict[str, object]]:
    contacts: list[dict[str, object]] = orjson.loads(path.read_bytes())
    for contact in contacts:
        contact.pop("scored_at")
    return contacts


def build_and_measure(work: Path, url: str, contacts: int) -> dict[str, float]:
    """A store of ``contacts`` contacts at ``url``, built and measured through the CLI."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEADSYNC_")}
    env["LEADSYNC_STORE_URL"] = url
    subprocess.run([LEADSYNC, "init", str(work)], check=True, capture_output=True, env=env)
    events = contacts * EVENTS_PER_CONTACT
    main_file, bulk_file = work / "events.jsonl", work / "bulk.jsonl"
    generate(main_file, events, contacts)
    generate_bulk_import(bulk_file, events, contacts)

    def run(name: str, *arguments: str) -> dict[str, float]:
        return _measured(*arguments, cwd=work, env=env, output=work / f"{name}.out")

    figures: dict[str, float] = {}
    figures["ingest_s"] = run("ingest", "ingest", str(main_file), "--source", "bench")["wall_s"]
    figures["first_score_s"] = run("first", "score")["wall_s"]
    figures["bulk_ingest_s"] = run("bulk", "ingest", str(bulk_file), "--source", "bulk")["wall_s"]
    figures["incremental_s"] = run("incremental", "score")["wall_s"]
    after_incremental = run("after_incremental", "contacts", "--json")
    figures["full_s"] = run("full", "score", "--full")["wall_s"]
    after_full = run("after_full", "contacts", "--json")
    incremental_scores = _scores_without_times(work / "after_incremental.out")
    if incremental_scores != _scores_without_times(work / "after_full.out"):
        raise AssertionError("score after the bulk import and score --full stored other scores")
    figures["contacts"] = len(incremental_scores)
    figures["json_s"] = after_full["wall_s"]
    figures["json_rss_mb"] = max(after_incremental["rss_mb"], after_full["rss_mb"])
    view = run("view", "contacts")
    figures["view_s"], figures["view_rss_mb"] = view["wall_s"], view["rss_mb"]
    print(f"    score after the bulk import: {(work / 'incremental.out').read_text().strip()}")
    print(f"    score --full:                {(work / 'full.out').read_text().strip()}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument(
        "--store-url",
        help="a PostgreSQL URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) "
        "to measure beside SQLite; each size runs in its own schema, dropped after",
    )
    arguments = parser.parse_args()
    sizes = [arguments.contacts, arguments.contacts // 4]
    rows: list[tuple[str, int, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="leadsync-bench-big-") as scratch:
        for size in sizes:
            work = Path(scratch) / f"sqlite-{size}"
            work.mkdir()
            print(f"SQLite, {size:,} contacts:")
            rows.append(("SQLite", size, build_and_measure(work, f"sqlite:///{work}/big.db", size)))
        if arguments.store_url:
            for size in sizes:
                with postgres_schema(arguments.store_url) as url:
                    if url is None:
                        break
                    work = Path(scratch) / f"postgresql-{size}"
                    work.mkdir()
                    print(f"PostgreSQL, {size:,} contacts:")
                    rows.append(("PostgreSQL", size, build_and_measure(work, url, size)))

    print()
    print(
        f"{'store':<11} {'contacts':>9} {'score (all changed) s':>21} {'score --full s':>14} "
        f"{'contacts s':>10} {'--json s':>8} {'--json RSS MB':>13}"
    )
    for label, _, figures in rows:
        print(
            f"{label:<11} {figures['contacts']:>9,.0f} {figures['incremental_s']:>21.2f} "
            f"{figures['full_s']:>14.2f} {figures['view_s']:>10.2f} {figures['json_s']:>8.2f} "
            f"{figures['json_rss_mb']:>13,.0f}"
        )
    print(
        "(first: ingest and first pass, then a bulk import of one event for every contact; "
        "both passes stored the same scores)"
    )
    for label, size, figures in rows:
        print(
            f"  {label}, {size:,}: ingest {figures['ingest_s']:.1f} s, first pass "
            f"{figures['first_score_s']:.1f} s, bulk import {figures['bulk_ingest_s']:.1f} s, "
            f"contacts view peak RSS {figures['view_rss_mb']:,.0f} MB"
        )


if __name__ == "__main__":
    main()
