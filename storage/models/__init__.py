"""All models, imported here so that `Base.metadata` knows every table (Alembic reads it).

A feature module adds one import line here (ruff keeps them sorted).
"""

from storage.models.activity import *  # noqa: F403
from storage.models.base import Base, BigId, UTCDateTime, utcnow
from storage.models.broadcast import Notice, NoticeAck  # noqa: F401
from storage.models.core import (
    Account,
    AuditEntry,
    Branch,
    Draft,
    HandledUpdate,
    Person,
    Role,
    RoleGrant,
    Township,
    VillageBranch,
)
from storage.models.dues import *  # noqa: F403
from storage.models.members import Member, MemberState, PartyStatus
from storage.models.ops import Heartbeat  # noqa: F401
from storage.models.outbox import OutboxBody, OutboxMessage, OutboxStatus, Priority, SenderInstance  # noqa: F401
from storage.models.registration import ConsentRecord  # noqa: F401
from storage.models.relay import *  # noqa: F403
from storage.models.scheduling import ReminderOccurrence  # noqa: F401
from storage.models.study import StudyCheckin, StudyItem  # noqa: F401
from storage.models.web import Material, WebMessage  # noqa: F401
from storage.models.wechat import WeChatChoice, WeChatToken  # noqa: F401
from storage.models.wechat_out import WeChatJobEvent, WeChatWindow  # noqa: F401

__all__ = [
    "Account",
    "AuditEntry",
    "Base",
    "BigId",
    "Branch",
    "Draft",
    "HandledUpdate",
    "Member",
    "MemberState",
    "OutboxBody",
    "OutboxMessage",
    "OutboxStatus",
    "PartyStatus",
    "Person",
    "Priority",
    "Role",
    "RoleGrant",
    "Township",
    "UTCDateTime",
    "VillageBranch",
    "utcnow",
]
