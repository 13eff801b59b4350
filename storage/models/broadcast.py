"""Secretary notices (通知) to a branch audience, and the members' 收到 acknowledgements.

A notice's deliveries are its outbox rows (source ``notice:<id>``, one per recipient chat); the
notice row keeps what the secretary wrote, who it went to, and the state of the one progress
message the secretary watches while it is delivered.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.crypto import EncryptedString
from storage.models.base import Base, UTCDateTime, utcnow


class Notice(Base):
    __tablename__ = "notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id", ondelete="CASCADE"), index=True)
    author_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    audience: Mapped[str] = mapped_column(String(32))
    audience_param: Mapped[str | None] = mapped_column(String(32))
    # What the secretary wrote may name people: encrypted like every personal text.
    text: Mapped[str | None] = mapped_column(EncryptedString())
    media_kind: Mapped[str | None] = mapped_column(String(16))
    media_ref: Mapped[str | None] = mapped_column(String(255))
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    # The secretary's progress message, edited (through the outbox) while the notice goes out.
    progress_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_seq: Mapped[int] = mapped_column(Integer, default=0)
    progress_counts: Mapped[str | None] = mapped_column(String(64))
    progress_edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    followup_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    followup_count: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class NoticeAck(Base):
    """One member's 收到 on one notice: the UNIQUE key makes a second tap a no-op."""

    __tablename__ = "notice_ack"
    __table_args__ = (UniqueConstraint("notice_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
