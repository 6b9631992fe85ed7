"""Resolve identity keys to contacts in bulk, one page of events at a time.

A bounded cache keeps known keys in memory; misses are looked up in one query per
namespace, and the unknown people are created together in one multi-row insert.
E-mails, the common key, get their own cache so the usual event costs one dict look-up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import structlog

from connector.ingest.identity import EMAIL_NAMESPACE, is_anonymous_namespace
from connector.store._raw import BulkInsert, RawSql
from connector.store.joins import is_anonymous, join_visitor, was_unlinked
from connector.store.ledger_rows import LedgerRow

__all__ = ["ContactResolver", "Resolution"]

Key = tuple[str, str]
log = structlog.get_logger(__name__)


def _keys_of(row: LedgerRow) -> tuple[list[Key], list[Key]]:
    """The row's keys that name a person (its e-mail first), and its visitor keys."""
    person: list[Key] = []
    visitor: list[Key] = []
    email, ids = row.email, row.ids
    if email is not None:
        person.append((EMAIL_NAMESPACE, email))
    if ids:
        for key in ids.items():
            (visitor if is_anonymous_namespace(key[0]) else person).append(key)
    return person, visitor


@dataclass(slots=True)
class Resolution:
    contact_ids: list[int]
    contacts_created: int
    identities_linked: int
    identity_conflicts: int
    # Per row, the anonymous visitor its event counts for the contact through (None for
    # all: no row is a joined visitor's).
    joined_from: list[int | None] | None = None
    visitors_joined: int = 0


@dataclass(frozen=True, slots=True)
class _JoinAsked:
    """A row that carries a visitor key of another contact beside its person's keys."""

    key: Key
    visitor: int  # a contact id, or a placeholder
    contact: int  # likewise
    row: int


