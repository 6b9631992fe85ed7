"""What each CRM was told: read it for the write plan, record what a write changed.

``pushed_state`` holds the fields last written per CRM and contact, identities the CRM ids
linked to contacts, rejects the records a CRM refused. A chunk's outcome is recorded in
one transaction, so a crash resends at most that chunk.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.crm.plan import CrmState
from connector.model import crm_stage_field
from connector.ports import CrmRecordWrite, CrmValue
from connector.store._raw import dialect_insert
from connector.store.cursors import write_cursor
from connector.store.schema import contacts, crm_reads, identities, pushed_state, rejects

__all__ = ["PushOutcome", "read_crm_state", "record_push_outcome", "reject_row"]


def read_crm_state(connection: sa.Connection, crm: str, *, with_stages: bool) -> CrmState:
    """What ``crm`` was last told of each contact and when, their ids there, and
    (``with_stages``) the stage value it held when last read and when that was."""
    last_written: dict[int, dict[str, CrmValue]] = {}
    written_at: dict[int, datetime] = {}
    for contact_id, fields, pushed_at in connection.execute(
        sa.select(pushed_state.c.contact_id, pushed_state.c.fields, pushed_state.c.pushed_at).where(
            pushed_state.c.crm == crm
        )
    ):
        last_written[int(contact_id)] = dict(fields)
        written_at[int(contact_id)] = pushed_at
    crm_ids: dict[int, str] = {
        int(contact_id): str(value)
        for contact_id, value in connection.execute(
            sa.select(identities.c.contact_id, identities.c.value)
            .where(identities.c.namespace == crm)
            .order_by(identities.c.linked_at, identities.c.id)
        )
    }
    if not with_stages:
        return CrmState(last_written, crm_ids, written_at=written_at)
    read_at: dict[int, datetime] = {
        int(contact_id): moment
        for contact_id, moment in connection.execute(
            sa.select(crm_reads.c.contact_id, crm_reads.c.read_at).where(crm_reads.c.crm == crm)
        )
    }
    return CrmState(
        last_written,
        crm_ids,
        _stages_in_crm(connection, crm),
        written_at=written_at,
        stage_read_at=read_at,
    )


def _stages_in_crm(connection: sa.Connection, crm: str) -> dict[int, str]:
    field_name = crm_stage_field(crm)
    found: dict[int, str] = {}
    for contact_id, profile in connection.execute(sa.select(contacts.c.id, contacts.c.profile)):
        value = (profile or {}).get(field_name)
        # A blank read counts: what a cut push or a hand in the CRM left empty is set.
        if isinstance(value, str):
            found[int(contact_id)] = value
    return found


@dataclass(slots=True)
class PushOutcome:
    """The rows one written chunk changes."""

    written: list[dict[str, object]] = field(default_factory=list)  # pushed_state rows
    missing: list[dict[str, object]] = field(default_factory=list)  # pushed_state rows
    new_ids: list[dict[str, object]] = field(default_factory=list)  # identities rows
    rejected: list[dict[str, object]] = field(default_factory=list)  # rejects rows
    dead_links: list[str] = field(default_factory=list)  # CRM ids to unlink
    # (cursor name, value) to set with the chunk: how far a ``push --all`` got.
    checkpoint: tuple[str, str] | None = None


def record_push_outcome(engine: Engine, crm: str, outcome: PushOutcome) -> None:
    """Record one chunk's outcome in one transaction."""
    with engine.begin() as connection:
        if outcome.checkpoint is not None:
            write_cursor(connection, *outcome.checkpoint)
        if outcome.dead_links:
            connection.execute(
                sa.delete(identities).where(
                    identities.c.namespace == crm, identities.c.value.in_(outcome.dead_links)
                )
            )
        for rows in (outcome.written, outcome.missing):
            if not rows:
                continue
            statement = dialect_insert(connection.dialect, pushed_state)
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[pushed_state.c.crm, pushed_state.c.contact_id],
                    set_={
                        "fields": statement.excluded.fields,
                        "pushed_at": statement.excluded.pushed_at,
                    },
                ),
                rows,
            )
        if outcome.new_ids:
            connection.execute(
                dialect_insert(connection.dialect, identities).on_conflict_do_nothing(),
                outcome.new_ids,
            )
        if outcome.rejected:
            connection.execute(
                dialect_insert(connection.dialect, rejects).on_conflict_do_nothing(),
                outcome.rejected,
            )


def reject_row(crm: str, record: CrmRecordWrite, reason: str, now: datetime) -> dict[str, object]:
    """The rejects row of a record ``crm`` refused."""
    raw = orjson.dumps(
        {"email": record.email, "id": record.crm_id, "fields": dict(record.fields)}
    ).decode()
    location = f"contact {record.email or record.contact_id}"
    # The same refusal of the same write is one reject, however many pushes see it.
    fingerprint = hashlib.blake2b(
        f"{location}\0{reason}\0{raw}".encode(), digest_size=16
    ).hexdigest()
    return {
        "run_id": None,
        "source": f"push:{crm}",
        "location": location,
        "line": None,
        "reason": reason,
        "raw": raw,
        "fingerprint": fingerprint,
        "created_at": now,
    }
