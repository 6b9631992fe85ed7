"""What calibration reads besides the contacts and their events: when each contact first
became a customer, and which contacts without an e-mail are still known people."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from connector.ingest.identity import ANONYMOUS_SUFFIX, EMAIL_NAMESPACE
from connector.model import Stage
from connector.store.schema import contacts, identities, stage_history

__all__ = ["customer_since", "named_without_email"]


def customer_since(connection: sa.Connection, *, until: datetime) -> dict[int, datetime]:
    """Each contact that became a customer by ``until``, with when it first did (one
    query over the stage history)."""
    first = sa.func.min(stage_history.c.at)
    rows = connection.execute(
        sa.select(stage_history.c.contact_id, first)
        .where(stage_history.c.to_stage == Stage.CUSTOMER.value, stage_history.c.at <= until)
        .group_by(stage_history.c.contact_id)
    )
    return {int(contact_id): at for contact_id, at in rows}


def named_without_email(connection: sa.Connection) -> set[int]:
    """Contacts with no e-mail that a key naming a person identifies (a CRM id, say): with
    those with an e-mail, the known contacts; the rest are anonymous visitors
    (``connector.store.joins.is_anonymous``, for all contacts in one query)."""
    rows = connection.execute(
        sa.select(identities.c.contact_id)
        .select_from(identities.join(contacts, contacts.c.id == identities.c.contact_id))
        .where(
            contacts.c.email.is_(None),
            sa.or_(
                identities.c.namespace == EMAIL_NAMESPACE,
                sa.not_(identities.c.namespace.endswith(ANONYMOUS_SUFFIX, autoescape=True)),
            ),
        )
        .distinct()
    )
    return {int(contact_id) for (contact_id,) in rows}
