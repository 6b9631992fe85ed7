"""Scored contacts written straight into the store, for the tests that read scores."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from connector.store.schema import contacts, identities, scores

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def add_scored_contact(
    connection: sa.Connection,
    contact_id: int,
    score: float,
    temperature: str,
    stage: str,
    *,
    email: str | None = None,
    keys: tuple[tuple[str, str], ...] = (),
) -> None:
    connection.execute(
        contacts.insert().values(id=contact_id, email=email, profile={}, created_at=NOW)
    )
    for namespace, value in keys:
        connection.execute(
            identities.insert().values(
                namespace=namespace, value=value, contact_id=contact_id, linked_at=NOW
            )
        )
    connection.execute(
        scores.insert().values(
            contact_id=contact_id,
            score=score,
            behaviour_score=score,
            fit_score=0,
            temperature=temperature,
            stage=stage,
            reasons="[]",
            rules_hash="h",
            scored_seq=0,
            scored_at=NOW,
        )
    )
