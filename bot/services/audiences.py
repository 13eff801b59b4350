"""Who a notice goes to: a small registry of audiences, each a SQL selection of person ids.

An ``Audience`` has

* ``name`` — stored on the notice and put in callback data: short, ``[a-z_]``;
* ``label_key`` — the catalogue key of its button (2–4 Chinese characters);
* ``select(branch_id, param)`` — a ``Select`` of ``person.id`` for the recipients. It is embedded in
  an ``INSERT ... SELECT`` that writes the outbox rows, so it must stay a query (never a Python list
  of members) and must start from ``roster(branch_id)`` so that it never leaves the branch;
* optionally ``choices(session, branch_id)`` — when the audience needs a parameter (a township, a
  month, a study item): the ``Choice(value, label)`` options the secretary picks from. ``value`` is
  a string of at most 24 characters; the service accepts only a value that ``choices`` offers,
  so a forged callback cannot widen the selection.

Adding an audience (for example "dues unpaid for month X" in the dues feature), in the feature's
own service module::

    from bot.services import audiences

    def _dues_unpaid(branch_id: int, param: str | None) -> Select:
        paid = select(DuesPayment.member_id).where(DuesPayment.month == param)
        return audiences.roster(branch_id).where(Member.id.not_in(paid))

    async def _recent_months(session, branch_id):
        return [audiences.Choice("2026-03", "2026年3月"), ...]

    audiences.register(
        audiences.Audience("dues_unpaid", "audience.dues_unpaid", _dues_unpaid, _recent_months)
    )

with ``audience.dues_unpaid`` in the feature's catalogue, and the audience listed in the feature's
``Feature.audiences`` (``bot/flows/notices.py`` lists the built-in ones). Registering at module level
is fine: the composition root imports every feature, and with them their services, before any event
is handled. The /notice audience buttons list the registry in registration order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Member, MemberState, PartyStatus, Township


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


Selector = Callable[[int, str | None], Select]
Chooser = Callable[[AsyncSession, int], Awaitable[list[Choice]]]


@dataclass(frozen=True)
class Audience:
    name: str
    label_key: str
    select: Selector
    choices: Chooser | None = None

    @property
    def needs_param(self) -> bool:
        return self.choices is not None


_REGISTRY: dict[str, Audience] = {}


def register(audience: Audience) -> Audience:
    if not audience.name.replace("_", "").isalpha() or len(audience.name) > 16:
        raise ValueError(f"audience name {audience.name!r}: use up to 16 letters and underscores")
    _REGISTRY[audience.name] = audience
    return audience


def get(name: str) -> Audience | None:
    return _REGISTRY.get(name)


def all_audiences() -> list[Audience]:
    return list(_REGISTRY.values())


def roster(branch_id: int) -> Select:
    """The person ids of the branch's members on the roster (approved): every audience narrows this."""
    return select(Member.person_id).where(Member.branch_id == branch_id, Member.state == MemberState.APPROVED)


def _whole_branch(branch_id: int, param: str | None) -> Select:
    return roster(branch_id)


def _township(branch_id: int, param: str | None) -> Select:
    township_id = int(param) if param and param.isdecimal() and len(param) <= 12 else -1
    return roster(branch_id).where(Member.township_id == township_id)


async def _townships_in_branch(session: AsyncSession, branch_id: int) -> list[Choice]:
    rows = await session.execute(
        select(Township.id, Township.name)
        .where(Township.id.in_(roster(branch_id).with_only_columns(Member.township_id)))
        .order_by(Township.name)
    )
    return [Choice(str(township_id), name) for township_id, name in rows]


def _party_status(status: PartyStatus) -> Selector:
    def selector(branch_id: int, param: str | None) -> Select:
        return roster(branch_id).where(Member.party_status == status)

    return selector


BUILT_IN = (
    register(Audience("all", "audience.all", _whole_branch)),
    register(Audience("township", "audience.township", _township, _townships_in_branch)),
    register(Audience("full", "audience.full", _party_status(PartyStatus.FULL))),
    register(Audience("probationary", "audience.probationary", _party_status(PartyStatus.PROBATIONARY))),
)
