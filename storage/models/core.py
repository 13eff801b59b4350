"""Organisation and identity: branches, townships, people, roles, audit log, handled updates, drafts."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.crypto import EncryptedJSON
from storage.models.base import Base, BigId, UTCDateTime, utcnow


class Role(enum.StrEnum):
    ADMIN = "admin"
    SECRETARY = "secretary"
    COMMITTEE = "committee"
    AGENT = "agent"


class Branch(Base):
    """A mobile party branch in the host city (流入地)."""

    __tablename__ = "branch"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    city: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    invite_code: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Township(Base):
    """A home township (流出地) whose agents handle relayed requests."""

    __tablename__ = "township"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    villages: Mapped[list[VillageBranch]] = relationship(
        back_populates="township", order_by="VillageBranch.name", cascade="all, delete-orphan"
    )


class VillageBranch(Base):
    """A village party branch in a home township, where members keep their formal affiliation."""

    __tablename__ = "village_branch"
    __table_args__ = (UniqueConstraint("township_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = mapped_column(ForeignKey("township.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))

    township: Mapped[Township] = relationship(back_populates="villages")


class Person(Base):
    """Anyone who talks to the bot, on any channel: who they are there is their accounts (``Account``)."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The private chat the Telegram adapter writes to (None for people off Telegram); set-based fan-outs
    # read it beside the accounts.
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    language: Mapped[str | None] = mapped_column(String(8))
    client_language: Mapped[str | None] = mapped_column(String(16))
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # For making a person with their accounts in one go; never loaded implicitly (query ``Account``).
    accounts: Mapped[list[Account]] = relationship(passive_deletes=True, lazy="raise_on_sql")


class Account(Base):
    """A person's account on one channel (Telegram, the web chat, WeChat): a person may have several.

    ``address`` is where messages to them go on that channel (a private chat id, a web session, an
    openid); ``preferred`` marks the one reminders and notices use; ``last_inbound_at`` is when they
    last wrote on it (WeChat may answer freely only within 48 hours of that).
    """

    __tablename__ = "account"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(String(128))
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    preferred: Mapped[bool] = mapped_column(Boolean, default=False)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RoleGrant(Base):
    """A role of a person, scoped to a branch (secretary, committee) or a township (agent)."""

    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("person_id", "role", "branch_id", "township_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id", ondelete="CASCADE"))
    township_id: Mapped[int | None] = mapped_column(ForeignKey("township.id", ondelete="CASCADE"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditEntry(Base):
    """Append-only: who did what to whom, as ids, never contents."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_person_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(BigInteger)
    result: Mapped[str] = mapped_column(String(16), default="ok")
    branch_id: Mapped[int | None] = mapped_column(BigInteger)


class HandledUpdate(Base):
    """Update ids already processed, so a redelivered update does nothing twice."""

    __tablename__ = "handled_update"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class Draft(Base):
    """A half-filled form, kept in SQL so it survives restarts and days of silence."""

    __tablename__ = "draft"
    __table_args__ = (UniqueConstraint("person_id", "flow"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    flow: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON(), default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
