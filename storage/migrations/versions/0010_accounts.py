"""accounts: a person reachable on more than one channel (issue 12, first step)

Revision ID: 0010_accounts
Revises: 0009_ops
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_accounts"
down_revision: str | None = "0009_ops"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=True),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("preferred", sa.Boolean(), nullable=False),
        sa.Column("unreachable", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_account_person_id_person"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
        sa.UniqueConstraint("channel", "external_id", name=op.f("uq_account_channel_external_id")),
    )
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_person_id"), ["person_id"], unique=False)
    # Every Telegram user known today becomes one preferred Telegram account.
    op.execute(
        "INSERT INTO account (person_id, channel, external_id, address, last_inbound_at, preferred,"
        " unreachable, created_at)"
        " SELECT id, 'telegram', CAST(telegram_user_id AS VARCHAR(128)), CAST(chat_id AS VARCHAR(128)),"
        " last_seen_at, TRUE, unreachable, created_at FROM person WHERE telegram_user_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_person_id"))
    op.drop_table("account")
