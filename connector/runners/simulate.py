"""`leadsync simulate`: the stored contacts replayed under the current and a candidate set
of rules, compared; nothing is written.

One sequential read of the store, as a full scoring pass reads it, split over the same
worker processes; each contact is scored under both rule sets (once when the candidate
changes only the bands or the lifecycle) and stepped through the lifecycle machine from
the same starting point (``connector.simulation.replay``). The contacts that move most are
then read again and scored in detail, to show the lines that changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from sqlalchemy.engine import Engine

from connector.errors import FatalError
from connector.model import Transition
from connector.runners._gc import paused_gc
from connector.runners.rescore import (
    FULL_PASS_DUE_KEY,
    RULES_HASH_KEY,
    scores_as_of,
    scoring_watermark,
)
from connector.runners.score_workers import run_ranges
from connector.scoring.rules import ScoringRules
from connector.scoring.scorer import Scorer
from connector.simulation.compare import Comparison, weeks_ending
from connector.simulation.lines import changed_lines
from connector.simulation.replay import (
    replay,
    replay_candidate,
    same_behaviour,
    starting_point,
    stored_side,
)
from connector.store.engine import create_store_engine
from connector.store.meta import read_meta
from connector.store.scores import (
    ContactToScore,
    all_contacts_to_score,
    all_stage_history,
    changed_since,
    contact_count,
    contact_id_ranges,
    contacts_to_score,
    latest_event_id,
)

__all__ = ["DETAILED_MOVES", "simulate"]

log = structlog.get_logger(__name__)

# Moves shown with the lines that changed, unless --limit says otherwise.
DETAILED_MOVES = 20
# As a scoring pass: below this, starting worker processes costs more than it saves.
PARALLEL_FROM_CONTACTS = 20_000


@dataclass(frozen=True, slots=True)
class _SimulationJob:
    """Picklable, so a worker process can run a range of it."""

    url: str = field(repr=False)  # it may hold the store's password
    current: ScoringRules
    candidate: ScoringRules
    moment: datetime
    strict: bool
    through: int
    first_week: datetime
    shared: bool
    # The last pass's watermark when the stored scores are those of the current rules
    # now (same rules, no --as-of pass since): an unchanged contact's stored score and
    # stage are then its "before", and only the candidate is scored. None: both sides are
    # replayed for every contact.
    stored_through: int | None
    # The candidate's rules are the current ones: "after" is "before".
    identical: bool

    def __call__(
        self, low: int, high: int, count: Callable[[int], None], stopping: Callable[[], bool]
    ) -> Comparison:
        engine = create_store_engine(self.url)
        try:
            return self.compare_range(engine, low, high, count, stop_if=stopping, increments=True)
        finally:
            engine.dispose()

    def _stored_score(self, contact: ContactToScore) -> tuple[float, str] | None:
        """The contact's stored score and temperature, if they are what the current rules
        give now (nothing changed since the last pass: its own test)."""
        if self.stored_through is None or contact.stored_score is None:
            return None
        if self.through <= self.stored_through:
            # No event since the last pass: only a profile change or a window or decay
            # coming due can make its stored score stale (the events' ids are not read).
            if contact.scored_seq is None or contact.scored_seq < contact.change_seq:
                return None
            if contact.rescore_after is not None and contact.rescore_after <= self.moment:
                return None
        elif changed_since(contact, after_event_id=self.stored_through, now=self.moment):
            return None
        return contact.stored_score

    def compare_range(
        self,
        engine: Engine,
        low: int | None,
        high: int | None,
        progress: Callable[[int], None],
        *,
        stop_if: Callable[[], bool] | None = None,
        increments: bool = False,
    ) -> Comparison:
        comparison = Comparison(self.first_week.date())
        before_scorer = Scorer(self.current, as_of=self.moment, strict=self.strict, reasons=False)
        after_scorer = Scorer(self.candidate, as_of=self.moment, strict=self.strict, reasons=False)
        read = reported = 0
        with paused_gc(), engine.connect() as reader:
            history = all_stage_history(reader, (low, high))
            found = all_contacts_to_score(
                reader,
                through_event_id=self.through,
                id_range=(low, high),
                with_event_ids=self.stored_through is not None
                and self.through > self.stored_through,
                with_scores=self.stored_through is not None,
            )
            for contact in found:
                self._compare(comparison, contact, history, before_scorer, after_scorer)
                read += 1
                if read - reported >= 5_000:
                    if stop_if is not None and stop_if():
                        raise FatalError("the simulation this worker belongs to has stopped")
                    progress(read - reported if increments else read)
                    reported = read
        if read > reported:
            progress(read - reported if increments else read)
        return comparison.put_in_order()

    def _compare(
        self,
        comparison: Comparison,
        contact: ContactToScore,
        history: dict[int, list[Transition]],
        before_scorer: Scorer,
        after_scorer: Scorer,
    ) -> None:
        moves = history.get(contact.contact_id, [])
        start = starting_point(contact.state, moves, as_of=self.moment if self.strict else None)
        stored = self._stored_score(contact)
        if stored is not None:
            before = stored_side(stored, contact.state, moves)
            after = (
                before
                if self.identical
                else replay_candidate(
                    after_scorer,
                    contact.events,
                    contact.profile,
                    start,
                    email=contact.email,
                    at=self.moment,
                    profile_at=contact.profile_at,
                    was_mql=start.state.stage is not contact.state.stage,
                    counted_from=self.first_week,
                )
            )
            comparison.add(contact.contact_id, contact.email, before, after)
            return
        before, after = replay(
            before_scorer,
            after_scorer,
            contact.events,
            contact.profile,
            start,
            email=contact.email,
            at=self.moment,
            profile_at=contact.profile_at,
            shared=self.shared,
            counted_from=self.first_week,
        )
        comparison.add(contact.contact_id, contact.email, before, after)


def simulate(
    engine: Engine,
    current: ScoringRules,
    candidate: ScoringRules,
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
    workers: int = 1,
    detailed_moves: int = DETAILED_MOVES,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """The simulation's figures (the ``--json`` shape), the store untouched."""
    started = time.perf_counter()
    moment = as_of or now or datetime.now(UTC)
    weeks = weeks_ending(moment)
    with engine.connect() as connection:
        through = latest_event_id(connection)
        total = contact_count(connection)
        stored_through = (
            scoring_watermark(connection)
            if as_of is None
            and read_meta(connection, RULES_HASH_KEY) == current.fingerprint()
            and read_meta(connection, FULL_PASS_DUE_KEY) is None
            and scores_as_of(connection) is None
            else None
        )
        ranges = (
            contact_id_ranges(connection, total, workers)
            if workers > 1 and total >= PARALLEL_FROM_CONTACTS
            else []
        )
    job = _SimulationJob(
        url=engine.url.render_as_string(hide_password=False),
        current=current,
        candidate=candidate,
        moment=moment,
        strict=as_of is not None,
        through=through,
        first_week=datetime.combine(weeks[0], datetime.min.time(), UTC),
        shared=same_behaviour(current, candidate),
        stored_through=stored_through,
        identical=current.fingerprint() == candidate.fingerprint(),
    )

    def progress(done: int) -> None:
        if on_progress is not None:
            on_progress(done, total)

    if len(ranges) > 1:
        engine.dispose()  # no pooled connection may cross the fork
        parts = run_ranges(job, ranges, progress)
        comparison = parts[0]
        for part in parts[1:]:
            comparison.merge(part)
    else:
        comparison = job.compare_range(engine, None, None, progress)
    moves = comparison.ordered_moves()
    shown = _with_lines(engine, job, [move.contact_id for move in moves[:detailed_moves]])
    result: dict[str, object] = {"as_of": moment.isoformat(), **comparison.as_dict(weeks)}
    result["moves"] = [{**move.as_dict(), "lines": shown.get(move.contact_id)} for move in moves]
    result["current"] = _bands_of(current)
    result["candidate"] = _bands_of(candidate)
    result["duration_s"] = round(time.perf_counter() - started, 3)
    log.info(
        "simulate.finished",
        contacts=comparison.contacts,
        changed=comparison.changed_any,
        duration_s=result["duration_s"],
    )
    return result


def _with_lines(
    engine: Engine, job: _SimulationJob, contact_ids: list[int]
) -> dict[int, list[dict[str, object]]]:
    """The lines that changed, for the contacts given (read and scored again, in detail)."""
    before = Scorer(job.current, as_of=job.moment, strict=job.strict)
    after = Scorer(job.candidate, as_of=job.moment, strict=job.strict)
    found: dict[int, list[dict[str, object]]] = {}
    with engine.connect() as connection:
        for contact in contacts_to_score(connection, contact_ids, through_event_id=job.through):
            was = before.score(contact.events, contact.profile, email=contact.email)
            now = after.score(contact.events, contact.profile, email=contact.email)
            found[contact.contact_id] = changed_lines(was.lines, now.lines)
    return found


def _bands_of(rules: ScoringRules) -> dict[str, float]:
    return {"warm_from": rules.bands.warm_from, "hot_above": rules.bands.hot_above}
