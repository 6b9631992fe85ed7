"""crm reads: when leadsync last read each contact from each CRM, so a push can tell
whether the stage read there or its own last write is the newer news

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crm_reads",
        sa.Column("crm", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_crm_reads_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("crm", "contact_id", name=op.f("pk_crm_reads")),
    )


def downgrade() -> None:
    op.drop_table("crm_reads")
