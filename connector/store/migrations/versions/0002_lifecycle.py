"""lifecycle: the stage machine's memory on scores, the stage history, the 0-100 score,
when time alone changes a score

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("normalised_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("stage_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("recycled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("seen_sales_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("seen_sales_stage", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("seen_bant_complete", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("rescore_after", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_scores_rescore_after"), ["rescore_after"])
    op.create_table(
        "stage_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_stage", sa.String(length=16), nullable=False),
        sa.Column("to_stage", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_stage_history_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_history")),
    )
    with op.batch_alter_table("stage_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stage_history_contact_id"), ["contact_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("stage_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stage_history_contact_id"))
    op.drop_table("stage_history")
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scores_rescore_after"))
        batch_op.drop_column("rescore_after")
        batch_op.drop_column("seen_bant_complete")
        batch_op.drop_column("seen_sales_stage")
        batch_op.drop_column("seen_sales_status")
        batch_op.drop_column("recycled_at")
        batch_op.drop_column("stage_since")
        batch_op.drop_column("normalised_score")
