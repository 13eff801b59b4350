"""Party dues (党费): branch settings, member declarations, opened months, payments and reductions.

Months are stored as the first day of the month (a `Date`), so they sort and compare in SQL on every
database. Money is `Numeric(12, 2)` read back as `Decimal`.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.crypto import EncryptedString
from storage.models.base import Base, UTCDateTime, utcnow

__all__ = [
    "AdjustmentKind",
    "DeclarationReview",
    "DuesAdjustment",
    "DuesDeclaration",
    "DuesMonth",
    "DuesPayment",
    "DuesReport",
    "DuesSettings",
    "PaymentPlace",
    "PaymentStatus",
    "Rounding",
]

Money = Numeric(12, 2, asdecimal=True)


class Rounding(enum.StrEnum):
    FEN = "fen"  # 分, 0.01 (the rule's default)
    JIAO = "jiao"  # 角, 0.1 (a branch may choose it)


class DeclarationReview(enum.StrEnum):
    PENDING = "pending"  # declared by the member, the secretary has not looked yet
    CONFIRMED = "confirmed"  # the secretary agreed with the member's category and base
    OVERRIDDEN = "overridden"  # the secretary set another category or base


class PaymentPlace(enum.StrEnum):
    HOST = "host"  # paid to this (remote-city) branch
    HOME = "home"  # paid at the home village branch: recorded so the host neither chases nor counts it


class PaymentStatus(enum.StrEnum):
    REPORTED = "reported"  # the member says they paid; the secretary has not confirmed receipt
    CONFIRMED = "confirmed"
    REJECTED = "rejected"  # the secretary found no such payment: the month is unpaid again


class AdjustmentKind(enum.StrEnum):
    REDUCED = "reduced"  # 少交
    EXEMPT = "exempt"  # 免交


class DuesSettings(Base):
    """A branch's choices within the rule; a branch without a row uses the defaults."""

    __tablename__ = "dues_settings"

    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id", ondelete="CASCADE"), primary_key=True)
    farmer_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.20"))
    rounding: Mapped[str] = mapped_column(String(8), default=Rounding.FEN)
    quarterly_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    reminder_day: Mapped[int] = mapped_column(Integer, default=10)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))


class DuesDeclaration(Base):
    """What category and base a member pays on from `effective_month` on.

    The member's own words (`declared_*`) are kept beside the values in force (`category`, `base`), which
    the secretary may override: the rule leaves some cases (a migrant wage earner with a rural household
    registration) to the branch.
    """

    __tablename__ = "dues_declaration"
    __table_args__ = (UniqueConstraint("member_id", "effective_month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    effective_month: Mapped[date] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(16))
    base: Mapped[Decimal | None] = mapped_column(Money)
    declared_category: Mapped[str | None] = mapped_column(String(16))
    declared_base: Mapped[Decimal | None] = mapped_column(Money)
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    declared_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    review: Mapped[str] = mapped_column(String(16), default=DeclarationReview.PENDING)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))


class DuesMonth(Base):
    """A month the branch has opened for collection: nobody is reminded of a month before this exists."""

    __tablename__ = "dues_month"
    __table_args__ = (UniqueConstraint("branch_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id", ondelete="CASCADE"))
    month: Mapped[date] = mapped_column(Date)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    opened_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))


class DuesReport(Base):
    """Months reported (or recorded by the secretary) together: one notification, one tap to confirm."""

    __tablename__ = "dues_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))


class DuesPayment(Base):
    """One member-month paid (or reported paid): UNIQUE(member, month) so a month is never counted twice."""

    __tablename__ = "dues_payment"
    __table_args__ = (
        UniqueConstraint("member_id", "month"),
        Index("ix_dues_payment_branch_month", "branch_id", "month"),
        # The reminder tick asks whether a payment was decided (e.g. rejected) since its last run.
        Index("ix_dues_payment_decided_at", "decided_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id", ondelete="CASCADE"))
    month: Mapped[date] = mapped_column(Date)
    # The latest report of this month; a rejected month reported again moves to the new report.
    report_id: Mapped[int] = mapped_column(ForeignKey("dues_report.id", ondelete="CASCADE"), index=True)
    amount_due: Mapped[Decimal] = mapped_column(Money)
    voluntary_extra: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    place: Mapped[str] = mapped_column(String(8), default=PaymentPlace.HOST)
    paid_on: Mapped[date] = mapped_column(Date)
    paid_by: Mapped[str | None] = mapped_column(EncryptedString())  # who paid on the member's behalf (代交)
    status: Mapped[str] = mapped_column(String(16), default=PaymentStatus.REPORTED)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reported_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))


class DuesAdjustment(Base):
    """A branch decision to reduce (少交) or waive (免交) one member-month, with its reason."""

    __tablename__ = "dues_adjustment"
    __table_args__ = (UniqueConstraint("member_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    month: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    reduced_amount: Mapped[Decimal | None] = mapped_column(Money)
    reason: Mapped[str | None] = mapped_column(EncryptedString())
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
