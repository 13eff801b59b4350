"""Heartbeats: when a background part last did its work, kept in SQL so every instance can read it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


class Heartbeat(Base):
    """One row per beat name (``tick``): the last time it ran, how long it took, which instance."""

    __tablename__ = "heartbeat"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    seconds: Mapped[float | None] = mapped_column(Float)
    instance: Mapped[str | None] = mapped_column(String(64))
