"""stage dates in event time: a stage move is dated by the event (or the CRM's change)
that caused it; ``recorded_at`` keeps when the scoring pass recorded it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Moves recorded before this migration were dated by their pass: both times are that.
    with op.batch_alter_table("stage_history") as batch:
        batch.add_column(sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE stage_history SET recorded_at = at")
    with op.batch_alter_table("stage_history") as batch:
        batch.alter_column("recorded_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_index(
        op.f("ix_stage_history_to_stage_at"), "stage_history", ["to_stage", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_stage_history_to_stage_at"), table_name="stage_history")
    with op.batch_alter_table("stage_history") as batch:
        batch.drop_column("recorded_at")
