"""Administration: branches, townships and their village branches, role grants, invite codes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit
from bot.services.accounts import UserRef, find_person, parse_user_ref, person_for
from storage.models import Branch, Role, RoleGrant, Township, VillageBranch


class AdminError(ValueError):
    """A refused administrative action; the message is one line for the operator."""


@dataclass(frozen=True)
class BranchInfo:
    id: int
    name: str
    city: str
    timezone: str
    invite_code: str


def new_invite_code() -> str:
    # Short enough for a deep link (64 chars max), long enough not to be guessed.
    return secrets.token_urlsafe(12)


async def create_branch(session: AsyncSession, *, name: str, city: str, timezone: str) -> BranchInfo:
    name, city = name.strip(), city.strip()
    if not name or not city:
        raise AdminError("a branch needs a name and a city")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise AdminError(f"unknown time zone {timezone!r} (use a name like Asia/Shanghai)") from None
    if await session.scalar(select(Branch.id).where(Branch.name == name)) is not None:
        raise AdminError(f"a branch named {name!r} exists already")
    branch = Branch(name=name, city=city, timezone=timezone, invite_code=new_invite_code())
    session.add(branch)
    await session.flush()
    audit.record(
        session, actor_person_id=None, action="branch.create", target_type="branch", target_id=branch.id
    )
    return BranchInfo(branch.id, branch.name, branch.city, branch.timezone, branch.invite_code)


async def find_branch(session: AsyncSession, ref: str) -> Branch:
    """A branch by id or by exact name."""
    branch = None
    if ref.isdecimal():
        branch = await session.get(Branch, int(ref))
    if branch is None:
        branch = await session.scalar(select(Branch).where(Branch.name == ref))
    if branch is None:
        raise AdminError(f"no branch {ref!r} (see `branchbot branch list`)")
    return branch


async def find_township(session: AsyncSession, ref: str) -> Township:
    township = None
    if ref.isdecimal():
        township = await session.get(Township, int(ref))
    if township is None:
        township = await session.scalar(select(Township).where(Township.name == ref))
    if township is None:
        raise AdminError(f"no township {ref!r} (see `branchbot township list`)")
    return township


async def list_branches(session: AsyncSession) -> list[BranchInfo]:
    rows = await session.scalars(select(Branch).order_by(Branch.id))
    return [BranchInfo(b.id, b.name, b.city, b.timezone, b.invite_code) for b in rows]


async def add_township(session: AsyncSession, *, name: str, villages: list[str]) -> tuple[int, list[str]]:
    """Create the township if new and add the village branches it does not have yet."""
    name = name.strip()
    if not name:
        raise AdminError("a township needs a name")
    township = await session.scalar(select(Township).where(Township.name == name))
    if township is None:
        township = Township(name=name)
        session.add(township)
        await session.flush()
        audit.record(
            session,
            actor_person_id=None,
            action="township.create",
            target_type="township",
            target_id=township.id,
        )
    existing = set(
        await session.scalars(select(VillageBranch.name).where(VillageBranch.township_id == township.id))
    )
    added = []
    for village in (v.strip() for v in villages):
        if village and village not in existing:
            session.add(VillageBranch(township_id=township.id, name=village))
            existing.add(village)
            added.append(village)
    await session.flush()
    return township.id, added


async def list_townships(session: AsyncSession) -> list[tuple[int, str, list[str]]]:
    townships = list(await session.scalars(select(Township).order_by(Township.id)))
    result = []
    for township in townships:
        names = await session.scalars(
            select(VillageBranch.name)
            .where(VillageBranch.township_id == township.id)
            .order_by(VillageBranch.name)
        )
        result.append((township.id, township.name, list(names)))
    return result


def _ref(user: UserRef | str | int | None) -> UserRef:
    """A person's account: a reference ("wx:<openid>", "tg:123"), or a bare number (a Telegram user)."""
    if user is None:
        raise AdminError("name the person: --user tg:<id>, wx:<openid> or web:<id>")
    return user if isinstance(user, UserRef) else parse_user_ref(str(user))


async def _scope(
    session: AsyncSession, role: Role, branch: str | None, township: str | None
) -> tuple[int | None, int | None]:
    if role in (Role.SECRETARY, Role.COMMITTEE):
        if not branch or township:
            raise AdminError(f"the {role} role needs --branch (and no --township)")
        return (await find_branch(session, branch)).id, None
    if role == Role.AGENT:
        if not township or branch:
            raise AdminError("the agent role needs --township (and no --branch)")
        return None, (await find_township(session, township)).id
    if branch or township:
        raise AdminError("the admin role takes neither --branch nor --township")
    return None, None


async def grant(
    session: AsyncSession,
    *,
    role: Role,
    branch: str | None,
    township: str | None,
    user: UserRef | str | int | None = None,
) -> bool:
    """Give a role to the person behind an account (``user``, see ``_ref``); False if they had it."""
    branch_id, township_id = await _scope(session, role, branch, township)
    person = await person_for(session, _ref(user))
    exists = await session.scalar(
        select(RoleGrant.id).where(
            RoleGrant.person_id == person.id,
            RoleGrant.role == role,
            RoleGrant.branch_id.is_(None) if branch_id is None else RoleGrant.branch_id == branch_id,
            RoleGrant.township_id.is_(None) if township_id is None else RoleGrant.township_id == township_id,
        )
    )
    if exists is not None:
        return False
    session.add(RoleGrant(person_id=person.id, role=role, branch_id=branch_id, township_id=township_id))
    await session.flush()
    audit.record(
        session,
        actor_person_id=None,
        action=f"role.grant.{role}",
        target_type="person",
        target_id=person.id,
        branch_id=branch_id,
    )
    return True


async def revoke(
    session: AsyncSession,
    *,
    role: Role,
    branch: str | None,
    township: str | None,
    user: UserRef | str | int | None = None,
) -> bool:
    """Take a role away; False if the person did not have it."""
    branch_id, township_id = await _scope(session, role, branch, township)
    person = await find_person(session, _ref(user))
    if person is None:
        return False
    result = await session.execute(
        delete(RoleGrant).where(
            RoleGrant.person_id == person.id,
            RoleGrant.role == role,
            RoleGrant.branch_id.is_(None) if branch_id is None else RoleGrant.branch_id == branch_id,
            RoleGrant.township_id.is_(None) if township_id is None else RoleGrant.township_id == township_id,
        )
    )
    if not result.rowcount:
        return False
    audit.record(
        session,
        actor_person_id=None,
        action=f"role.revoke.{role}",
        target_type="person",
        target_id=person.id,
        branch_id=branch_id,
    )
    return True


async def branch_for_invite(session: AsyncSession, code: str) -> Branch | None:
    if not code or len(code) > 64:
        return None
    return await session.scalar(select(Branch).where(Branch.invite_code == code))


def invite_link(bot_username: str, invite_code: str) -> str:
    return f"https://t.me/{bot_username.lstrip('@')}?start=j_{invite_code}"
