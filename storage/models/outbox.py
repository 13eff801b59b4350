"""The outbox: every message the bot starts, written in the same transaction as the change behind it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, func, select
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

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


class OutboxBody(Base):
    """A message body shared by many outbox rows: a notice or a reminder group is encrypted and stored
    once, and each recipient's row points here instead of carrying its own copy."""

    __tablename__ = "outbox_body"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    payload: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        # One message per (source, chat): a repeated enqueue of the same business event is a no-op.
        UniqueConstraint("source", "chat_id"),
        # Channels other than Telegram address people by text (a web id, an openid): same rule.
        UniqueConstraint("source", "channel", "address"),
        Index("ix_outbox_due", "status", "priority", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[int | None] = mapped_column(BigInteger)  # Telegram's chat; None on other channels
    channel: Mapped[str] = mapped_column(String(16), default="telegram", server_default="telegram")
    address: Mapped[str | None] = mapped_column(String(128))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), index=True)
    # A row's own payload, or NULL when it shares ``body`` (see ``payload`` below). Retention sets both to
    # NULL once a finished row is older than RETENTION_OUTBOX_TEXT_DAYS.
    inline_payload: Mapped[dict[str, Any] | None] = mapped_column("payload", EncryptedJSON(), nullable=True)
    body_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("outbox_body.id"), index=True)
    body: Mapped[OutboxBody | None] = relationship(lazy="joined")
    priority: Mapped[int] = mapped_column(Integer, default=Priority.NOTIFICATION)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(64))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The channel's id of the message once sent (a later edit names it): a Telegram message id, a web
    # message row.
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    # A WeChat template message's msgid, named by its TEMPLATESENDJOBFINISH report (``wechat.delivery``).
    template_msgid: Mapped[int | None] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @hybrid_property
    def payload(self) -> dict[str, Any] | None:
        """What to send: the row's own payload, else the shared body's (None once retention blanked it)."""
        if self.inline_payload is not None:
            return self.inline_payload
        return self.body.payload if self.body is not None else None

    @payload.inplace.setter
    def _payload_setter(self, value: dict[str, Any] | None) -> None:
        self.inline_payload = value

    @payload.inplace.expression
    @classmethod
    def _payload_expression(cls) -> ColumnElement[Any]:
        return outbox_payload()

    @payload.inplace.bulk_dml
    @classmethod
    def _payload_bulk(cls, mapping: dict[str, Any], value: Any) -> None:
        mapping["inline_payload"] = value  # ORM bulk inserts (``insert(OutboxMessage)``) with "payload"

    @payload.inplace.update_expression
    @classmethod
    def _payload_update(cls, value: Any) -> list[tuple[Any, Any]]:
        # ``update(OutboxMessage).values(payload=...)`` (the erasure paths) writes the row's own payload,
        # which then hides a shared body.
        return [(cls.inline_payload, value)]


def outbox_payload(table: Any = None) -> ColumnElement[Any]:
    """SQL for a row's payload: its own, else its shared body's (one scalar subquery, usable in RETURNING)."""
    outbox = OutboxMessage.__table__ if table is None else table
    body = OutboxBody.__table__
    shared = select(body.c.payload).where(body.c.id == outbox.c.body_id).scalar_subquery()
    return func.coalesce(outbox.c.payload, shared, type_=EncryptedJSON())


class SenderInstance(Base):
    """A running outbox sender, for sharing the global rate between instances (PostgreSQL).

    Each sender writes its row at start and refreshes ``heartbeat_at`` every few seconds; the live
    rows (a recent heartbeat) divide the configured rate between them (``bot.delivery.share``).
    """

    __tablename__ = "sender_instance"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
