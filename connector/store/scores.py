"""Read what scoring needs and write what it decided."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from itertools import chain, groupby
from operator import itemgetter
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine

from connector.ingest.canonical import loads_exact
from connector.ingest.identity import EMAIL_NAMESPACE
from connector.model import (
    ContactOutcome,
    LifecycleState,
    ProfileValue,
    ScoringEvent,
    Stage,
    StoredScore,
    Temperature,
    Transition,
    Treatment,
)
from connector.store._raw import BulkInsert, RawSql
from connector.store.schema import contacts, events, identities, scores, stage_history

__all__ = [
    "ContactToScore",
    "OutcomeWriter",
    "all_contacts_to_score",
    "all_stage_history",
    "changed_contact_ids",
    "changed_since",
    "contact_count",
    "contact_id_for_email",
    "contact_id_ranges",
    "contacts_to_score",
    "latest_event_id",
    "list_scores",
    "new_event_count",
    "score_count",
    "scored_at_count",
    "stage_history_of",
    "stream_scores",
    "unscored_count",
]


@dataclass(slots=True)
class ContactToScore:
    contact_id: int
    email: str | None
    profile: dict[str, ProfileValue]
    change_seq: int
    state: LifecycleState
    # Rows in ScoringEvent's order, as the store returns them.
    events: list[ScoringEvent]
    # What the last pass stored (None: never scored): whether the contact changed since.
    scored_seq: int | None = None
    rescore_after: datetime | None = None
    # When the profile was observed (dates a move a fit rule makes).
    profile_at: datetime | None = None
    # The stored score and temperature (None: never scored), where asked for.
    stored_score: tuple[float, str] | None = None


def changed_since(contact: ContactToScore, *, after_event_id: int, now: datetime) -> bool:
    """``changed_contact_ids``'s test for one contact read with its events' ids
    (``all_contacts_to_score(..., with_event_ids=True)``)."""
    if contact.scored_seq is None or contact.scored_seq < contact.change_seq:
        return True
    if contact.rescore_after is not None and contact.rescore_after <= now:
        return True
    # map and max run in C: this test runs once per contact of the store.
    return bool(contact.events) and max(map(_event_id_of, contact.events)) > after_event_id


def changed_contact_ids(
    connection: sa.Connection,
    *,
    after_event_id: int,
    through_event_id: int,
    now: datetime | None = None,
) -> set[int]:
    """Contacts with events in (after, through], a profile changed since scored, or (given
    ``now``) a score that a window or decay has changed since."""
    with_events = connection.execute(
        sa.select(events.c.contact_id)
        .where(events.c.id > after_event_id, events.c.id <= through_event_id)
        .distinct()
    ).scalars()
    changed = set(with_events)
    profile_changed = connection.execute(
        sa.select(contacts.c.id)
        .select_from(contacts.outerjoin(scores, scores.c.contact_id == contacts.c.id))
        .where(sa.or_(scores.c.contact_id.is_(None), scores.c.scored_seq < contacts.c.change_seq))
    ).scalars()
    changed.update(profile_changed)
    if now is not None:
        changed.update(
            connection.execute(
                sa.select(scores.c.contact_id).where(scores.c.rescore_after <= now)
            ).scalars()
        )
    return changed


def _utc(value: datetime | str | None) -> datetime | None:
    """Times come back as naive UTC text on SQLite and as aware datetimes on PostgreSQL."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value + "+00:00")


def _json(value: object) -> Any:
    # SQLite hands back the text, PostgreSQL the parsed value: both keep big integers.
    return loads_exact(value) if isinstance(value, str | bytes) else value


_CONTACT_COLUMNS = (
    contacts.c.id,
    contacts.c.email,
    contacts.c.profile,
    contacts.c.change_seq,
    scores.c.stage,
    scores.c.stage_since,
    scores.c.recycled_at,
    scores.c.seen_sales_status,
    scores.c.seen_sales_stage,
    scores.c.seen_bant_complete,
    scores.c.scored_seq,
    scores.c.rescore_after,
    contacts.c.profile_at,
)


_STAGES = {stage.value: stage for stage in Stage}


def _contact_from_row(row: Sequence[Any]) -> ContactToScore:
    contact_id, email, profile, change_seq, stage, since, recycled, status, sales, bant = row[:10]
    scored_seq, rescore_after, profile_at = row[10:13]
    stored = None if len(row) < 15 or row[13] is None else (float(row[13]), str(row[14]))
    state = (
        LifecycleState()
        if stage is None
        else LifecycleState(
            stage=_STAGES[stage],
            since=_utc(since),
            recycled_at=_utc(recycled),
            seen_status=status,
            seen_sales_stage=sales,
            seen_bant_complete=bool(bant),
        )
    )
    return ContactToScore(
        contact_id,
        email,
        dict(_json(profile) or {}),
        change_seq,
        state,
        [],
        scored_seq,
        _utc(rescore_after),
        _utc(profile_at),
        stored,
    )


