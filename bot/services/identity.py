"""Who is acting: the person behind an incoming message and the roles they hold."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import resolve_language
from storage.models import Member, MemberState, Person, Role, RoleGrant


@dataclass(frozen=True)
class Actor:
    """The acting person with their roles, loaded once per update."""

    person_id: int
    language: str
    grants: frozenset[tuple[str, int | None, int | None]] = field(default_factory=frozenset)
    member_id: int | None = None
    member_branch_id: int | None = None
    member_state: str | None = None

    @property
    def is_admin(self) -> bool:
        return any(role == Role.ADMIN for role, _, _ in self.grants)

    def branches_as(self, *roles: Role) -> set[int]:
        return {branch for role, branch, _ in self.grants if role in roles and branch is not None}

    @property
    def secretary_branches(self) -> set[int]:
        """Branches this person leads: secretaries and committee members share the duties here."""
        return self.branches_as(Role.SECRETARY, Role.COMMITTEE)

    @property
    def agent_townships(self) -> set[int]:
        return {township for role, _, township in self.grants if role == Role.AGENT and township is not None}

    def leads_branch(self, branch_id: int | None) -> bool:
        return branch_id is not None and branch_id in self.secretary_branches

    def agent_of(self, township_id: int | None) -> bool:
        return township_id is not None and township_id in self.agent_townships

    @property
    def is_member(self) -> bool:
        return self.member_state == MemberState.APPROVED

    @property
    def audiences(self) -> set[str]:
        """The command audiences open to this person (used by /help and the command menu)."""
        result = {"everyone"}
        if self.is_member:
            result.add("member")
        else:
            result.add("nonmember")
        if self.secretary_branches:
            result.add("secretary")
        if self.agent_townships:
            result.add("agent")
        if self.is_admin:
            result.add("admin")
        return result


async def load_actor(session: AsyncSession, person: Person) -> Actor:
    member = await session.scalar(select(Member).where(Member.person_id == person.id))
    return await actor_for(session, person, member)


async def actor_for(session: AsyncSession, person: Person, member: Member | None) -> Actor:
    """The actor for a person whose member row (if any) is already loaded: one query for the roles."""
    rows = await session.execute(
        select(RoleGrant.role, RoleGrant.branch_id, RoleGrant.township_id).where(
            RoleGrant.person_id == person.id
        )
    )
    return Actor(
        person_id=person.id,
        language=resolve_language(person.language, person.client_language),
        grants=frozenset((str(role), branch, township) for role, branch, township in rows),
        member_id=member.id if member else None,
        member_branch_id=member.branch_id if member else None,
        member_state=member.state if member else None,
    )


def language_of(person: Person) -> str:
    return resolve_language(person.language, person.client_language)
