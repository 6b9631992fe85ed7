"""One scoring pass: find the contacts that changed, score them, store the results.

Changed means: an event stored since the last pass (found by event id: the ledger makes
ids visible in increasing order), a profile changed since the contact was scored, or
never scored. A change of rules (its hash differs from the stored one) or ``full`` rescore
everyone. Each chunk commits on its own; the watermark moves only when every chunk is
done, so a crash part-way means the next pass redoes the work, never skips it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from connector._gc import paused_gc
from connector.scoring import Scorer, ScoringRules
from connector.store.meta import read_meta, write_meta
from connector.store.schema import events
from connector.store.scores import (
    all_contact_ids,
    changed_contact_ids,
    contacts_to_score,
    save_scores,
)

__all__ = ["RescoreSummary", "rescore"]

log = structlog.get_logger(__name__)

WATERMARK_KEY = "scored_through_event_id"
RULES_HASH_KEY = "rules_hash"
CHUNK_CONTACTS = 2_000


@dataclass(slots=True)
class RescoreSummary:
    contacts_scored: int = 0
    full: bool = False
    reason: str = ""
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def scoring_watermark(connection: sa.Connection) -> int:
    return int(read_meta(connection, WATERMARK_KEY) or 0)


def rescore(
    engine: Engine,
    rules: ScoringRules,
    *,
    full: bool = False,
    now: datetime | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> RescoreSummary:
    started = time.perf_counter()
    scored_at = now or datetime.now(UTC)
    rules_hash = rules.fingerprint()
    with engine.connect() as connection:
        through = int(connection.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0)
        after = scoring_watermark(connection)
        stored_hash = read_meta(connection, RULES_HASH_KEY)
        summary = RescoreSummary(full=full)
        if full:
            summary.reason = "asked (--full)"
        elif stored_hash is not None and stored_hash != rules_hash:
            summary.full, summary.reason = True, "scoring rules changed"
        if summary.full:
            todo = all_contact_ids(connection)
        else:
            summary.reason = "new events or profile changes"
            todo = sorted(
                changed_contact_ids(connection, after_event_id=after, through_event_id=through)
            )
    scorer = Scorer(rules)
    with paused_gc():
        _score_in_chunks(engine, scorer, todo, through, rules_hash, scored_at, summary, on_progress)
    with engine.begin() as connection:
        write_meta(connection, WATERMARK_KEY, str(through))
        write_meta(connection, RULES_HASH_KEY, rules_hash)
    summary.duration_s = round(time.perf_counter() - started, 3)
    log.info("score.finished", **summary.as_dict())
    return summary


def _score_in_chunks(
    engine: Engine,
    scorer: Scorer,
    todo: list[int],
    through: int,
    rules_hash: str,
    scored_at: datetime,
    summary: RescoreSummary,
    on_progress: Callable[[int, int], None] | None,
) -> None:
    for start in range(0, len(todo), CHUNK_CONTACTS):
        chunk = todo[start : start + CHUNK_CONTACTS]
        with engine.begin() as connection:
            decided = [
                (contact, scorer.score(contact.events, contact.profile))
                for contact in contacts_to_score(connection, chunk, through_event_id=through)
            ]
            save_scores(connection, decided, rules_hash=rules_hash, scored_at=scored_at)
        summary.contacts_scored += len(decided)
        if on_progress is not None:
            on_progress(summary.contacts_scored, len(todo))
