"""Resolve identity keys to contacts in bulk, one page of events at a time.

A bounded cache keeps known keys in memory; misses are looked up in one query per
namespace, and the unknown people are created together in one multi-row insert.
E-mails, the common key, get their own cache so the usual event costs one dict look-up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from connector.ingest.identity import EMAIL_NAMESPACE
from connector.store._raw import BulkInsert, RawSql
from connector.store.ledger_rows import LedgerRow

__all__ = ["ContactResolver", "Resolution"]

Key = tuple[str, str]


def _keys_of(row: LedgerRow) -> list[Key]:
    keys: list[Key] = []
    email, ids = row.email, row.ids
    if email is not None:
        keys.append((EMAIL_NAMESPACE, email))
    if ids:
        keys.extend(ids.items())
    return keys


@dataclass(slots=True)
class Resolution:
    contact_ids: list[int]
    contacts_created: int
    identities_linked: int
    identity_conflicts: int


class ContactResolver:
    """Maps events to contact ids, creating contacts and identity links as needed."""

    def __init__(self, raw: RawSql, *, cache_size: int = 200_000) -> None:
        self._emails: dict[str, int] = {}
        self._other_keys: dict[Key, int] = {}
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
            for value, contact_id in self._raw.identity_lookup(connection, namespace, values):
                self._remember((namespace, value), contact_id)

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
        new_links: dict[Key, int] = {}
        conflicts = 0
        assigned: list[int] = found  # type: ignore[assignment]  # filled in below
        for index in pending:
            row = rows[index]
            keys = _keys_of(row)
            contact_id = None
            for key in keys:
                contact_id = self._known(key) or new_links.get(key)
                if contact_id is not None:
                    break
            if contact_id is None:
                new_emails.append(row.email)
                contact_id = -len(new_emails)
            for key in keys:
                known = self._known(key) or new_links.get(key)
                if known is None:
                    new_links[key] = contact_id
                elif known != contact_id:
                    # The key already names another contact; merging is explicit, never
                    # a side effect of ingest.
                    conflicts += 1
            assigned[index] = contact_id

        real_ids = self._raw.allocate_ids(connection, "contacts", len(new_emails))
        if new_emails:
            created_at = self._raw.time(now)
            self._insert_contacts.run(
                connection,
                [
                    (contact_id, email, created_at)
                    for contact_id, email in zip(real_ids, new_emails, strict=True)
                ],
            )
            assigned = [real_ids[-c - 1] if c < 0 else c for c in assigned]

        if new_links:
            resolved_links = [
                (key, real_ids[-c - 1] if c < 0 else c) for key, c in new_links.items()
            ]
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
        return Resolution(
            contact_ids=assigned,
            contacts_created=len(new_emails),
            identities_linked=len(new_links),
            identity_conflicts=conflicts,
        )
