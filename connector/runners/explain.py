"""Explain one contact: read it from the store, then the pure explanation."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa

from connector.errors import ContactNotFoundError
from connector.ingest.identity import normalize_email
from connector.scoring.explain import ContactToExplain, Explanation, VisitorJoined, explain
from connector.scoring.rules import ScoringRules
from connector.store.joins import joins_of
from connector.store.scores import contact_id_for_email, contacts_to_score, stage_history_of

__all__ = ["explain_contact"]


def explain_contact(
    connection: sa.Connection,
    email: str,
    rules: ScoringRules,
    *,
    now: datetime,
    as_of: datetime | None = None,
) -> Explanation:
    """Explain the contact with this e-mail as of ``now``, with the stage transitions the
    next pass would record; or as it stood at ``as_of``.

    Raises:
        ContactNotFoundError: no contact has this e-mail.
    """
    wanted = normalize_email(email)
    contact_id = contact_id_for_email(connection, wanted)
    if contact_id is None:
        raise ContactNotFoundError(
            f"no contact has the e-mail {wanted!r}",
            hint="check the spelling, or ingest its events first",
        )
    stored = next(iter(contacts_to_score(connection, [contact_id])))
    contact = ContactToExplain(
        wanted=wanted,
        contact_id=contact_id,
        email=stored.email,
        events=stored.events,
        profile=stored.profile,
        state=stored.state,
        history=tuple(stage_history_of(connection, contact_id)),
        profile_at=stored.profile_at,
    )
    joined = tuple(
        VisitorJoined(
            join.visitor_id,
            f"{join.namespace}:{join.value}",
            join.source,
            join.source_event_id,
            join.joined_at,
            join.unlinked_at,
            join.events,
        )
        for join in joins_of(connection, contact_id)
    )
    return replace(explain(rules, contact, now=now, as_of=as_of), joined=joined)
