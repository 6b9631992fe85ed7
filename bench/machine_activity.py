"""Machine-activity benchmark: what the four rules cost the scorer, in CPU time.

Prints measured figures; it asserts nothing about speed. It scores the same contacts, in
one process, alternately with the rules as configured by default and with all four turned
off, and prints the fastest and the median run of each, for two shapes of events:

- ``plain``: bench/ingest.py's events (every kind of the reference table, attributes
  ``{"campaign": "q4"}``), which carry nothing the rules read: the rules must cost nothing;
- ``router``: the same, but every open and click carries ``message_id`` and ``user_agent``
  as a router adapter writes them (so every attributes text differs), and every click's
  message has an ``email_delivered`` event 30 s before it: the price of reading them.

Events are handed over as the store hands them (naive UTC text, JSON text attributes),
without lines (``detailed=False``), as a scoring pass asks.

    .venv/bin/python bench/machine_activity.py [--events 300000] [--runs 6]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import orjson
from ingest import KINDS

from connector.config import Settings, scoring_rules
from connector.model import ScoringEvent
from connector.scoring.machine import MachineRules
from connector.scoring.rules import ScoringRules
from connector.scoring.scorer import Scorer

AS_OF = datetime(2027, 1, 1, tzinfo=UTC)
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0"
ALL_OFF = MachineRules(router_flag=False, click_within_s=0, burst_links=0, user_agents=())


def contacts_of(events: int, *, router: bool, seed: int = 1) -> list[list[ScoringEvent]]:
    """``events`` events over ``events / 10`` contacts, shaped as the module says."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1)
    contacts: list[list[ScoringEvent]] = [[] for _ in range(max(events // 10, 1))]
    for number in range(events):
        person = rng.randrange(len(contacts))
        kind = rng.choice(KINDS)
        url = "https://acme.example/pricing" if rng.random() < 0.1 else "https://a.example/b"
        when = start + timedelta(seconds=number * 20)
        attributes: dict[str, str] = {"campaign": "q4"}
        if router and kind in ("email_open", "email_click"):
            message = f"msg-{person}-{number // 50_000}"
            attributes |= {"message_id": message, "user_agent": BROWSER}
            if kind == "email_click":
                delivered = (when - timedelta(seconds=30)).isoformat(" ", "microseconds")
                text = orjson.dumps({"message_id": message}).decode()
                contacts[person].append(
                    ScoringEvent("email_delivered", delivered, None, text, None, None)
                )
        contacts[person].append(
            ScoringEvent(
                kind,
                when.isoformat(" ", "microseconds"),
                url,
                orjson.dumps(attributes).decode(),
                None,
                None,
            )
        )
    return contacts


def cpu_s(rules: ScoringRules, contacts: list[list[ScoringEvent]]) -> float:
    scorer = Scorer(rules, as_of=AS_OF)
    started = time.process_time()
    for events in contacts:
        scorer.score(events, {}, detailed=False)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=6)
    arguments = parser.parse_args()
    on = scoring_rules(Settings())
    off = dataclasses.replace(on, machine=ALL_OFF)
    print(f"{'events':>8} {'count':>9} {'rules':>6} {'fastest s':>10} {'median s':>9}")
    for shape in ("plain", "router"):
        contacts = contacts_of(arguments.events, router=shape == "router")
        count = sum(len(events) for events in contacts)
        taken: dict[str, list[float]] = {"on": [], "off": []}
        for _ in range(arguments.runs):
            # Alternated, so that a busy moment of the machine weighs on both.
            taken["on"].append(cpu_s(on, contacts))
            taken["off"].append(cpu_s(off, contacts))
        for name, found in taken.items():
            print(
                f"{shape:>8} {count:>9,} {name:>6} {min(found):>10.3f} "
                f"{statistics.median(found):>9.3f}"
            )


if __name__ == "__main__":
    main()
