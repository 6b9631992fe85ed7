"""Read what scoring needs and write what it decided."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
import sqlalchemy as sa

from connector.identity import EMAIL_NAMESPACE
from connector.model import ContactScore, ProfileValue
from connector.scoring import ScoringEvent
from connector.store._raw import dialect_insert
from connector.store.schema import contacts, events, identities, scores

__all__ = [
    "ContactToScore",
    "StoredScore",
    "changed_contact_ids",
    "contact_id_for_email",
    "contacts_to_score",
    "list_scores",
    "save_scores",
    "unscored_count",
]


@dataclass(slots=True)
class ContactToScore:
    contact_id: int
    email: str | None
    profile: dict[str, ProfileValue]
    change_seq: int
    events: list[ScoringEvent]


@dataclass(frozen=True, slots=True)
class StoredScore:
    contact_id: int
    email: str | None
    score: float
    behaviour_score: float
    fit_score: float
    temperature: str
    stage: str
    route: str | None
    treatment: str | None
    reasons: str
    scored_at: datetime

    def as_contract(self) -> dict[str, object]:
        """The object `leadsync contacts --json` prints; other tools rely on these keys."""
        return {
            "email": self.email,
            "score": self.score,
            "behaviour_score": self.behaviour_score,
            "fit_score": self.fit_score,
            "temperature": self.temperature,
            "stage": self.stage,
            "route": self.route,
            "treatment": self.treatment,
            "reasons": self.reasons,
            "scored_at": self.scored_at,
            "contact_id": self.contact_id,
        }


def changed_contact_ids(
    connection: sa.Connection, *, after_event_id: int, through_event_id: int
) -> set[int]:
    """Contacts with events in (after, through], or a profile changed since scored."""
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
    return changed


def all_contact_ids(connection: sa.Connection) -> list[int]:
    return list(connection.execute(sa.select(contacts.c.id).order_by(contacts.c.id)).scalars())


def contacts_to_score(
    connection: sa.Connection, contact_ids: Sequence[int], *, through_event_id: int | None = None
) -> Iterator[ContactToScore]:
    """The contacts with their events in time order (events after the watermark are
    left for the next pass, so a pass sees one consistent cut of the ledger)."""
    found: dict[int, ContactToScore] = {}
    for contact_id, email, profile, change_seq in connection.execute(
        sa.select(contacts.c.id, contacts.c.email, contacts.c.profile, contacts.c.change_seq)
        .where(contacts.c.id.in_(sa.bindparam("ids", expanding=True)))
        .order_by(contacts.c.id),
        {"ids": list(contact_ids)},
    ):
        found[contact_id] = ContactToScore(contact_id, email, dict(profile or {}), change_seq, [])
    # Raw rows: SQLAlchemy's per-row type processing would cost more than scoring itself.
    # Times come back as text on SQLite (naive UTC) and as aware datetimes on PostgreSQL.
    query = (
        sa.select(
            events.c.contact_id,
            events.c.kind,
            events.c.occurred_at,
            events.c.source,
            events.c.url,
            events.c.attributes,
        )
        .where(events.c.contact_id.in_([int(contact_id) for contact_id in contact_ids]))
        # The contact_id index already yields (contact_id, id) order: no sort in SQL.
        # Each contact's few events are put in time order below.
        .order_by(events.c.contact_id, events.c.id)
    )
    if through_event_id is not None:
        query = query.where(events.c.id <= int(through_event_id))
    # Only integers are inlined, so literal rendering is safe here.
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    # fetchall: one driver call for the chunk instead of one per row.
    rows = connection.exec_driver_sql(str(compiled)).fetchall()
    loads = orjson.loads
    for contact_id, kind, occurred_at, source, url, attributes in rows:
        if isinstance(occurred_at, str):
            occurred_at = datetime.fromisoformat(occurred_at + "+00:00")
        if isinstance(attributes, str):
            attributes = loads(attributes)
        found[contact_id].events.append(
            ScoringEvent(kind, occurred_at, source, url, attributes or {})
        )
    for contact in found.values():
        contact.events.sort(key=_by_time)
    yield from found.values()


def _by_time(event: ScoringEvent) -> datetime:
    return event.occurred_at


def save_scores(
    connection: sa.Connection,
    decided: Sequence[tuple[ContactToScore, ContactScore]],
    *,
    rules_hash: str,
    scored_at: datetime,
) -> None:
    if not decided:
        return
    rows = [
        {
            "contact_id": contact.contact_id,
            "score": result.score,
            "behaviour_score": result.behaviour_score,
            "fit_score": result.fit_score,
            "temperature": result.temperature.value,
            "stage": result.stage.value,
            "route": None if result.route is None else result.route.value,
            "treatment": None if result.treatment is None else result.treatment.value,
            "reasons": result.reasons,
            "rules_hash": rules_hash,
            "scored_seq": contact.change_seq,
            "scored_at": scored_at,
        }
        for contact, result in decided
    ]
    statement = dialect_insert(connection.dialect, scores)
    updated = {
        column.name: statement.excluded[column.name]
        for column in scores.columns
        if column.name != "contact_id"
    }
    connection.execute(
        statement.on_conflict_do_update(index_elements=[scores.c.contact_id], set_=updated),
        rows,
    )


def contact_id_for_email(connection: sa.Connection, email: str) -> int | None:
    value = connection.execute(
        sa.select(identities.c.contact_id).where(
            identities.c.namespace == EMAIL_NAMESPACE, identities.c.value == email
        )
    ).scalar()
    return None if value is None else int(value)


def list_scores(connection: sa.Connection, *, limit: int | None = None) -> list[StoredScore]:
    query = (
        sa.select(
            scores.c.contact_id,
            contacts.c.email,
            scores.c.score,
            scores.c.behaviour_score,
            scores.c.fit_score,
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
    return [StoredScore(*row) for row in connection.execute(query)]


def unscored_count(connection: sa.Connection, *, after_event_id: int) -> int:
    """How many contacts have changes that the last scoring pass did not see."""
    highest = connection.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0
    return len(
        changed_contact_ids(connection, after_event_id=after_event_id, through_event_id=highest)
    )
