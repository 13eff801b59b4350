"""The official account's outgoing side: each account's customer-service window, and early job reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


class WeChatWindow(Base):
    """How many customer-service messages the bot has sent one account since its last inbound message.

    WeChat allows at most 5 within 48 hours of a member's message; ``inbound_at`` is the
    ``account.last_inbound_at`` the count belongs to, so a newer message starts the count again.
    """

    __tablename__ = "wechat_window"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    inbound_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent: Mapped[int] = mapped_column(Integer, default=0)


class WeChatJobEvent(Base):
    """A TEMPLATESENDJOBFINISH that arrived before the outbox row knew its msgid (the send's answer and
    WeChat's event raced); applied and deleted as soon as the row records the msgid."""

    __tablename__ = "wechat_job_event"

    msgid: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    openid: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
