"""Reminder occurrences: one row per (kind, subject, period, recipient), the reminder engine's memory.

The UNIQUE key is what makes a reminder happen once: the tick inserts with ON CONFLICT DO NOTHING, so
catching up after downtime, a restart in the middle of a tick or two instances never double a reminder.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, BigId, UTCDateTime, utcnow


class ReminderOccurrence(Base):
    """A reminder that fell due for one person; copied into the outbox in the same transaction."""

    __tablename__ = "reminder_occurrence"
    __table_args__ = (
        # An explicit name: the conventional one would pass PostgreSQL's 63-character limit.
        UniqueConstraint(
            "kind", "subject_type", "subject_id", "period", "person_id", name="uq_reminder_occurrence_key"
        ),
        # The copy step looks for the rows of this transaction that have no outbox row yet.
        Index("ix_reminder_occurrence_enqueued_at", "enqueued_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject_type: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    period: Mapped[str] = mapped_column(String(40))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    tz: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReminderMessage(Base):
    """A group's rendered message, staged for one copy into the outbox and deleted in the same transaction.

    ``batch`` is a random token per transaction, so concurrent ticks and fires never meet here.
    """

    __tablename__ = "reminder_message"
    __table_args__ = (
        UniqueConstraint(
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

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(40))
    subject_type: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    period: Mapped[str] = mapped_column(String(40))
    tz: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    # The group's rendered message, stored once in ``outbox_body``; its outbox rows point there.
    body_id: Mapped[int] = mapped_column(BigId)


class SchedulerState(Base):
    """What the tick remembers between runs: when each reminder kind last ran to the end (``kind:<name>``),
    and the daily retention pass with its cursors (``retention:<what>``)."""

    __tablename__ = "scheduler_state"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    ran_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # a daily kind's next threshold
    cursor: Mapped[int | None] = mapped_column(BigInteger)
