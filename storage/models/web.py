"""The web channel's messages, and materials (uploaded or generated files) kept by the project."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.crypto import EncryptedJSON, EncryptedString
from storage.models.base import Base, BigId, UTCDateTime, utcnow


class WebMessage(Base):
    """One message the bot showed a person in the web chat; an edit is a new row that `replaces` one.

    Rows are only added, so "everything after row N" is exact for a page that polls.
    """

    __tablename__ = "web_message"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    replaces: Mapped[int | None] = mapped_column(BigId)
    body: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())  # text, buttons, media
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Material(Base):
    """A file kept by the project, encrypted at rest: an upload, or a document or chart the bot made."""

    __tablename__ = "material"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # photo | document
    filename: Mapped[str | None] = mapped_column(EncryptedString())
    mime_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(EncryptedString())  # base64 of the bytes, then encrypted
    uploaded: Mapped[bool] = mapped_column(Boolean, default=False)  # sent by the person (not made by the bot)
    # Copies a channel already holds, only a cache: {"telegram:<bot id>": file id}. A new bot token is
    # another key, so its first send uploads the bytes again.
    channel_cache: Mapped[dict[str, str] | None] = mapped_column(EncryptedJSON())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