def _raw_sql(connection: sa.Connection, query: sa.Select[Any]) -> str:
    # Only integers are ever inlined, so literal rendering is safe here. Raw rows skip
    # SQLAlchemy's per-row type processing, which costs more than scoring itself.
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)


def _contacts_query(*, with_scores: bool = False) -> sa.Select[Any]:
    columns = (*_CONTACT_COLUMNS, scores.c.score, scores.c.temperature) if with_scores else ()
    return sa.select(*(columns or _CONTACT_COLUMNS)).select_from(
        contacts.outerjoin(scores, scores.c.contact_id == contacts.c.id)
    )


def _events_query(
    through_event_id: int | None, *, with_origin: bool = True, with_event_id: bool = False
) -> sa.Select[Any]:
    # The order of ScoringEvent, then the contact: rows go to the scorer as they come.
    # Attributes as text, so the scorer can remember the rule of an (url, attributes) pair.
    # Without origin (source and id), a full pass sorts less: only explain's lines show it.
    query = sa.select(
        events.c.kind,
        events.c.occurred_at,
        events.c.url,
        sa.cast(events.c.attributes, sa.Text),
        events.c.source if with_origin else sa.null(),
        events.c.source_event_id if with_origin else sa.null(),
        events.c.contact_id,
        *([events.c.id] if with_event_id else []),
    )
    if through_event_id is not None:
        query = query.where(events.c.id <= int(through_event_id))
    return query


_CONTACT_OF_EVENT = 6
_EVENT_ID = 7  # only where asked for (with_event_id)
_event_id_of = itemgetter(_EVENT_ID)


def contacts_to_score(
    connection: sa.Connection, contact_ids: Sequence[int], *, through_event_id: int | None = None
) -> Iterator[ContactToScore]:
    """The contacts with their events (those after the watermark are left for the next
    pass, so a pass sees one consistent cut of the ledger). Reads through the contact
    index: right for a few contacts; ``all_contacts_to_score`` reads everyone."""
    wanted = [int(contact_id) for contact_id in contact_ids]
    if not wanted:
        return
    found: dict[int, ContactToScore] = {}
    query = _contacts_query().where(contacts.c.id.in_(wanted)).order_by(contacts.c.id)
    for row in connection.exec_driver_sql(_raw_sql(connection, query)).fetchall():
        contact = _contact_from_row(row)
        found[contact.contact_id] = contact
    # fetchall: one driver call for the chunk instead of one per row.
    query = _events_query(through_event_id).where(events.c.contact_id.in_(wanted))
    for row in connection.exec_driver_sql(_raw_sql(connection, query)).fetchall():
        found[row[_CONTACT_OF_EVENT]].events.append(cast(ScoringEvent, row))
    yield from found.values()


def _rows(cursor: Any, batch_rows: int) -> Iterator[Any]:
    return chain.from_iterable(iter(lambda: cursor.fetchmany(batch_rows), []))


def all_contacts_to_score(
    connection: sa.Connection,
    *,
    through_event_id: int,
    id_range: tuple[int | None, int | None] = (None, None),
    batch_rows: int = 20_000,
    with_event_ids: bool = False,
    with_scores: bool = False,
) -> Iterator[ContactToScore]:
    """Every contact in id order, with its events, in one sequential pass over each table
    (each event row ends with its id ``with_event_ids``, for ``changed_since``; each
    contact carries its stored score and temperature ``with_scores``).

    Reading a million events through the contact index costs random page reads (measured:
    11 s); one scan sorted by contact costs 2 s. Two cursors on one connection, merged by
    contact id; on PostgreSQL both are server-side, so memory stays flat.
    """
    driver = connection.connection.driver_connection
    if driver is None:  # pragma: no cover - a live connection has one
        raise RuntimeError("the store connection is closed")
    is_postgres = connection.dialect.name == "postgresql"
    contacts_query = _contacts_query(with_scores=with_scores).order_by(contacts.c.id)
    events_query = _events_query(through_event_id, with_origin=False, with_event_id=with_event_ids)
    # "+contact_id" keeps SQLite from walking the index (random reads) instead of
    # scanning the table and sorting.
    event_contact = "contact_id" if is_postgres else "+contact_id"
    low, high = id_range
    if low is not None:
        contacts_query = contacts_query.where(contacts.c.id >= int(low))
        events_query = events_query.where(sa.text(f"{event_contact} >= {int(low)}"))
    if high is not None:
        contacts_query = contacts_query.where(contacts.c.id <= int(high))
        events_query = events_query.where(sa.text(f"{event_contact} <= {int(high)}"))
    contacts_sql = _raw_sql(connection, contacts_query)
    events_sql = _raw_sql(connection, events_query.order_by(sa.text(event_contact)))
    if not is_postgres:
        # The sort of the whole events table spills to temporary files beyond the page
        # cache instead of growing in memory (temp_store=MEMORY held about 150 MB per
        # million events).
        connection.exec_driver_sql("PRAGMA temp_store=FILE")
    contact_cursor: Any = (
        driver.cursor(name="leadsync_contacts") if is_postgres else driver.cursor()
    )
    event_cursor: Any = driver.cursor(name="leadsync_events") if is_postgres else driver.cursor()
    try:
        contact_cursor.execute(contacts_sql)
        event_cursor.execute(events_sql)
        # groupby and chain run in C: the only Python work per event is the scorer's.
        by_contact = groupby(_rows(event_cursor, batch_rows), key=itemgetter(_CONTACT_OF_EVENT))
        pending = next(by_contact, None)
        for row in _rows(contact_cursor, batch_rows):
            contact = _contact_from_row(row)
            # Events of a contact id below this one would have no contact: the foreign
            # key rules them out, so equality is the only case to look for.
            if pending is not None and pending[0] == contact.contact_id:
                # list() in C; the group dies when groupby moves on to the next contact.
                contact.events = list(pending[1])
                yield contact
                pending = next(by_contact, None)
            else:
                yield contact
    finally:
        contact_cursor.close()
        event_cursor.close()


