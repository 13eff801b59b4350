"""outbox delivery and broadcasts (issue 3)

Revision ID: 0002_delivery
Revises: 0001_foundation
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_delivery"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("author_person_id", sa.Integer(), nullable=True),
        sa.Column("audience", sa.String(length=32), nullable=False),
        sa.Column("audience_param", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("media_kind", sa.String(length=16), nullable=True),
        sa.Column("media_ref", sa.String(length=255), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("progress_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("progress_message_id", sa.BigInteger(), nullable=True),
        sa.Column("progress_seq", sa.Integer(), nullable=False),
        sa.Column("progress_counts", sa.String(length=64), nullable=True),
        sa.Column("progress_edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("followup_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("followup_count", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_person_id"],
            ["person.id"],
            name=op.f("fk_notice_author_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_notice_branch_id_branch"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice")),
    )
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_branch_id"), ["branch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_finished_at"), ["finished_at"], unique=False)

    op.create_table(
        "notice_ack",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notice.id"], name=op.f("fk_notice_ack_notice_id_notice"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_notice_ack_person_id_person"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_ack")),
        sa.UniqueConstraint("notice_id", "person_id", name=op.f("uq_notice_ack_notice_id_person_id")),
    )
    with op.batch_alter_table("notice_ack", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_ack_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notice_ack", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_ack_person_id"))
    op.drop_table("notice_ack")
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_finished_at"))
        batch_op.drop_index(batch_op.f("ix_notice_branch_id"))
    op.drop_table("notice")
