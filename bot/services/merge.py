"""Merging two people into one (an admin action): a member who moves from Telegram to WeChat writes from
a new account, which the bot first knows as a new person; the admin joins the two, and the member keeps
their record and history.

``--from`` names the person who goes away, ``--into`` the one who stays. Every account of the first
moves to the second (the second's preferred account stays the preferred one: where the member lives
now), and so does everything that points at the first person (member record, roles, requests,
materials, messages, acknowledgements ...): found from the schema's foreign keys, so a new table is
covered without a change here. Where the person who stays already has the same thing (a draft of the
same form, a role they both held) theirs is kept. Two member records in one branch become one, the
older (the other's history moves onto it); two in different branches are refused, because a person
belongs to one branch. The audit log records the merge by ids (``person.merge.from`` and
``person.merge.into``), and is itself left as written: it is append-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, UniqueConstraint, and_, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit
from bot.services.accounts import UserRef, find_person, parse_user_ref
from bot.services.admin import AdminError
from storage.models import Account, Base, Branch, Member, Person
from storage.models.relay import JoinStageEvent, RequestEvent

# Columns that name a person without a foreign key (who did a step): history, moved with the rest.
UNLINKED_PERSON_COLUMNS = (
    RequestEvent.__table__.c.actor_person_id,
    JoinStageEvent.__table__.c.actor_person_id,
)


@dataclass(frozen=True)
class Merged:
    person_id: int  # the person who stays
    removed_person_id: int
    accounts: tuple[str, ...]  # every account of the person now, "channel:external id"
    member_id: int | None
    branch: str | None


def _references(target: Table) -> list[Column[Any]]:
    """Every column of the schema that points at ``target``'s id by a foreign key."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table is target for fk in column.foreign_keys):
                found.append(column)
    return found


def _unique_sets(column: Column[Any]) -> list[list[Column[Any]]]:
    table = column.table
    name = column.name
    sets = [
        list(c.columns)
        for c in table.constraints
        if isinstance(c, UniqueConstraint) and name in c.columns.keys()
    ]
    sets += [list(i.columns) for i in table.indexes if i.unique and name in i.columns.keys()]
    if column.unique:
        sets.append([column])
    return sets


async def _move(session: AsyncSession, column: Column[Any], old: int, new: int) -> int:
    """Point ``column`` from ``old`` to ``new``, except rows whose twin already points at ``new`` (a
    unique key would collide: the row of ``new`` is kept, this one goes with ``old``)."""
    table = column.table
    conditions = [column == old]
    for unique in _unique_sets(column):
        twin = table.alias()
        same = [twin.c[c.name].is_not_distinct_from(c) for c in unique if c is not column]
        conditions.append(~exists().where(twin.c[column.name] == new, *same))
    result = await session.execute(
        update(table)
        .where(and_(*conditions))
        .values({column.name: new})
        .execution_options(synchronize_session=False)
    )
    return max(result.rowcount or 0, 0)


async def _person(session: AsyncSession, text: str | UserRef) -> tuple[Person, UserRef]:
    ref = parse_user_ref(text) if isinstance(text, str) else text
    person = await find_person(session, ref)
    if person is None:
        raise AdminError(f"nobody has the account {ref}: they must write to the bot once first")
    return person, ref


async def merge_people(session: AsyncSession, *, source: str | UserRef, into: str | UserRef) -> Merged:
    """Join the person behind ``source`` to the one behind ``into`` (see the module docstring)."""
    gone, gone_ref = await _person(session, source)
    kept, kept_ref = await _person(session, into)
    if gone.id == kept.id:
        raise AdminError(f"{gone_ref} and {kept_ref} are already the same person ({kept.id})")
    members = list(
        await session.scalars(
            select(Member)
            .where(Member.person_id.in_([gone.id, kept.id]))
            .order_by(Member.created_at, Member.id)
        )
    )
    if len(members) == 2:
        older, newer = members
        if older.branch_id != newer.branch_id:
            names = dict(
                (
                    await session.execute(
                        select(Branch.id, Branch.name).where(
                            Branch.id.in_([older.branch_id, newer.branch_id])
                        )
                    )
                ).all()
            )
            refs = {gone.id: gone_ref, kept.id: kept_ref}
            raise AdminError(
                f"not merged: {refs[older.person_id]} is a member of {names.get(older.branch_id)} and "
                f"{refs[newer.person_id]} of {names.get(newer.branch_id)}; a person belongs to one branch "
                "(have one of them leave their branch first)"
            )
        # One branch, two records (the member reported in again from the new account): the older one
        # stays, with the newer one's history where it does not repeat the older's.
        for column in _references(Member.__table__):
            await _move(session, column, newer.id, older.id)
        await session.execute(delete(Member).where(Member.id == newer.id))
        await session.flush()
    # The private chat moves with its account to the person who stays, when they have none.
    if kept.chat_id is None and gone.chat_id is not None:
        kept.chat_id, kept.unreachable = gone.chat_id, gone.unreachable
    kept.language = kept.language or gone.language
    kept.client_language = kept.client_language or gone.client_language
    kept.created_at = min(kept.created_at, gone.created_at)
    if gone.last_seen_at is not None and (kept.last_seen_at is None or gone.last_seen_at > kept.last_seen_at):
        kept.last_seen_at = gone.last_seen_at
    has_preferred = await session.scalar(
        select(exists().where(Account.person_id == kept.id, Account.preferred.is_(True)))
    )
    if has_preferred:
        await session.execute(
            update(Account)
            .where(Account.person_id == gone.id)
            .values(preferred=False)
            .execution_options(synchronize_session=False)
        )
    await session.flush()
    for column in (*_references(Person.__table__), *UNLINKED_PERSON_COLUMNS):
        await _move(session, column, gone.id, kept.id)
    await session.execute(delete(Person).where(Person.id == gone.id))  # what it still holds repeated kept's
    session.expunge(gone)
    member = await session.scalar(select(Member).where(Member.person_id == kept.id))
    branch = (
        await session.scalar(select(Branch.name).where(Branch.id == member.branch_id)) if member else None
    )
    for action, person_id in (("person.merge.from", gone.id), ("person.merge.into", kept.id)):
        audit.record(
            session,
            actor_person_id=None,
            action=action,
            target_type="person",
            target_id=person_id,
            branch_id=member.branch_id if member else None,
        )
    await session.flush()
    accounts = await session.execute(
        select(Account.channel, Account.external_id).where(Account.person_id == kept.id).order_by(Account.id)
    )
    return Merged(
        person_id=kept.id,
        removed_person_id=gone.id,
        accounts=tuple(str(UserRef(c, e)) for c, e in accounts),
        member_id=member.id if member else None,
        branch=branch,
    )
