"""Anonymous visitors joined to known contacts, and the undoing of it.

A contact known by browser keys alone (namespaces ending in ``_visitor``) is an anonymous
visitor. When an event carries one of its keys beside a known contact's e-mail or id, the
visitor is joined to that contact: its keys and events move there, each marked with the
visitor it came from (``joined_from``), so that the next scoring pass counts them for the
contact, `explain` can say which key tied them and when, and `leadsync identity unlink`
can move them back. Two known contacts are never joined: only a visitor moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.errors import ContactNotFoundError
from connector.ingest.identity import EMAIL_NAMESPACE, is_anonymous_namespace
from connector.store._raw import RawSql
from connector.store.schema import contacts, events, identities, identity_joins

__all__ = [
    "JoinRecord",
    "Unlinked",
    "is_anonymous",
    "join_visitor",
    "joins_of",
    "unlink_key",
    "was_unlinked",
]


@dataclass(frozen=True, slots=True)
class JoinRecord:
    """One visitor joined to a contact, as `explain` tells it."""

    visitor_id: int
    namespace: str
    value: str
    source: str
    source_event_id: str
    joined_at: datetime
    unlinked_at: datetime | None
    events: int  # the visitor's events that count for the contact now


@dataclass(frozen=True, slots=True)
class Unlinked:
    visitor_id: int
    contact_id: int
    keys: int
    events: int


def is_anonymous(connection: sa.Connection, contact_id: int) -> bool:
    """Known by visitor keys alone: no e-mail, no key that names a person."""
    email = connection.execute(
        sa.select(contacts.c.email).where(contacts.c.id == contact_id)
    ).scalar_one_or_none()
    if email is not None:
        return False
    namespaces = connection.execute(
        sa.select(identities.c.namespace).where(identities.c.contact_id == contact_id)
    ).scalars()
    return all(
        namespace != EMAIL_NAMESPACE and is_anonymous_namespace(namespace)
        for namespace in namespaces
    )


def was_unlinked(connection: sa.Connection, visitor_id: int, contact_id: int) -> bool:
    """Whether someone undid this very join: ingest never makes it again."""
    found = connection.execute(
        sa.select(identity_joins.c.id).where(
            identity_joins.c.visitor_id == visitor_id,
            identity_joins.c.contact_id == contact_id,
            identity_joins.c.unlinked_at.is_not(None),
        )
    ).first()
    return found is not None


def join_visitor(
    connection: sa.Connection,
    *,
    visitor_id: int,
    contact_id: int,
    key: tuple[str, str],
    source: str,
    source_event_id: str,
    now: datetime,
) -> None:
    """Move the visitor's keys and events to the contact, in the caller's transaction
    (the ledger's, with its write lock), and record why."""
    for table in (identities, events):
        connection.execute(
            table.update()
            .where(table.c.contact_id == visitor_id)
            .values(contact_id=contact_id, joined_from=visitor_id)
        )
    connection.execute(
        identity_joins.insert().values(
            visitor_id=visitor_id,
            contact_id=contact_id,
            namespace=key[0],
            value=key[1],
            source=source[:100],
            source_event_id=source_event_id[:200],
            joined_at=now,
        )
    )
    _mark_for_scoring(connection, (visitor_id, contact_id))


def _mark_for_scoring(connection: sa.Connection, contact_ids: Sequence[int]) -> None:
    # Moved events keep their ids, below the scoring watermark: the profile's change
    # counter is what makes the next pass score both contacts again.
    connection.execute(
        contacts.update()
        .where(contacts.c.id.in_(list(contact_ids)))
        .values(change_seq=contacts.c.change_seq + 1)
    )


def joins_of(connection: sa.Connection, contact_id: int) -> list[JoinRecord]:
    """The visitors joined to ``contact_id`` (and unlinked from it), oldest first."""
    counts = {
        int(visitor): int(count)
        for visitor, count in connection.execute(
            sa.select(events.c.joined_from, sa.func.count())
            .where(events.c.contact_id == contact_id, events.c.joined_from.is_not(None))
            .group_by(events.c.joined_from)
        )
    }
    rows = connection.execute(
        sa.select(
            identity_joins.c.visitor_id,
            identity_joins.c.namespace,
            identity_joins.c.value,
            identity_joins.c.source,
            identity_joins.c.source_event_id,
            identity_joins.c.joined_at,
            identity_joins.c.unlinked_at,
        )
        .where(identity_joins.c.contact_id == contact_id)
        .order_by(identity_joins.c.joined_at, identity_joins.c.id)
    )
    return [
        JoinRecord(*row, events=0 if row.unlinked_at else int(counts.get(row.visitor_id, 0)))
        for row in rows
    ]


def unlink_key(engine: Engine, namespace: str, value: str, *, now: datetime) -> Unlinked:
    """Undo the join that moved the visitor key ``namespace:value``: the visitor's keys
    and events go back to it, and this pair is never joined again by ingest.

    Raises:
        ContactNotFoundError: no key so, or it was never joined.
    """
    with engine.begin() as connection:
        # Under the ledger's write lock: an event of this visitor stored meanwhile would
        # otherwise stay with the contact.
        RawSql(engine.dialect).lock_for_writing(connection)
        found = connection.execute(
            sa.select(identities.c.contact_id, identities.c.joined_from).where(
                identities.c.namespace == namespace, identities.c.value == value
            )
        ).first()
        if found is None:
            raise ContactNotFoundError(
                f"no identity key {namespace}:{value}",
                hint="give it as NAMESPACE:KEY, as `leadsync explain` shows it",
            )
        contact_id, visitor_id = found
        if visitor_id is None:
            raise ContactNotFoundError(
                f"the key {namespace}:{value} was never joined to another contact: it is "
                f"contact #{contact_id}'s own",
                hint="`leadsync explain EMAIL` lists the visitor keys joined to a contact",
            )
        moved: dict[str, int] = {}
        for table in (identities, events):
            result = connection.execute(
                table.update()
                .where(table.c.contact_id == contact_id, table.c.joined_from == visitor_id)
                .values(contact_id=visitor_id, joined_from=None)
            )
            moved[table.name] = int(result.rowcount)
        connection.execute(
            identity_joins.update()
            .where(
                identity_joins.c.visitor_id == visitor_id,
                identity_joins.c.contact_id == contact_id,
                identity_joins.c.unlinked_at.is_(None),
            )
            .values(unlinked_at=now)
        )
        _mark_for_scoring(connection, (visitor_id, contact_id))
    return Unlinked(visitor_id, contact_id, moved["identities"], moved["events"])
