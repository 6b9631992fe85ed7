"""Events arriving in the ledger, for the daemon's watch on hand-raisers.

Event ids become visible in increasing order (the ledger's guarantee, which scoring's
watermark relies on too), so "after id N" is every event stored since the look that saw N.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa

from connector.store.schema import events

__all__ = ["Arrivals", "arrivals_after"]


@dataclass(frozen=True, slots=True)
class Arrivals:
    through_event_id: int  # the newest event looked at (the next look starts after it)
    contacts: frozenset[int]  # those with an event of the kinds asked for


def arrivals_after(
    connection: sa.Connection, after_event_id: int, kinds: Collection[str], *, limit: int = 10_000
) -> Arrivals:
    """The contacts with events of ``kinds`` among the (at most ``limit``) events stored
    after ``after_event_id``: a look through the primary key, cheap to repeat each second."""
    rows = connection.execute(
        sa.select(events.c.id, events.c.kind, events.c.contact_id)
        .where(events.c.id > after_event_id)
        .order_by(events.c.id)
        .limit(limit)
    ).all()
    if not rows:
        return Arrivals(after_event_id, frozenset())
    wanted = set(kinds)
    return Arrivals(
        int(rows[-1].id), frozenset(int(row.contact_id) for row in rows if row.kind in wanted)
    )
