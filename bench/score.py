"""Scoring benchmark: full and incremental rescoring of N contacts on SQLite and PostgreSQL.

Prints measured figures, it asserts nothing about speed. For each backend, in one fresh
child process (so peak RSS is that run's own, worker processes included): ingest M
events over N contacts (timed apart, printed as context), then time

- the first pass, which scores every contact (target: 100,000 contacts under 5 s),
- a forced full pass (``full=True``) over the already-scored store,
- an incremental pass after 1 % of the contacts got 1-3 new events each (target: under
  1 s), checking that it rescored exactly those contacts,
- an idle pass with nothing new, which should rescore no one,
- two full simulations (``leadsync simulate``) over the same store, printed beside the
  forced full pass: one raising ``hot_above`` to 25, one adding a rule that makes a site
  visit worth 2 (every contact scored under both rule sets).

SQLite runs twice: with the configured worker count and with one process, so the
single-process figure stays visible. PostgreSQL (127.0.0.1:5432, user postgres, db test,
a fresh schema per run) runs when reachable.

    make bench
    python bench/score.py [--events 1000000] [--contacts 100000] [--workers W] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from ingest import (
    DEFAULT_POSTGRES_URL,
    KINDS,
    _peak_rss_mb,
    _run_child,
    generate,
    postgres_schema,
)

# generate() spaces events 20 s apart from this moment; new events must come later.
GENERATED_FROM = datetime(2026, 1, 1, tzinfo=UTC)
INCREMENTAL_SHARE = 0.01


def _email(person: int) -> str:
    # Must match generate() in bench/ingest.py, or the new events would open new contacts.
    return f"contact{person}@company{person % 5000}.example"


def generate_incremental(path: Path, events: int, contacts: int, seed: int = 2) -> int:
    """New events (1-3 each) for 1 % of the contacts, after every event of the main file.

    Returns how many distinct contacts got events: what the incremental pass should score.
    """
    rng = random.Random(seed)
    people = rng.sample(range(contacts), max(1, round(contacts * INCREMENTAL_SHARE)))
    start = GENERATED_FROM + timedelta(seconds=events * 20 + 3600)
    number = 0
    with path.open("wb") as handle:
        for person in people:
            for _ in range(rng.randint(1, 3)):
                record: dict[str, object] = {
                    "id": f"inc-{number:08d}",
                    "kind": rng.choice(KINDS),
                    "occurred_at": (start + timedelta(seconds=number))
                    .isoformat()
                    .replace("+00:00", "Z"),
                    "email": _email(person),
                    "url": "https://acme.example/pricing",
                    "attributes": {"campaign": "q1"},
                }
                handle.write(orjson.dumps(record) + b"\n")
                number += 1
    return len(people)


def child_score(
    events_file: Path, incremental_file: Path, url: str, workers: int
) -> dict[str, float]:
    import sqlalchemy as sa
    import structlog

    from adapters.files import FileSource
    from connector.config import Settings, scoring_rules
    from connector.runners.ingest import ingest
    from connector.runners.rescore import RescoreSummary, rescore
    from connector.runners.simulate import simulate
    from connector.scoring.settings import BehaviourRuleSettings
    from connector.store.engine import open_store
    from connector.store.schema import contacts

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    settings = Settings()
    rules = scoring_rules(settings)
    engine = open_store(url)

    def load(path: Path) -> tuple[int, float]:
        started = time.perf_counter()
        summary = ingest(
            engine,
            FileSource("bench", path),
            command="bench",
            resume=False,
            subprocess_above_bytes=settings.ingest.subprocess_above_bytes,
        )
        return summary.stored, time.perf_counter() - started

    def timed(*, full: bool) -> tuple[RescoreSummary, float]:
        started = time.perf_counter()
        summary = rescore(engine, rules, full=full, workers=workers)
        return summary, time.perf_counter() - started

    def count_contacts() -> int:
        with engine.connect() as connection:
            query = sa.select(sa.func.count()).select_from(contacts)
            return int(connection.execute(query).scalar() or 0)

    stored, ingest_s = load(events_file)
    # Counted before the new events, which may open a contact the main file lacked.
    in_store = count_contacts()
    # Ingest's reader process counts in RUSAGE_CHILDREN; this tells whether scoring
    # raised the peak beyond what ingest alone reached.
    ingest_rss_mb = _peak_rss_mb()
    first, first_s = timed(full=False)
    forced, forced_s = timed(full=True)

    def simulated(scoring: object) -> tuple[dict[str, object], float]:
        candidate = scoring_rules(settings.model_copy(update={"scoring": scoring}))
        started = time.perf_counter()
        result = simulate(engine, rules, candidate, workers=workers)
        return result, time.perf_counter() - started

    bands_result, bands_s = simulated(settings.scoring.model_copy(update={"hot_above": 25}))
    visit = BehaviourRuleSettings(name="visit_worth_two", kind="site_visit", points=2)
    rule_result, rule_s = simulated(settings.scoring.model_copy(update={"behaviour": (visit,)}))
    new_stored, _ = load(incremental_file)
    incremental, incremental_s = timed(full=False)
    idle, idle_s = timed(full=False)
    engine.dispose()
    return {
        "events": stored,
        "ingest_s": ingest_s,
        "ingest_rss_mb": ingest_rss_mb,
        "contacts_in_store": in_store,
        "first_s": first_s,
        "first_contacts": first.contacts_scored,
        "first_was_full": float(first.full),
        "first_workers": first.workers,
        "first_transitions": first.transitions,
        "forced_s": forced_s,
        "forced_contacts": forced.contacts_scored,
        "forced_workers": forced.workers,
        "simulate_bands_s": bands_s,
        "simulate_bands_changed": float(bands_result["changed"]["any"]),  # type: ignore[index]
        "simulate_rule_s": rule_s,
        "simulate_rule_changed": float(rule_result["changed"]["any"]),  # type: ignore[index]
        "new_events": new_stored,
        "incremental_s": incremental_s,
        "incremental_contacts": incremental.contacts_scored,
        "incremental_was_full": float(incremental.full),
        "idle_s": idle_s,
        "idle_contacts": idle.contacts_scored,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _oddities(figures: dict[str, float], expected_incremental: int) -> list[str]:
    """Counts that do not add up; printed, not raised, so the figures still show."""
    found: list[str] = []
    in_store = int(figures["contacts_in_store"])
    if not figures["first_was_full"]:
        found.append("the first pass was not a full pass")
    if int(figures["first_contacts"]) != in_store:
        found.append(f"first pass scored {figures['first_contacts']:,.0f} of {in_store:,} contacts")
    if int(figures["forced_contacts"]) != int(figures["first_contacts"]):
        found.append(
            f"forced full pass scored {figures['forced_contacts']:,.0f}, "
            f"first pass {figures['first_contacts']:,.0f}"
        )
    if figures["incremental_was_full"]:
        found.append("the incremental pass ran as a full pass")
    if int(figures["incremental_contacts"]) != expected_incremental:
        found.append(
            f"incremental pass scored {figures['incremental_contacts']:,.0f} contacts, "
            f"{expected_incremental:,} got new events"
        )
    if int(figures["idle_contacts"]) != 0:
        found.append(f"idle pass scored {figures['idle_contacts']:,.0f} contacts, expected 0")
    return found


def main() -> None:
    from connector.config import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=Settings().scoring.workers)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LEADSYNC_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.child:
        events_path, incremental_path, url, workers = arguments.child
        result = child_score(Path(events_path), Path(incremental_path), url, int(workers))
        print(json.dumps(result))
        return

    rows: list[tuple[str, int, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="leadsync-bench-score-") as scratch:
        work = Path(scratch)
        events_file = work / "events.jsonl"
        incremental_file = work / "incremental.jsonl"
        started = time.perf_counter()
        generate(events_file, arguments.events, arguments.contacts)
        expected = generate_incremental(incremental_file, arguments.events, arguments.contacts)
        print(
            f"generated {arguments.events:,} events over {arguments.contacts:,} contacts, "
            f"then new events for {expected:,} of them, "
            f"in {time.perf_counter() - started:.1f} s"
        )

        def run(label: str, url: str, workers: int) -> None:
            figures = _run_child(
                str(events_file), str(incremental_file), url, str(workers), script=__file__
            )
            rows.append((label, workers, figures))
            print(
                f"  {label}, {workers} worker(s): ingested {figures['events']:,.0f} events "
                f"in {figures['ingest_s']:.1f} s (peak RSS so far "
                f"{figures['ingest_rss_mb']:,.0f} MB); first pass {figures['first_s']:.2f} s"
            )

        worker_counts = [arguments.workers] + ([1] if arguments.workers != 1 else [])
        for workers in worker_counts:
            run("SQLite", f"sqlite:///{work / f'score-{workers}.db'}", workers)
        if not arguments.skip_postgres:
            with postgres_schema(arguments.postgres_url) as url:
                if url is not None:
                    run("PostgreSQL", url, arguments.workers)

    print()
    print(
        f"{'backend':<11} {'workers':>7} {'full 1st s':>10} {'contacts/s':>11} "
        f"{'forced s':>9} {'incr s':>7} {'incr contacts':>13} {'idle s':>7} {'peak RSS MB':>12}"
    )
    for label, workers, figures in rows:
        print(
            f"{label:<11} {workers:>7} {figures['first_s']:>10.2f} "
            f"{figures['first_contacts'] / figures['first_s']:>11,.0f} "
            f"{figures['forced_s']:>9.2f} {figures['incremental_s']:>7.2f} "
            f"{figures['incremental_contacts']:>13,.0f} {figures['idle_s']:>7.2f} "
            f"{figures['peak_rss_mb']:>12,.0f}"
        )
    print()
    print(
        f"{'backend':<11} {'workers':>7} {'full pass s':>11} {'simulate hot_above s':>20} "
        f"{'changed':>8} {'simulate rule s':>15} {'changed':>8}"
    )
    for label, workers, figures in rows:
        print(
            f"{label:<11} {workers:>7} {figures['forced_s']:>11.2f} "
            f"{figures['simulate_bands_s']:>20.2f} {figures['simulate_bands_changed']:>8,.0f} "
            f"{figures['simulate_rule_s']:>15.2f} {figures['simulate_rule_changed']:>8,.0f}"
        )
    print()
    for label, workers, figures in rows:
        print(
            f"{label}, {workers} worker(s): {figures['contacts_in_store']:,.0f} contacts in "
            f"the store, first pass scored {figures['first_contacts']:,.0f} in "
            f"{figures['first_workers']:.0f} process(es), forced pass in "
            f"{figures['forced_workers']:.0f}; {figures['new_events']:,.0f} new events"
        )
        for oddity in _oddities(figures, expected):
            print(f"  check: {oddity}")


if __name__ == "__main__":
    main()
