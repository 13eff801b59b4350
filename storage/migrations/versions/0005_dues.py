"""party dues: declarations, months, payments (issue 6)

Revision ID: 0005_dues
Revises: 0004_activity
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_dues"
down_revision: str | None = "0004_activity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _money() -> sa.Numeric:
    return sa.Numeric(precision=12, scale=2)


def _person_fk(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["person.id"], name=op.f(f"fk_{table}_{column}_person"), ondelete="SET NULL"
    )


def upgrade() -> None:
    op.create_table(
        "dues_settings",
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("farmer_amount", _money(), nullable=False),
        sa.Column("rounding", sa.String(length=8), nullable=False),
        sa.Column("quarterly_allowed", sa.Boolean(), nullable=False),
        sa.Column("reminder_day", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_dues_settings_branch_id_branch"), ondelete="CASCADE"
        ),
        _person_fk("updated_by_person_id", "dues_settings"),
        sa.PrimaryKeyConstraint("branch_id", name=op.f("pk_dues_settings")),
    )

    op.create_table(
        "dues_declaration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("effective_month", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("base", _money(), nullable=True),
        sa.Column("declared_category", sa.String(length=16), nullable=True),
        sa.Column("declared_base", _money(), nullable=True),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("declared_by_person_id", sa.Integer(), nullable=True),
        sa.Column("review", sa.String(length=16), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by_person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_dues_declaration_member_id_member"),
            ondelete="CASCADE",
        ),
        _person_fk("declared_by_person_id", "dues_declaration"),
        _person_fk("reviewed_by_person_id", "dues_declaration"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dues_declaration")),
        sa.UniqueConstraint(
            "member_id", "effective_month", name=op.f("uq_dues_declaration_member_id_effective_month")
        ),
    )
    with op.batch_alter_table("dues_declaration", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dues_declaration_member_id"), ["member_id"], unique=False)

    op.create_table(
        "dues_month",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by_person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_dues_month_branch_id_branch"), ondelete="CASCADE"
        ),
        _person_fk("opened_by_person_id", "dues_month"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dues_month")),
        sa.UniqueConstraint("branch_id", "month", name=op.f("uq_dues_month_branch_id_month")),
    )

    op.create_table(
        "dues_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_dues_report_member_id_member"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_dues_report_branch_id_branch"), ondelete="CASCADE"
        ),
        _person_fk("created_by_person_id", "dues_report"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dues_report")),
    )
    with op.batch_alter_table("dues_report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dues_report_member_id"), ["member_id"], unique=False)

    op.create_table(
        "dues_payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("amount_due", _money(), nullable=False),
        sa.Column("voluntary_extra", _money(), nullable=False),
        sa.Column("place", sa.String(length=8), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("paid_by", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_by_person_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_dues_payment_member_id_member"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_dues_payment_branch_id_branch"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["dues_report.id"],
            name=op.f("fk_dues_payment_report_id_dues_report"),
            ondelete="CASCADE",
        ),
        _person_fk("reported_by_person_id", "dues_payment"),
        _person_fk("decided_by_person_id", "dues_payment"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dues_payment")),
        sa.UniqueConstraint("member_id", "month", name=op.f("uq_dues_payment_member_id_month")),
    )
    with op.batch_alter_table("dues_payment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dues_payment_report_id"), ["report_id"], unique=False)
        batch_op.create_index("ix_dues_payment_branch_month", ["branch_id", "month"], unique=False)

    op.create_table(
        "dues_adjustment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reduced_amount", _money(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_dues_adjustment_member_id_member"), ondelete="CASCADE"
        ),
        _person_fk("decided_by_person_id", "dues_adjustment"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dues_adjustment")),
        sa.UniqueConstraint("member_id", "month", name=op.f("uq_dues_adjustment_member_id_month")),
    )


def downgrade() -> None:
    op.drop_table("dues_adjustment")
    with op.batch_alter_table("dues_payment", schema=None) as batch_op:
        batch_op.drop_index("ix_dues_payment_branch_month")
        batch_op.drop_index(batch_op.f("ix_dues_payment_report_id"))
    op.drop_table("dues_payment")
    with op.batch_alter_table("dues_report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dues_report_member_id"))
    op.drop_table("dues_report")
    op.drop_table("dues_month")
    with op.batch_alter_table("dues_declaration", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dues_declaration_member_id"))
    op.drop_table("dues_declaration")
    op.drop_table("dues_settings")
