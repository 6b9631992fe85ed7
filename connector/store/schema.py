"""The tables, as SQLAlchemy Core objects. Alembic migrations create them; a test proves
the migrations and this module describe the same schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = [
    "contacts",
    "crm_reads",
    "cursors",
    "events",
    "identities",
    "identity_joins",
    "leases",
    "metadata",
    "pushed_state",
    "rejects",
    "runs",
    "scores",
    "stage_history",
    "store_meta",
]

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT at scale.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on both backends.

    SQLite keeps no offset, so values are stored as naive UTC there and given back aware.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass a timezone-aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers give datetimes
            raise TypeError(f"expected a datetime from the store, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("command", sa.String(40), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime()),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("stats", sa.JSON()),
    # The process that holds the run: a run left `running` by a process that is gone is
    # marked `interrupted` by the next command on that host.
    sa.Column("pid", sa.Integer()),
    sa.Column("host", sa.String(255)),
)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # Shown to people; uniqueness of e-mails is kept by identities (namespace "email").
    sa.Column("email", sa.String(254)),
    sa.Column("profile", sa.JSON()),
    # When the profile values were last observed: an older event only fills gaps.
    sa.Column("profile_at", UtcDateTime()),
    # Bumped when the contact's profile changes; scoring compares it with
    # scores.scored_seq, so a change committed during a scoring pass is never lost.
    # New events need no bump: scoring finds them by event id.
    sa.Column("change_seq", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

identities = sa.Table(
    "identities",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("namespace", sa.String(64), nullable=False),
    sa.Column("value", sa.String(254), nullable=False),
    sa.Column("contact_id", sa.BigInteger(), sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("source", sa.String(100)),
    sa.Column("linked_at", UtcDateTime(), nullable=False),
    # The anonymous visitor (a contact) this key was that visitor's before a join moved
    # it to ``contact_id``; NULL: its own. `leadsync identity unlink` moves it back.
    sa.Column("joined_from", sa.BigInteger()),
    sa.UniqueConstraint("namespace", "value"),
    sa.Index(None, "contact_id"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("source_event_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
    sa.Column("contact_id", sa.BigInteger(), sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("url", sa.Text()),
    sa.Column("attributes", sa.JSON()),
    sa.Column("run_id", sa.BigInteger()),
    # As identities.joined_from: the anonymous visitor the event was stored for, before
    # (or, by its visitor key alone, after) a join gave it to ``contact_id``.
    sa.Column("joined_from", sa.BigInteger()),
    sa.UniqueConstraint("source", "source_event_id"),
    sa.Index(None, "contact_id"),
)

# An anonymous visitor (a contact known by browser keys alone) joined to a known contact,
# because an event carried one of its keys beside the contact's e-mail or id: which key,
# which event, when. Kept after `leadsync identity unlink` (``unlinked_at``), so the pair
# is never joined again by ingest and the undoing can be explained too.
identity_joins = sa.Table(
    "identity_joins",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("visitor_id", sa.BigInteger(), sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("contact_id", sa.BigInteger(), sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("namespace", sa.String(64), nullable=False),
    sa.Column("value", sa.String(254), nullable=False),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("source_event_id", sa.String(200), nullable=False),
    sa.Column("joined_at", UtcDateTime(), nullable=False),
    sa.Column("unlinked_at", UtcDateTime()),
    sa.Index(None, "visitor_id"),
    sa.Index(None, "contact_id"),
)

scores = sa.Table(
    "scores",
    metadata,
    sa.Column("contact_id", sa.BigInteger(), sa.ForeignKey("contacts.id"), primary_key=True),
    sa.Column("score", sa.Float(), nullable=False),
    sa.Column("behaviour_score", sa.Float(), nullable=False),
    sa.Column("fit_score", sa.Float(), nullable=False),
    sa.Column("temperature", sa.String(8), nullable=False),
    sa.Column("stage", sa.String(16), nullable=False),
    sa.Column("route", sa.String(16)),
    sa.Column("treatment", sa.String(32)),
    sa.Column("reasons", sa.Text(), nullable=False),
    sa.Column("rules_hash", sa.String(64), nullable=False),
    sa.Column("scored_seq", sa.BigInteger(), nullable=False),
    sa.Column("scored_at", UtcDateTime(), nullable=False),
    # The optional 0-100 score ([scoring] normalised = true).
    sa.Column("normalised_score", sa.Float()),
    # The lifecycle machine's memory (connector.model.LifecycleState).
    sa.Column("stage_since", UtcDateTime()),
    sa.Column("recycled_at", UtcDateTime()),
    sa.Column("seen_sales_status", sa.String(16)),
    sa.Column("seen_sales_stage", sa.String(16)),
    sa.Column("seen_bant_complete", sa.Boolean(), nullable=False, server_default=sa.false()),
    # When a window or decay will change the score with no new event (None: never).
    sa.Column("rescore_after", UtcDateTime()),
    sa.Index(None, "score"),
    sa.Index(None, "rescore_after"),
)

stage_history = sa.Table(
    "stage_history",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("contact_id", sa.BigInteger(), sa.ForeignKey("contacts.id"), nullable=False),
    # When the contact reached to_stage, in event time: the event that crossed the
    # threshold, the CRM's date of the change; ``recorded_at``: the pass that saw it.
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("from_stage", sa.String(16), nullable=False),
    sa.Column("to_stage", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
    sa.Index(None, "contact_id"),
    # KPIs count the contacts that reached a stage in a period.
    sa.Index(None, "to_stage", "at"),
)

rejects = sa.Table(
    "rejects",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.BigInteger()),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("location", sa.Text(), nullable=False),
    sa.Column("line", sa.Integer()),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("raw", sa.Text(), nullable=False),
    # The same bad line read twice is one reject, not two.
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("source", "fingerprint"),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("source", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

pushed_state = sa.Table(
    "pushed_state",
    metadata,
    sa.Column("crm", sa.String(32), primary_key=True),
    sa.Column("contact_id", sa.BigInteger(), sa.ForeignKey("contacts.id"), primary_key=True),
    sa.Column("fields", sa.JSON(), nullable=False),
    sa.Column("pushed_at", UtcDateTime(), nullable=False),
)

# When leadsync last read each contact from each CRM (by its own clock, as pushed_at):
# the stage that read found (the profile's "crm_stage:CRM") is newer news than the last
# write when read after it, and the push plans from it.
crm_reads = sa.Table(
    "crm_reads",
    metadata,
    sa.Column("crm", sa.String(32), primary_key=True),
    sa.Column("contact_id", sa.BigInteger(), sa.ForeignKey("contacts.id"), primary_key=True),
    sa.Column("read_at", UtcDateTime(), nullable=False),
)

# One row per lease (the daemon's: one active daemon per store). A row rather than an
# advisory lock: a host that vanishes without closing its TCP connection would keep a
# PostgreSQL session lock until TCP keepalive gives up (hours); a row expires after
# lease_s whatever happens. Times are the database's clock on PostgreSQL.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(300), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("acquired_at", UtcDateTime(), nullable=False),
    sa.Column("renewed_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
)

store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)
