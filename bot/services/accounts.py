"""People on channels: parse a user reference ("tg:123", "wx:<openid>", "web:<id>"), find or make the
person behind an account."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, Person

CHANNEL_PREFIXES = {
    "tg": "telegram",
    "telegram": "telegram",
    "wx": "wechat",
    "wechat": "wechat",
    "web": "web",
}
_EXTERNAL = re.compile(r"[A-Za-z0-9_\-.]{1,128}")


class UserRefError(ValueError):
    """A user reference that names no channel or has an impossible id."""


@dataclass(frozen=True)
class UserRef:
    channel: str
    external_id: str

    def __str__(self) -> str:
        return f"{self.channel}:{self.external_id}"


def parse_user_ref(text: str) -> UserRef:
    """ "123" and "tg:123" are Telegram user ids; "wx:<openid>" a WeChat follower; "web:<id>" the web chat."""
    raw = (text or "").strip()
    prefix, sep, rest = raw.partition(":")
    if not sep:
        prefix, rest = "tg", raw
    channel = CHANNEL_PREFIXES.get(prefix.lower())
    if channel is None:
        raise UserRefError(f"unknown channel {prefix!r} (use tg:, wx: or web:)")
    if channel == "telegram":
        if not rest.isdecimal() or not 0 < int(rest) < 2**63:
            raise UserRefError(f"a Telegram user id is a positive number, not {rest!r}")
        return UserRef(channel, str(int(rest)))
    if not _EXTERNAL.fullmatch(rest):
        raise UserRefError(f"not an account id: {rest!r}")
    return UserRef(channel, rest)


async def find_person(session: AsyncSession, ref: UserRef) -> Person | None:
    return await session.scalar(
        select(Person)
        .join(Account, Account.person_id == Person.id)
        .where(Account.channel == ref.channel, Account.external_id == ref.external_id)
    )


async def person_for(session: AsyncSession, ref: UserRef) -> Person:
    """The person behind an account, made (with that account, preferred) if they never wrote yet."""
    person = await find_person(session, ref)
    if person is not None:
        return person
    person = Person()
    if ref.channel == "telegram":
        # Known before their first message: a private chat's id equals the user's id.
        person.chat_id = int(ref.external_id)
    session.add(person)
    await session.flush()
    session.add(
        Account(
            person_id=person.id,
            channel=ref.channel,
            external_id=ref.external_id,
            address=ref.external_id,
            preferred=True,
        )
    )
    await session.flush()
    return person
