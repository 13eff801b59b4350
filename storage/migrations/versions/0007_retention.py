"""short reminder ticks and retention: shared outbox bodies, the scheduler's state (issue 17)

Revision ID: 0007_retention
Revises: 0006_relay
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_retention"
down_revision: str | None = "0006_relay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox_body",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_body")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("payload", existing_type=sa.Text(), nullable=True)
        batch_op.add_column(sa.Column("body_id", BIG_ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_body_id_outbox_body"), "outbox_body", ["body_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_outbox_body_id"), ["body_id"], unique=False)
    # The staging table holds rows only inside a transaction: nothing to keep.
    op.execute("DELETE FROM reminder_message")
    with op.batch_alter_table("reminder_message", schema=None) as batch_op:
        batch_op.drop_column("payload")
        batch_op.add_column(sa.Column("body_id", BIG_ID, nullable=False))
    op.create_table(
        "scheduler_state",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cursor", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_state")),
    )
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.create_index("ix_member_decided_at", ["decided_at"], unique=False)
    with op.batch_alter_table("dues_payment", schema=None) as batch_op:
        batch_op.create_index("ix_dues_payment_decided_at", ["decided_at"], unique=False)
    with op.batch_alter_table("study_item", schema=None) as batch_op:
        batch_op.create_index("ix_study_item_published_at", ["published_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("study_item", schema=None) as batch_op:
        batch_op.drop_index("ix_study_item_published_at")
    with op.batch_alter_table("dues_payment", schema=None) as batch_op:
        batch_op.drop_index("ix_dues_payment_decided_at")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_index("ix_member_decided_at")
    op.drop_table("scheduler_state")
    op.execute("DELETE FROM reminder_message")
    with op.batch_alter_table("reminder_message", schema=None) as batch_op:
        batch_op.drop_column("body_id")
        batch_op.add_column(sa.Column("payload", sa.Text(), nullable=False))
    # Rows that share a body get their own copy back before the bodies go; blanked rows get an empty text.
    op.execute(
        "UPDATE outbox SET payload = (SELECT payload FROM outbox_body WHERE outbox_body.id = outbox.body_id) "
        "WHERE payload IS NULL AND body_id IS NOT NULL"
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_body_id"))
        batch_op.drop_constraint(batch_op.f("fk_outbox_body_id_outbox_body"), type_="foreignkey")
        batch_op.drop_column("body_id")
    op.drop_table("outbox_body")
    # A row blanked by retention has no text left; an empty payload cannot be written without the key,
    # so such rows are removed (their figures were reporting history only).
    op.execute("DELETE FROM outbox WHERE payload IS NULL")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("payload", existing_type=sa.Text(), nullable=False)