class ContactResolver:
    """Maps events to contact ids, creating contacts and identity links as needed, and
    joining an anonymous visitor to the contact an event ties one of its keys to."""

    def __init__(self, raw: RawSql, *, cache_size: int = 200_000) -> None:
        self._emails: dict[str, int] = {}
        self._other_keys: dict[Key, int] = {}
        # The keys a join moved, and the visitor each came from: an event that names the
        # contact by such a key alone is the visitor's, counted for the contact.
        self._joined: dict[Key, int] = {}
        self._cache_size = cache_size
        self._raw = raw
        self._insert_contacts = BulkInsert(raw, "contacts", ("id", "email", "created_at"))
        self._insert_identities = BulkInsert(
            raw, "identities", ("namespace", "value", "contact_id", "source", "linked_at")
        )

    def forget(self) -> None:
        """Drop the cache: after a rolled-back transaction it may name contacts that
        were never committed."""
        self._emails.clear()
        self._other_keys.clear()
        self._joined.clear()

    def _known(self, key: Key) -> int | None:
        if key[0] == EMAIL_NAMESPACE:
            return self._emails.get(key[1])
        return self._other_keys.get(key)

    def _remember(self, key: Key, contact_id: int) -> None:
        if key[0] == EMAIL_NAMESPACE:
            self._emails[key[1]] = contact_id
        else:
            self._other_keys[key] = contact_id

    def _load(self, connection: sa.Connection, keys: Iterable[Key]) -> None:
        by_namespace: dict[str, list[str]] = {}
        for namespace, value in keys:
            by_namespace.setdefault(namespace, []).append(value)
        for namespace, values in by_namespace.items():
            for value, contact_id, joined_from in self._raw.identity_lookup(
                connection, namespace, values
            ):
                self._remember((namespace, value), contact_id)
                if joined_from is not None:
                    self._joined[namespace, value] = joined_from

    def resolve(
        self, connection: sa.Connection, rows: Sequence[LedgerRow], *, source: str, now: datetime
    ) -> Resolution:
        if len(self._emails) + len(self._other_keys) > self._cache_size:
            self.forget()
        emails = self._emails
        # The usual event names a known e-mail and nothing else: one dict look-up each,
        # in a comprehension. Only the rest (unknown e-mails, other keys) go the long way.
        found = [
            emails.get(row.email) if row.ids is None else None  # type: ignore[arg-type]
            for row in rows
        ]
        pending = [index for index, contact_id in enumerate(found) if contact_id is None]
        missing: set[Key] = set()
        for index in pending:
            row = rows[index]
            email, ids = row.email, row.ids
            if email is not None and email not in emails:
                missing.add((EMAIL_NAMESPACE, email))
            if ids:
                missing.update(key for key in ids.items() if key not in self._other_keys)
        if missing:
            self._load(connection, missing)

        # Placeholders (negative numbers) stand for contacts created below, so that two
        # events of one new person in a page share one new contact.
        new_emails: list[str | None] = []
        new_visitors: set[int] = set()  # placeholders of contacts known by visitor keys
        new_links: dict[Key, int] = {}
        joins_asked: list[_JoinAsked] = []
        joined_from: list[int | None] | None = None
        conflicts = 0
        assigned: list[int] = found  # type: ignore[assignment]  # filled in below
        for index in pending:
            row = rows[index]
            person_keys, visitor_keys = _keys_of(row)
            # A person's keys name the contact; visitor keys only when there is none.
            leading = person_keys or visitor_keys
            contact_id = via = None
            for key in leading:
                contact_id = self._known(key) or new_links.get(key)
                if contact_id is not None:
                    via = key
                    break
            if contact_id is None:
                new_emails.append(row.email)
                contact_id = -len(new_emails)
                if not person_keys:
                    new_visitors.add(contact_id)
            for key in leading:
                known = self._known(key) or new_links.get(key)
                if known is None:
                    new_links[key] = contact_id
                elif known != contact_id:
                    # The key already names another contact; merging is explicit, never
                    # a side effect of ingest.
                    conflicts += 1
            for key in visitor_keys if person_keys else ():
                known = self._known(key) or new_links.get(key)
                if known is None:
                    new_links[key] = contact_id
                elif known != contact_id:
                    joins_asked.append(_JoinAsked(key, known, contact_id, index))
            assigned[index] = contact_id
            if not person_keys and via is not None and via in self._joined:
                if joined_from is None:
                    joined_from = [None] * len(rows)
                joined_from[index] = self._joined[via]

        real_ids = self._raw.allocate_ids(connection, "contacts", len(new_emails))

        def real(contact_id: int) -> int:
            return real_ids[-contact_id - 1] if contact_id < 0 else contact_id

        if new_emails:
            created_at = self._raw.time(now)
            self._insert_contacts.run(
                connection,
                [
                    (contact_id, email, created_at)
                    for contact_id, email in zip(real_ids, new_emails, strict=True)
                ],
            )
            assigned = [real(c) for c in assigned]

        if new_links:
            resolved_links = [(key, real(c)) for key, c in new_links.items()]
            linked_at = self._raw.time(now)
            self._insert_identities.run(
                connection,
                [
                    (namespace, value, contact_id, source, linked_at)
                    for (namespace, value), contact_id in resolved_links
                ],
            )
            for key, contact_id in resolved_links:
                self._remember(key, contact_id)
        joined, refused = self._join_visitors(
            connection, rows, joins_asked, {real(c) for c in new_visitors}, real, now
        )
        if joined:
            joined_from = joined_from or [None] * len(rows)
            for index, contact_id in enumerate(assigned):
                visitor_into = joined.get(contact_id)
                if visitor_into is not None:
                    assigned[index] = visitor_into
                    joined_from[index] = contact_id
        return Resolution(
            contact_ids=assigned,
            contacts_created=len(new_emails),
            identities_linked=len(new_links),
            identity_conflicts=conflicts + refused,
            joined_from=joined_from,
            visitors_joined=len(joined),
        )

    def _join_visitors(
        self,
        connection: sa.Connection,
        rows: Sequence[LedgerRow],
        asked: Sequence[_JoinAsked],
        new_visitors: set[int],
        real: Callable[[int], int],
        now: datetime,
    ) -> tuple[dict[int, int], int]:
        """Join each visitor the page tied to a contact; returns {visitor: contact} and
        how many ties were refused (a known contact's key, or a join someone undid)."""
        joined: dict[int, int] = {}
        refused = 0
        for join in asked:
            visitor, contact = real(join.visitor), real(join.contact)
            if visitor == contact or joined.get(visitor) == contact:
                continue
            if (
                visitor in joined
                or not (visitor in new_visitors or is_anonymous(connection, visitor))
                or was_unlinked(connection, visitor, contact)
            ):
                refused += 1
                continue
            row = rows[join.row]
            join_visitor(
                connection,
                visitor_id=visitor,
                contact_id=contact,
                key=join.key,
                source=row.source,
                source_event_id=row.source_event_id,
                now=now,
            )
            joined[visitor] = contact
            log.info(
                "identity.visitor_joined",
                visitor_id=visitor,
                contact_id=contact,
                key=f"{join.key[0]}:{join.key[1]}",
                source=row.source,
            )
        if joined:
            # The moved keys now name other contacts: read them again when asked.
            self._other_keys.clear()
            self._joined.clear()
        return joined, refused
