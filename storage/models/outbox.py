"""The outbox: every message the bot starts, written in the same transaction as the change behind it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.crypto import EncryptedJSON
from storage.models.base import Base, BigId, UTCDateTime, utcnow


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"  # a timeout after the request left: maybe delivered, never resent blindly
    CANCELLED = "cancelled"


class Priority(enum.IntEnum):
    """Lower goes first: people waiting for an answer before bulk notices."""

    INTERACTIVE = 0
    NOTIFICATION = 10
    REMINDER = 20
    BULK = 30


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        # One message per (source, chat): a repeated enqueue of the same business event is a no-op.
        UniqueConstraint("source", "chat_id"),
        Index("ix_outbox_due", "status", "priority", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())
    priority: Mapped[int] = mapped_column(Integer, default=Priority.NOTIFICATION)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(64))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SenderInstance(Base):
    """A running outbox sender, for sharing the global rate between instances (PostgreSQL).

    Each sender writes its row at start and refreshes ``heartbeat_at`` every few seconds; the live
    rows (a recent heartbeat) divide the configured rate between them (``bot.delivery.share``).
    """

    __tablename__ = "sender_instance"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
