"""identity joins: an anonymous visitor's events count for the contact a later event tied
its key to, recorded so that the join can be explained and undone

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: both backends add such a column without rewriting the table.
    op.add_column("identities", sa.Column("joined_from", sa.BigInteger(), nullable=True))
    op.add_column("events", sa.Column("joined_from", sa.BigInteger(), nullable=True))
    op.create_table(
        "identity_joins",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("visitor_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=254), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("source_event_id", sa.String(length=200), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unlinked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["visitor_id"], ["contacts.id"], name=op.f("fk_identity_joins_visitor_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_identity_joins_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_joins")),
    )
    op.create_index(
        op.f("ix_identity_joins_visitor_id"), "identity_joins", ["visitor_id"], unique=False
    )
    op.create_index(
        op.f("ix_identity_joins_contact_id"), "identity_joins", ["contact_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_identity_joins_contact_id"), table_name="identity_joins")
    op.drop_index(op.f("ix_identity_joins_visitor_id"), table_name="identity_joins")
    op.drop_table("identity_joins")
    # SQLite drops a column only by copying the table: batch mode does that there.
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("joined_from")
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_column("joined_from")
