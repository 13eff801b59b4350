"""reminder engine, activity day and study (issue 5)

Revision ID: 0004_activity
Revises: 0003_registration
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_activity"
down_revision: str | None = "0003_registration"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reminder_occurrence",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=24), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_reminder_occurrence_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_occurrence")),
        sa.UniqueConstraint(
            "kind",
            "subject_type",
            "subject_id",
            "period",
            "person_id",
            name="uq_reminder_occurrence_key",
        ),
    )
    with op.batch_alter_table("reminder_occurrence", schema=None) as batch_op:
        batch_op.create_index("ix_reminder_occurrence_enqueued_at", ["enqueued_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_reminder_occurrence_person_id"), ["person_id"], unique=False)
    op.create_table(
        "activity_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("month_key", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("moved", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_activity_event_branch_id_branch"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_event")),
        sa.UniqueConstraint("branch_id", "month_key", name=op.f("uq_activity_event_branch_id_month_key")),
    )
    op.create_index(op.f("ix_activity_event_starts_at"), "activity_event", ["starts_at"], unique=False)
    op.create_table(
        "activity_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("rule_day", sa.Integer(), nullable=True),
        sa.Column("rule_nth", sa.Integer(), nullable=True),
        sa.Column("rule_weekday", sa.Integer(), nullable=True),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("online_link", sa.String(length=300), nullable=True),
        sa.Column("topic", sa.String(length=200), nullable=True),
        sa.Column("programme", sa.JSON(), nullable=False),
        sa.Column("lead_days", sa.JSON(), nullable=False),
        sa.Column("remind_at", sa.Time(), nullable=False),
        sa.Column("lost_contact_days", sa.Integer(), nullable=False),
        sa.Column("study_backfill_days", sa.Integer(), nullable=False),
        sa.Column("rule_set_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_activity_plan_branch_id_branch"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_person_id"],
            ["person.id"],
            name=op.f("fk_activity_plan_updated_by_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_plan")),
        sa.UniqueConstraint("branch_id", name=op.f("uq_activity_plan_branch_id")),
    )
    op.create_table(
        "study_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("file_id", sa.String(length=200), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by_person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_study_item_branch_id_branch"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["published_by_person_id"],
            ["person.id"],
            name=op.f("fk_study_item_published_by_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_item")),
    )
    op.create_index("ix_study_item_branch_ends", "study_item", ["branch_id", "ends_at"], unique=False)
    op.create_index(op.f("ix_study_item_remind_at"), "study_item", ["remind_at"], unique=False)
    op.create_table(
        "activity_reminder_slot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("lead_days", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["activity_event.id"],
            name=op.f("fk_activity_reminder_slot_event_id_activity_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_reminder_slot")),
        sa.UniqueConstraint(
            "event_id", "lead_days", name=op.f("uq_activity_reminder_slot_event_id_lead_days")
        ),
    )
    op.create_index(
        op.f("ix_activity_reminder_slot_due_at"), "activity_reminder_slot", ["due_at"], unique=False
    )
    op.create_table(
        "activity_attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by_person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["by_person_id"],
            ["person.id"],
            name=op.f("fk_activity_attendance_by_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["activity_event.id"],
            name=op.f("fk_activity_attendance_event_id_activity_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_activity_attendance_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_attendance")),
        sa.UniqueConstraint("event_id", "member_id", name=op.f("uq_activity_attendance_event_id_member_id")),
    )
    op.create_index(
        op.f("ix_activity_attendance_member_id"), "activity_attendance", ["member_id"], unique=False
    )
    op.create_table(
        "activity_rsvp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["activity_event.id"],
            name=op.f("fk_activity_rsvp_event_id_activity_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_activity_rsvp_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_rsvp")),
        sa.UniqueConstraint("event_id", "member_id", name=op.f("uq_activity_rsvp_event_id_member_id")),
    )
    op.create_index(op.f("ix_activity_rsvp_member_id"), "activity_rsvp", ["member_id"], unique=False)
    op.create_table(
        "member_review",
        sa.Column("member_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changes", sa.Text(), nullable=True),
        sa.Column("changes_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_member_review_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_review")),
    )
    op.create_table(
        "orglife_excuse",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("by_person_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_person_id"],
            ["person.id"],
            name=op.f("fk_orglife_excuse_by_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["activity_event.id"],
            name=op.f("fk_orglife_excuse_event_id_activity_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_orglife_excuse_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orglife_excuse")),
        sa.UniqueConstraint("event_id", "member_id", name=op.f("uq_orglife_excuse_event_id_member_id")),
    )
    op.create_index(op.f("ix_orglife_excuse_member_id"), "orglife_excuse", ["member_id"], unique=False)
    op.create_table(
        "study_checkin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("reflection", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["study_item.id"],
            name=op.f("fk_study_checkin_item_id_study_item"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_study_checkin_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_checkin")),
        sa.UniqueConstraint("item_id", "member_id", name=op.f("uq_study_checkin_item_id_member_id")),
    )
    op.create_index(op.f("ix_study_checkin_member_id"), "study_checkin", ["member_id"], unique=False)
    op.create_table(
        "reminder_message",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=24), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_message")),
        sa.UniqueConstraint(
            "batch",
            "kind",
            "subject_type",
            "subject_id",
            "period",
            "tz",
            "language",
            name="uq_reminder_message_key",
        ),
    )


def downgrade() -> None:
    op.drop_table("reminder_message")

    op.drop_index(op.f("ix_study_checkin_member_id"), table_name="study_checkin")
    op.drop_table("study_checkin")
    op.drop_index(op.f("ix_orglife_excuse_member_id"), table_name="orglife_excuse")
    op.drop_table("orglife_excuse")
    op.drop_table("member_review")
    op.drop_index(op.f("ix_activity_rsvp_member_id"), table_name="activity_rsvp")
    op.drop_table("activity_rsvp")
    op.drop_index(op.f("ix_activity_attendance_member_id"), table_name="activity_attendance")
    op.drop_table("activity_attendance")
    op.drop_index(op.f("ix_activity_reminder_slot_due_at"), table_name="activity_reminder_slot")
    op.drop_table("activity_reminder_slot")
    op.drop_index(op.f("ix_study_item_remind_at"), table_name="study_item")
    op.drop_index("ix_study_item_branch_ends", table_name="study_item")
    op.drop_table("study_item")
    op.drop_table("activity_plan")
    op.drop_index(op.f("ix_activity_event_starts_at"), table_name="activity_event")
    op.drop_table("activity_event")
    op.drop_table("reminder_occurrence")
