"""Calibrate the bands against history: read every known contact with its events and when
it became a customer, score it as of now, and hand the observations to the pure
calibration; compare with the calibration stored last time, then store this one.

One sequential read of contacts and events (``all_contacts_to_score``) and one query of
the stage history: 100,000 contacts with a million events took 11.5-12.8 s on SQLite and
14.9 s on PostgreSQL, where a full scoring pass in one process took 10.1-12.8 s and 12.3 s
(a loaded two-core machine; the detailed score of each contact is most of it).
Nothing but the ``calibration`` fact of ``store_meta`` is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pydantic
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from connector.calibration import (
    Calibration,
    CalibrationOptions,
    Observation,
    StoredCalibration,
    calibrate,
    observe,
)
from connector.runners._gc import paused_gc
from connector.scoring.rules import ScoringRules
from connector.scoring.scorer import Scorer, as_utc_time
from connector.store.meta import read_meta, write_meta
from connector.store.outcomes import customer_since, named_without_email
from connector.store.scores import all_contacts_to_score, contact_count, latest_event_id

__all__ = ["CALIBRATION_KEY", "calibrate_store", "last_calibration"]

log = structlog.get_logger(__name__)

CALIBRATION_KEY = "calibration"
_PROGRESS_EVERY = 1_000  # contacts between two progress reports


@dataclass(slots=True)
class _Read:
    contacts: int = 0
    known: int = 0


def last_calibration(connection: sa.Connection) -> StoredCalibration | None:
    """The calibration stored by the last run; None if there was none, or if what is
    stored cannot be read (logged: this run's replaces it)."""
    text = read_meta(connection, CALIBRATION_KEY)
    if text is None:
        return None
    try:
        return StoredCalibration.loads(text)
    except (pydantic.ValidationError, ValueError) as error:
        log.warning(
            "calibrate.stored_unreadable",
            key=CALIBRATION_KEY,
            error=str(error).splitlines()[0],
            hint="this run's calibration replaces it; drift is measured from the next run",
        )
        return None


def _observations(
    connection: sa.Connection,
    scorer: Scorer,
    options: CalibrationOptions,
    counts: _Read,
    on_progress: Callable[[int], None] | None,
) -> Iterator[Observation]:
    customers = customer_since(connection, until=scorer.as_of)
    named = named_without_email(connection)
    bands = scorer.rules.bands
    horizon = options.horizon
    contacts = all_contacts_to_score(connection, through_event_id=latest_event_id(connection))
    for read, contact in enumerate(contacts, 1):
        if on_progress is not None and read % _PROGRESS_EVERY == 0:
            on_progress(read)
        counts.contacts = read
        # An anonymous visitor is no lead: it could not have been handed to sales.
        if contact.email is None and contact.contact_id not in named:
            continue
        counts.known += 1
        lines = scorer.score(
            contact.events, contact.profile, email=contact.email, detailed=True
        ).lines
        # One store gives its times in one form (text in one format, or datetimes), so
        # the earliest is found before the one conversion.
        earliest = min((event[1] for event in contact.events), default=None)
        first_event_at = None if earliest is None else as_utc_time(earliest)
        found = observe(
            contact.contact_id,
            lines,
            first_event_at=first_event_at,
            customer_at=customers.get(contact.contact_id),
            bands=bands,
            as_of=scorer.as_of,
            horizon=horizon,
        )
        if found is not None:
            yield found


def calibrate_store(
    engine: Engine,
    rules: ScoringRules,
    options: CalibrationOptions,
    *,
    now: datetime | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    """Calibrate ``rules``' bands on the store as of ``now`` (default: the clock), with
    the drift since the last calibration; store this one for the next run.

    ``on_progress(done, total)`` counts the contacts read.
    """
    started = time.perf_counter()
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    # No reasons text: calibration reads the lines, never the CRM's summary of them.
    scorer = Scorer(rules, as_of=moment, reasons=False)
    counts = _Read()
    with paused_gc(), engine.connect() as connection:
        previous = last_calibration(connection)
        total = contact_count(connection)
        progress = None if on_progress is None else lambda done: on_progress(done, total)
        found = calibrate(
            _observations(connection, scorer, options, counts, progress),
            current=rules.bands,
            options=options,
            as_of=moment,
        ).compared_with(previous)
    if on_progress is not None:
        on_progress(counts.contacts, total)
    with engine.begin() as connection:
        write_meta(connection, CALIBRATION_KEY, found.stored().dumps())
    if found.drift_note is not None:
        log.warning("calibrate.drift_not_comparable", reason=found.drift_note)
    log.info(
        "calibrate.finished",
        contacts=counts.contacts,
        known=counts.known,
        observed=found.observed,
        unknown_outcomes=found.unknown_outcomes,
        horizon_days=options.horizon_days,
        duration_s=round(time.perf_counter() - started, 2),
    )
    return found
