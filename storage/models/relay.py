"""Relay to the home township: the service catalogue, agency requests with their steps and materials,
and applications to join the party (入党申请) with their stages."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.crypto import EncryptedJSON, EncryptedString
from storage.models.base import Base, BigId, UTCDateTime, utcnow

__all__ = [
    "OPEN_STATES",
    "RUNNING_STATES",
    "STAGE_ORDER",
    "ApplicationStage",
    "ItemKind",
    "JoinApplication",
    "JoinStageEvent",
    "ReceiptCounter",
    "RequestAttachment",
    "RequestEvent",
    "RequestState",
    "ServiceItem",
    "ServiceRequest",
]


class ItemKind(enum.StrEnum):
    FULL = "full"  # 全程代理: handled without the person appearing
    CONSULT = "consult"  # 咨询服务: answered; the person must appear, or approval lies elsewhere


class RequestState(enum.StrEnum):
    SUBMITTED = "submitted"  # 待受理
    MISSING = "missing"  # 待补材料: the agent sent a list of missing materials
    ACCEPTED = "accepted"  # 已受理: receipt issued, promised deadline running
    FORWARDED = "forwarded"  # 已转镇代理中心
    COMPLETED = "completed"  # 已办结
    REFUSED = "refused"  # 不予办理, with a written reason
    ANSWERED = "answered"  # 已答复 (consultation)
    WITHDRAWN = "withdrawn"  # 已撤回 by the member


OPEN_STATES = frozenset(
    {RequestState.SUBMITTED, RequestState.MISSING, RequestState.ACCEPTED, RequestState.FORWARDED}
)
# The promised deadline runs while the township holds the file after issuing the receipt.
RUNNING_STATES = frozenset({RequestState.ACCEPTED, RequestState.FORWARDED})


class ApplicationStage(enum.StrEnum):
    APPLIED = "applied"  # 申请
    ACTIVIST = "activist"  # 积极分子
    CANDIDATE = "candidate"  # 发展对象
    PROBATIONARY = "probationary"  # 预备党员
    FULL = "full"  # 正式党员


STAGE_ORDER: tuple[ApplicationStage, ...] = tuple(ApplicationStage)


class ServiceItem(Base):
    """One item of a township's catalogue: what can be handled, with which materials, in how many days."""

    __tablename__ = "relay_item"
    __table_args__ = (UniqueConstraint("township_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = mapped_column(ForeignKey("township.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default=ItemKind.FULL)
    materials: Mapped[list[str]] = mapped_column(JSON, default=list)
    promised_days: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ServiceRequest(Base):
    """A member's request to the home township, from submission to its reply."""

    __tablename__ = "relay_request"
    __table_args__ = (
        Index("ix_relay_request_township_state", "township_id", "state"),
        Index("ix_relay_request_branch_state", "branch_id", "state"),
        Index("ix_relay_request_state_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("relay_item.id"))
    township_id: Mapped[int] = mapped_column(ForeignKey("township.id"))
    # The host branch of the member when they asked: its secretary follows the request.
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=RequestState.SUBMITTED)
    # Each "missing materials" round increments this; it keys the round's events and materials.
    round: Mapped[int] = mapped_column(Integer, default=1)
    receipt_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    promised_days: Mapped[int | None] = mapped_column(Integer)  # the item's promise when accepted
    due_on: Mapped[date | None] = mapped_column(Date)
    # The instant the promised deadline passes: the end of `due_on` in the deployment's time zone.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    tz: Mapped[str | None] = mapped_column(String(64))  # the zone the deadline was set in (chases use it)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handled_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    missing: Mapped[list[str] | None] = mapped_column(EncryptedJSON())
    result_text: Mapped[str | None] = mapped_column(EncryptedString())
    reason: Mapped[str | None] = mapped_column(EncryptedString())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class RequestEvent(Base):
    """One step of a request; (request, key) is the business key that makes each step happen once."""

    __tablename__ = "relay_event"
    __table_args__ = (UniqueConstraint("request_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("relay_request.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(32))  # "submit", "accept", "missing:1", "resubmit:2", ...
    state: Mapped[str] = mapped_column(String(16))  # the state after the step
    actor_person_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    note: Mapped[str | None] = mapped_column(EncryptedString())


class RequestAttachment(Base):
    """A material sent by the member, or the agent's result file: Telegram file ids survive restarts."""

    __tablename__ = "relay_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("relay_request.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="material")  # material | result
    round: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[str] = mapped_column(String(16))  # text | photo | document
    file_id: Mapped[str | None] = mapped_column(String(255))
    filename: Mapped[str | None] = mapped_column(EncryptedString())
    mime: Mapped[str | None] = mapped_column(String(100))
    text: Mapped[str | None] = mapped_column(EncryptedString())
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReceiptCounter(Base):
    """The last receipt number given per township and year (a row lock serialises concurrent accepts)."""

    __tablename__ = "relay_receipt_counter"

    township_id: Mapped[int] = mapped_column(
        ForeignKey("township.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class JoinApplication(Base):
    """An application to join the party from a person who is not a member."""

    __tablename__ = "join_application"
    __table_args__ = (Index("ix_join_application_branch_stage", "branch_id", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), unique=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    township_id: Mapped[int] = mapped_column(ForeignKey("township.id"))
    name: Mapped[str] = mapped_column(EncryptedString())
    phone: Mapped[str] = mapped_column(EncryptedString())
    birth_date: Mapped[str] = mapped_column(EncryptedString())  # ISO date, encrypted like other personal data
    letter_kind: Mapped[str] = mapped_column(String(16))  # text | photo | document
    letter_text: Mapped[str | None] = mapped_column(EncryptedString())
    letter_file_id: Mapped[str | None] = mapped_column(String(255))
    letter_filename: Mapped[str | None] = mapped_column(EncryptedString())
    letter_mime: Mapped[str | None] = mapped_column(String(100))
    stage: Mapped[str] = mapped_column(String(16), default=ApplicationStage.APPLIED)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # 发展党员工作细则 art. 7: someone talks with the applicant within one month.
    talk_due_on: Mapped[date] = mapped_column(Date)
    talk_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    talk_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    talk_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    stage_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class JoinStageEvent(Base):
    """When an application reached a stage; (application, stage) makes each stage happen once."""

    __tablename__ = "join_stage_event"
    __table_args__ = (UniqueConstraint("application_id", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("join_application.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(16))
    actor_person_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