_SCORE_COLUMNS = (
    "contact_id",
    "score",
    "behaviour_score",
    "fit_score",
    "normalised_score",
    "temperature",
    "stage",
    "route",
    "treatment",
    "reasons",
    "rules_hash",
    "scored_seq",
    "scored_at",
    "stage_since",
    "recycled_at",
    "seen_sales_status",
    "seen_sales_stage",
    "seen_bant_complete",
    "rescore_after",
)
# Enum members as the text the store keeps (``.value`` costs a µs per call).
_TEXT: dict[StrEnum, str] = {
    member: member.value for kind in (Temperature, Stage, Treatment) for member in kind
}
_HISTORY_COLUMNS = ("contact_id", "at", "from_stage", "to_stage", "reason", "recorded_at")


class OutcomeWriter:
    """Stores scores, lifecycle state and stage transitions, a chunk at a time."""

    def __init__(self, dialect: Dialect) -> None:
        self._raw = RawSql(dialect)
        self._scores = BulkInsert(self._raw, "scores", _SCORE_COLUMNS, replace_on=("contact_id",))
        self._history = BulkInsert(self._raw, "stage_history", _HISTORY_COLUMNS)

    def save(
        self,
        connection: sa.Connection,
        decided: Sequence[tuple[ContactToScore, ContactOutcome]],
        *,
        rules_hash: str,
        scored_at: datetime,
    ) -> int:
        """Write ``decided``; return how many stage transitions were recorded."""
        if not decided:
            return 0
        time = self._raw.time
        scored_text = time(scored_at)
        rows: list[tuple[object, ...]] = []
        history: list[tuple[object, ...]] = []
        for contact, outcome in decided:
            result, state = outcome.score, outcome.lifecycle
            treatment = outcome.treatment
            rows.append(
                (
                    contact.contact_id,
                    result.score,
                    result.behaviour_score,
                    result.fit_score,
                    result.normalised_score,
                    _TEXT[result.temperature],
                    _TEXT[state.stage],
                    outcome.route,
                    None if treatment is None else _TEXT[treatment],
                    result.reasons,
                    rules_hash,
                    contact.change_seq,
                    scored_text,
                    None if state.since is None else time(state.since),
                    None if state.recycled_at is None else time(state.recycled_at),
                    state.seen_status,
                    state.seen_sales_stage,
                    state.seen_bant_complete,
                    None if result.rescore_after is None else time(result.rescore_after),
                )
            )
            history.extend(
                (
                    contact.contact_id,
                    time(step.at),
                    step.from_stage.value,
                    step.to_stage.value,
                    step.reason,
                    scored_text if step.recorded_at is None else time(step.recorded_at),
                )
                for step in state.transitions
            )
        self._scores.run(connection, rows)
        self._history.run(connection, history)
        return len(history)


def contact_id_for_email(connection: sa.Connection, email: str) -> int | None:
    value = connection.execute(
        sa.select(identities.c.contact_id).where(
            identities.c.namespace == EMAIL_NAMESPACE, identities.c.value == email
        )
    ).scalar()
    return None if value is None else int(value)


