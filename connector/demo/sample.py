"""A realistic sample: contacts with profiles, and their events from several sources.

Activity follows a long tail, as in real funnels: most contacts open and click a little,
a few browse a lot, download, ask for a callback or a quote. Seeded: the same arguments
give the same files.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

__all__ = ["SampleFiles", "write_costs", "write_sample"]

_FIRST = [
    "Alice",
    "Bruno",
    "Chloé",
    "David",
    "Emma",
    "Farid",
    "Gaëlle",
    "Hugo",
    "Inès",
    "Jules",
    "Karim",
    "Léa",
    "Marc",
    "Nina",
    "Oscar",
    "Paula",
    "Quentin",
    "Rose",
    "Samir",
    "Zoé",
]
_LAST = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "Fournier",
]
_TITLES = [
    "CTO",
    "IT Manager",
    "Head of Marketing",
    "Purchasing Manager",
    "Engineer",
    "CEO",
    "Operations Director",
    "Student",
    "Consultant",
    "Plant Manager",
]
_INDUSTRIES = [
    "Manufacturing",
    "Software",
    "Retail",
    "Logistics",
    "Healthcare",
    "Energy",
    "Education",
    "Finance",
]
_COUNTRIES = ["FR", "FR", "FR", "BE", "CH", "DE", "ES", "CA", "US"]
_SIZES = ["1-10", "11-50", "51-200", "201-1000", "1000+"]
_SITE = "https://www.acme-industrie.example"
_PAGES = [
    "/",
    "/products/pumps",
    "/products/valves",
    "/pricing",
    "/blog/maintenance-tips",
    "/case-studies/plant-retrofit",
    "/careers",
    "/contact",
]
_DOCUMENTS = [
    "/docs/pump-catalogue.pdf",
    "/docs/retrofit-white-paper.pdf",
    "/docs/spec-sheet-v200.pdf",
]
_CAMPAIGNS = ["newsletter-oct", "newsletter-nov", "product-launch-v200", "webinar-invite"]
# How unequal activity is (a Pareto's shape, and its cap as a multiple of the quietest).
# 1.2 rather than 1.0, with the cap well above the busiest drawn: at 1.0 capped at 100,
# about twenty contacts shared the cap, drew the same share of events and sat together at
# the top with nearly equal scores; now the busiest differ from one another, as in a real
# funnel, and the hottest leads' 0-100 scores spread (74 to 88 for the ten shown).
_ACTIVITY_SHAPE = 1.2
_MOST_ACTIVE = 250.0
_START = datetime(2026, 9, 1, tzinfo=UTC)
_DAYS = 85


@dataclass(frozen=True, slots=True)
class SampleFiles:
    files: tuple[tuple[str, Path], ...]  # (source name, path)
    contacts: int
    events: int


@dataclass(frozen=True, slots=True)
class _Person:
    email: str
    profile: dict[str, str | int]
    appetite: float  # how active this person is


def _people(count: int, rng: random.Random) -> list[_Person]:
    people = []
    for number in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        company = (
            f"{rng.choice(['Atelier', 'Groupe', 'Société', 'Industries'])} {last} {number % 400}"
        )
        domain = f"{last.lower()}{number % 400}.example"
        people.append(
            _Person(
                email=f"{first.lower()}.{last.lower()}.{number}@{domain}",
                profile={
                    "first_name": first,
                    "last_name": last,
                    "job_title": rng.choice(_TITLES),
                    "company": company,
                    "company_size": rng.choice(_SIZES),
                    "industry": rng.choice(_INDUSTRIES),
                    "country": rng.choice(_COUNTRIES),
                },
                # Pareto: a long tail of quiet contacts and a few very active ones.
                appetite=min(rng.paretovariate(_ACTIVITY_SHAPE), _MOST_ACTIVE),
            )
        )
    return people


def _moment(rng: random.Random) -> str:
    moment = _START + timedelta(seconds=rng.randrange(_DAYS * 86_400))
    return moment.isoformat().replace("+00:00", "Z")


def _email_event(person: _Person, rng: random.Random, number: int) -> dict[str, object]:
    campaign = rng.choice(_CAMPAIGNS)
    if rng.random() < 0.55:
        return {
            "id": f"mc-{number}",
            "kind": "email_open",
            "occurred_at": _moment(rng),
            "email": person.email,
            "attributes": {"campaign": campaign},
        }
    link = rng.choices(
        [
            f"{_SITE}/blog/maintenance-tips",
            f"{_SITE}/products/pumps",
            f"{_SITE}/request-a-quote",
            f"{_SITE}/pricing",
        ],
        weights=[50, 30, 6, 8],
    )[0]
    return {
        "id": f"mc-{number}",
        "kind": "email_click",
        "occurred_at": _moment(rng),
        "email": person.email,
        "url": link,
        "attributes": {"campaign": campaign},
    }


def _web_event(person: _Person, rng: random.Random, number: int) -> dict[str, object]:
    roll = rng.random()
    record: dict[str, object] = {
        "id": f"web-{number}",
        "occurred_at": _moment(rng),
        "email": person.email,
    }
    if roll < 0.45:
        record.update(kind="page_view", url=_SITE + rng.choice(_PAGES))
    elif roll < 0.85:
        record.update(kind="site_visit", url=_SITE + "/")
    elif roll < 0.95:
        record.update(kind="document_download", url=_SITE + rng.choice(_DOCUMENTS))
    elif roll < 0.985:
        record.update(
            kind="form_submit",
            url=_SITE + "/contact",
            attributes={"form": "newsletter"},
            profile=person.profile,
        )
    elif roll < 0.995:
        record.update(
            kind="callback_request",
            url=_SITE + "/contact",
            attributes={"form": "callback"},
            profile=person.profile,
        )
    else:
        record.update(
            kind="quote_request",
            url=_SITE + "/request-a-quote",
            attributes={"form": "quote"},
            profile=person.profile,
        )
    return record


def _events(
    people: list[_Person], total: int, rng: random.Random
) -> Iterator[tuple[str, dict[str, object]]]:
    weights = [person.appetite for person in people]
    chosen = rng.choices(people, weights=weights, k=total)
    for number, person in enumerate(chosen):
        if rng.random() < 0.45:
            yield "newsletter", _email_event(person, rng, number)
        else:
            yield "website", _web_event(person, rng, number)


def write_costs(path: Path, *, seed: int) -> Path:
    """The campaigns' costs, month by month, as `[kpi] costs` reads them: what marketing
    spent on each campaign of the sample (media, agency, the trade show's stand)."""
    rng = random.Random(seed)
    months = ["2026-09", "2026-10", "2026-11"]
    with path.open("w", newline="", encoding="utf-8") as csv_file:
        writer = csv.writer(csv_file)
        writer.writerow(["campaign", "month", "cost"])
        for campaign in _CAMPAIGNS:
            for month in months:
                writer.writerow([campaign, month, rng.randrange(800, 6_000, 50)])
        writer.writerow(["tradeshow-2026", "2026-10", 18_000])
    return path


def write_sample(folder: Path, *, contacts: int, events: int, seed: int) -> SampleFiles:
    """Write the sample into ``folder``: two JSONL sources and one CSV (a trade show)."""
    rng = random.Random(seed)
    people = _people(contacts, rng)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "newsletter": folder / "newsletter-activity.jsonl",
        "website": folder / "website-analytics.jsonl",
    }
    tradeshow_path = folder / "tradeshow-2026.csv"
    # The trade show met a quarter of the contacts: each row brings the full profile.
    met = rng.sample(people, k=max(1, contacts // 4))
    written = 0
    handles = {name: path.open("wb") for name, path in paths.items()}
    try:
        for source, record in _events(people, events - len(met), rng):
            handles[source].write(orjson.dumps(record) + b"\n")
            written += 1
    finally:
        for handle in handles.values():
            handle.close()
    columns = [
        "id",
        "kind",
        "occurred_at",
        "email",
        "attributes.booth",
        "attributes.campaign",
        *[f"profile.{name}" for name in met[0].profile],
    ]
    with tradeshow_path.open("w", newline="", encoding="utf-8") as csv_file:
        writer = csv.writer(csv_file)
        writer.writerow(columns)
        for row_number, person in enumerate(met, start=1):
            kind = "document_download" if rng.random() < 0.3 else "site_visit"
            writer.writerow(
                [
                    f"row-{row_number}",
                    kind,
                    "2026-10-14T09:30:00+02:00",
                    person.email,
                    "hall-3",
                    "tradeshow-2026",
                    *person.profile.values(),
                ]
            )
            written += 1
    return SampleFiles(
        files=(
            ("newsletter", paths["newsletter"]),
            ("website", paths["website"]),
            ("tradeshow-2026", tradeshow_path),
        ),
        contacts=contacts,
        events=written,
    )
