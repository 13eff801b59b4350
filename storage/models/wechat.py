"""The official-account channel's own bookkeeping: the shared access token and each account's choices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.crypto import EncryptedString
from storage.models.base import Base, UTCDateTime, utcnow


class WeChatToken(Base):
    """The API access token of one app id, shared by every instance (encrypted; never logged)."""

    __tablename__ = "wechat_token"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(EncryptedString())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WeChatChoice(Base):
    """The numbered choices of the last screen sent to an account: choice i is ``choices[i-1]``
    (a button's data, a link, or null for a button that cannot be chosen by number)."""

    __tablename__ = "wechat_choice"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    choices: Mapped[list[Any]] = mapped_column(JSON())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