def stream_scores(
    connection: sa.Connection, *, limit: int | None = None, batch_rows: int = 2_000
) -> Iterator[StoredScore]:
    """The stored scores, highest first, read ``batch_rows`` at a time (a server-side
    cursor on PostgreSQL), so memory stays flat whatever the size of the store."""
    query = (
        sa.select(
            scores.c.contact_id,
            contacts.c.email,
            scores.c.score,
            scores.c.behaviour_score,
            scores.c.fit_score,
            scores.c.normalised_score,
            scores.c.temperature,
            scores.c.stage,
            scores.c.route,
            scores.c.treatment,
            scores.c.reasons,
            scores.c.scored_at,
        )
        .select_from(scores.join(contacts, contacts.c.id == scores.c.contact_id))
        .order_by(scores.c.score.desc(), scores.c.contact_id)
    )
    if limit is not None:
        query = query.limit(limit)
    result = connection.execution_options(yield_per=batch_rows).execute(query)
    with result:
        for row in result:
            yield StoredScore(*tuple(row))


def list_scores(connection: sa.Connection, *, limit: int | None = None) -> list[StoredScore]:
    return list(stream_scores(connection, limit=limit))


def score_count(connection: sa.Connection) -> int:
    """How many contacts carry a stored score."""
    return int(connection.execute(sa.select(sa.func.count()).select_from(scores)).scalar() or 0)


def unscored_count(connection: sa.Connection, *, after_event_id: int) -> int:
    """How many contacts have changes that the last scoring pass did not see."""
    highest = connection.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0
    return len(
        changed_contact_ids(
            connection,
            after_event_id=after_event_id,
            through_event_id=highest,
            now=datetime.now(UTC),
        )
    )


def stage_history_of(connection: sa.Connection, contact_id: int) -> list[Transition]:
    """A contact's stage transitions, oldest first."""
    rows = connection.execute(
        sa.select(
            stage_history.c.at,
            stage_history.c.from_stage,
            stage_history.c.to_stage,
            stage_history.c.reason,
            stage_history.c.recorded_at,
        )
        .where(stage_history.c.contact_id == contact_id)
        .order_by(stage_history.c.id)
    )
    return [
        Transition(at, Stage(before), Stage(after), reason, recorded)
        for at, before, after, reason, recorded in rows
    ]


def all_stage_history(
    connection: sa.Connection, id_range: tuple[int | None, int | None] = (None, None)
) -> dict[int, list[Transition]]:
    """Every contact's stage transitions (of contacts ``low..high``), oldest first: moves
    are far fewer than events, so one read holds them all."""
    query = sa.select(
        stage_history.c.contact_id,
        stage_history.c.at,
        stage_history.c.from_stage,
        stage_history.c.to_stage,
        stage_history.c.reason,
        stage_history.c.recorded_at,
    ).order_by(stage_history.c.contact_id, stage_history.c.id)
    low, high = id_range
    if low is not None:
        query = query.where(stage_history.c.contact_id >= low)
    if high is not None:
        query = query.where(stage_history.c.contact_id <= high)
    found: dict[int, list[Transition]] = {}
    for contact_id, at, before, after, reason, recorded in connection.execute(query):
        found.setdefault(contact_id, []).append(
            Transition(at, _STAGES[before], _STAGES[after], reason, recorded)
        )
    return found


def latest_event_id(connection: sa.Connection) -> int:
    """The id of the newest stored event (0: none): what a pass scores through."""
    return int(connection.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0)


def new_event_count(
    connection: sa.Connection, *, after_event_id: int, through_event_id: int
) -> int:
    """How many events are stored in (after, through]: a count over the primary key."""
    return int(
        connection.execute(
            sa.select(sa.func.count())
            .select_from(events)
            .where(events.c.id > after_event_id, events.c.id <= through_event_id)
        ).scalar()
        or 0
    )


def contact_count(connection: sa.Connection) -> int:
    return int(connection.execute(sa.select(sa.func.count()).select_from(contacts)).scalar() or 0)


def contact_id_ranges(connection: sa.Connection, total: int, parts: int) -> list[tuple[int, int]]:
    """Up to ``parts`` ranges of contact ids holding about ``total / parts`` contacts each."""
    starts = [0]
    for part in range(1, parts):
        found = connection.execute(
            sa.select(contacts.c.id).order_by(contacts.c.id).offset(total * part // parts).limit(1)
        ).scalar()
        if found is not None and int(found) > starts[-1]:
            starts.append(int(found))
    ends = [start - 1 for start in starts[1:]] + [2**62]
    return list(zip(starts, ends, strict=True))


def scored_at_count(engine: Engine, moment: datetime) -> int:
    """How many contacts carry scores of the pass at ``moment`` (every chunk it committed)."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count()).select_from(scores).where(scores.c.scored_at == moment)
            ).scalar_one()
        )
