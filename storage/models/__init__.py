"""All models, imported here so that `Base.metadata` knows every table (Alembic reads it)."""

from storage.models.base import Base, BigId, UTCDateTime, utcnow
from storage.models.core import (
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
from storage.models.members import Member, MemberState, PartyStatus
from storage.models.outbox import OutboxMessage, OutboxStatus, Priority

# Feature modules add their imports below this line, one per module.

__all__ = [
    "AuditEntry",
    "Base",
    "BigId",
    "Branch",
    "Draft",
    "HandledUpdate",
    "Member",
    "MemberState",
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
