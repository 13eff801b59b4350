"""outbox senders share the global rate: one row per running sender (issue 16)

Revision ID: 0008_sender_lease
Revises: 0007_retention
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_sender_lease"
down_revision: str | None = "0007_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sender_instance",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sender_instance")),
    )
    op.create_index(
        op.f("ix_sender_instance_heartbeat_at"), "sender_instance", ["heartbeat_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sender_instance_heartbeat_at"), table_name="sender_instance")
    op.drop_table("sender_instance")
