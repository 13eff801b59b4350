"""relay to the home township: agency requests and applications to join (issue 7)

Revision ID: 0006_relay
Revises: 0005_dues
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_relay"
down_revision: str | None = "0005_dues"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "join_application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("township_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("birth_date", sa.Text(), nullable=False),
        sa.Column("letter_kind", sa.String(length=16), nullable=False),
        sa.Column("letter_text", sa.Text(), nullable=True),
        sa.Column("letter_file_id", sa.String(length=255), nullable=True),
        sa.Column("letter_filename", sa.Text(), nullable=True),
        sa.Column("letter_mime", sa.String(length=100), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("talk_due_on", sa.Date(), nullable=False),
        sa.Column("talk_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("talk_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("talk_by_person_id", sa.Integer(), nullable=True),
        sa.Column("stage_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_join_application_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_join_application_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["talk_by_person_id"],
            ["person.id"],
            name=op.f("fk_join_application_talk_by_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["township_id"], ["township.id"], name=op.f("fk_join_application_township_id_township")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_join_application")),
        sa.UniqueConstraint("person_id", name=op.f("uq_join_application_person_id")),
    )
    with op.batch_alter_table("join_application", schema=None) as batch_op:
        batch_op.create_index("ix_join_application_branch_stage", ["branch_id", "stage"], unique=False)

    op.create_table(
        "relay_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("township_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("materials", sa.JSON(), nullable=False),
        sa.Column("promised_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["township_id"],
            ["township.id"],
            name=op.f("fk_relay_item_township_id_township"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_item")),
        sa.UniqueConstraint("township_id", "name", name=op.f("uq_relay_item_township_id_name")),
    )
    with op.batch_alter_table("relay_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_relay_item_township_id"), ["township_id"], unique=False)

    op.create_table(
        "relay_receipt_counter",
        sa.Column("township_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["township_id"],
            ["township.id"],
            name=op.f("fk_relay_receipt_counter_township_id_township"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("township_id", "year", name=op.f("pk_relay_receipt_counter")),
    )
    op.create_table(
        "join_stage_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("actor_person_id", sa.BigInteger(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["join_application.id"],
            name=op.f("fk_join_stage_event_application_id_join_application"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_join_stage_event")),
        sa.UniqueConstraint("application_id", "stage", name=op.f("uq_join_stage_event_application_id_stage")),
    )
    op.create_table(
        "relay_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("township_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("receipt_no", sa.String(length=32), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("promised_days", sa.Integer(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tz", sa.String(length=64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handled_by_person_id", sa.Integer(), nullable=True),
        sa.Column("missing", sa.Text(), nullable=True),
        sa.Column("result_text", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"], name=op.f("fk_relay_request_branch_id_branch")),
        sa.ForeignKeyConstraint(
            ["handled_by_person_id"],
            ["person.id"],
            name=op.f("fk_relay_request_handled_by_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["relay_item.id"], name=op.f("fk_relay_request_item_id_relay_item")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_relay_request_member_id_member"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_relay_request_person_id_person"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["township_id"], ["township.id"], name=op.f("fk_relay_request_township_id_township")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_request")),
        sa.UniqueConstraint("receipt_no", name=op.f("uq_relay_request_receipt_no")),
    )
    with op.batch_alter_table("relay_request", schema=None) as batch_op:
        batch_op.create_index("ix_relay_request_branch_state", ["branch_id", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_relay_request_person_id"), ["person_id"], unique=False)
        batch_op.create_index("ix_relay_request_state_due", ["state", "due_at"], unique=False)
        batch_op.create_index("ix_relay_request_township_state", ["township_id", "state"], unique=False)

    op.create_table(
        "relay_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("file_id", sa.String(length=255), nullable=True),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("mime", sa.String(length=100), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["relay_request.id"],
            name=op.f("fk_relay_attachment_request_id_relay_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_attachment")),
    )
    with op.batch_alter_table("relay_attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_relay_attachment_request_id"), ["request_id"], unique=False)

    op.create_table(
        "relay_event",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("actor_person_id", sa.BigInteger(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["relay_request.id"],
            name=op.f("fk_relay_event_request_id_relay_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_event")),
        sa.UniqueConstraint("request_id", "key", name=op.f("uq_relay_event_request_id_key")),
    )


def downgrade() -> None:
    op.drop_table("relay_event")
    with op.batch_alter_table("relay_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relay_attachment_request_id"))

    op.drop_table("relay_attachment")
    with op.batch_alter_table("relay_request", schema=None) as batch_op:
        batch_op.drop_index("ix_relay_request_township_state")
        batch_op.drop_index("ix_relay_request_state_due")
        batch_op.drop_index(batch_op.f("ix_relay_request_person_id"))
        batch_op.drop_index("ix_relay_request_branch_state")

    op.drop_table("relay_request")
    op.drop_table("join_stage_event")
    op.drop_table("relay_receipt_counter")
    with op.batch_alter_table("relay_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relay_item_township_id"))

    op.drop_table("relay_item")
    with op.batch_alter_table("join_application", schema=None) as batch_op:
        batch_op.drop_index("ix_join_application_branch_stage")

    op.drop_table("join_application")
