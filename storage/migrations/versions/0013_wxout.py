"""wechat outgoing: template msgids on outbox rows, each account's customer-service window, early job reports

Revision ID: 0012_wxout
Revises: 0012_wechat (chained after wx-core, merged into this branch)
Create Date: 2026-12-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_wxout"
down_revision: str | None = "0012_wechat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template_msgid", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_template_msgid"), ["template_msgid"], unique=False)
    op.create_table(
        "wechat_window",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("inbound_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_wechat_window_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_wechat_window")),
    )
    op.create_table(
        "wechat_job_event",
        sa.Column("msgid", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("openid", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("msgid", name=op.f("pk_wechat_job_event")),
    )
    with op.batch_alter_table("wechat_job_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wechat_job_event_received_at"), ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("wechat_job_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wechat_job_event_received_at"))
    op.drop_table("wechat_job_event")
    op.drop_table("wechat_window")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_template_msgid"))
        batch_op.drop_column("template_msgid")
