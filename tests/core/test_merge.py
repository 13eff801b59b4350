"""Merging two people (issue 12): a member who moves from Telegram to WeChat keeps their record and
history; two members of different branches are refused; the admin's command says what it did in one
line, and the audit log records the merge."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.conversation import Sender
from bot.dialog import Inbound
from bot.services.admin import AdminError
from bot.services.merge import merge_people
from bot.services.outbox import route_to
from storage.models import Account, AuditEntry, Member, Person, RoleGrant, ServiceRequest
from tests.harness import BotHarness
from tests.relay.factory import AGENT_A, MEMBER_A, MEMBER_B, add_member, make_world
from tests.relay.helpers import texts

WECHAT = Sender("wechat", "oWeChatMemberA", "oWeChatMemberA", "zh-CN")


async def _world(harness: BotHarness):
    async with harness.session() as session:
        return await make_world(session, harness.clock.now())


async def _on_wechat(harness: BotHarness, inbound: Inbound) -> str:
    reply = await harness.deps.conversation.handle(WECHAT, inbound)
    assert reply is not None
    return "\n".join(s.text for s in reply.screens) + (reply.toast or "")


async def test_a_member_who_moves_to_wechat_keeps_record_and_history(harness: BotHarness) -> None:
    world = await _world(harness)
    await harness.transcript(
        MEMBER_A,
        [
            ("/services", "青山镇"),
            (("press", "户口迁移"), "提交"),
            ("身份证在附件", "共 1 件"),
            (("press", "提交"), "已提交"),
        ],
    )
    # The member writes from WeChat: the bot does not know them there yet.
    assert "报到" in await _on_wechat(harness, Inbound(command="me"))
    async with harness.session() as session:
        newcomer = await session.scalar(
            select(Account.person_id).where(
                Account.channel == "wechat", Account.external_id == WECHAT.external_id
            )
        )
        merged = await merge_people(session, source=f"tg:{MEMBER_A.id}", into=f"wx:{WECHAT.external_id}")
        await session.commit()
    assert merged.person_id == newcomer and merged.removed_person_id == world.person_ids[MEMBER_A.id]
    assert set(merged.accounts) == {f"wechat:{WECHAT.external_id}", f"telegram:{MEMBER_A.id}"}
    assert merged.member_id == world.member_ids[MEMBER_A.id] and merged.branch == "深圳流动党支部"

    async with harness.session() as session:
        person = await session.get(Person, newcomer)
        assert person.chat_id == MEMBER_A.id
        assert await session.get(Person, merged.removed_person_id) is None
        assert (await session.scalar(select(Member).where(Member.person_id == newcomer))).name == "张三"
        assert await session.scalar(select(ServiceRequest.person_id)) == newcomer
        preferred = list(
            await session.scalars(
                select(Account.channel).where(Account.person_id == newcomer, Account.preferred)
            )
        )
        assert preferred == ["wechat"]  # where the member lives now
        assert await route_to(session, person) == {"channel": "wechat", "address": WECHAT.external_id}
        audits = list(
            await session.execute(
                select(AuditEntry.action, AuditEntry.target_id).where(AuditEntry.action.like("person.merge%"))
            )
        )
    assert audits == [("person.merge.from", merged.removed_person_id), ("person.merge.into", newcomer)]

    # Both accounts are the same person now: the record shows on WeChat and on Telegram alike.
    assert "张三" in await _on_wechat(harness, Inbound(command="me"))
    assert "张三" in texts(await harness.send(MEMBER_A, "/me"))
    assert "#1" in await _on_wechat(harness, Inbound(command="requests"))


async def test_members_of_two_branches_are_not_merged(harness: BotHarness) -> None:
    world = await _world(harness)
    async with harness.session() as session:
        with pytest.raises(AdminError) as refused:
            await merge_people(session, source=f"tg:{MEMBER_A.id}", into=f"tg:{MEMBER_B.id}")
        await session.rollback()
    message = str(refused.value)
    assert "深圳流动党支部" in message and "东莞流动党支部" in message and "one branch" in message
    assert "\n" not in message
    async with harness.session() as session:
        assert await session.get(Person, world.person_ids[MEMBER_A.id]) is not None
        assert await session.scalar(select(func.count()).select_from(Member)) == 3
    with pytest.raises(AdminError, match="already the same person"):
        async with harness.session() as session:
            await merge_people(session, source=f"tg:{MEMBER_A.id}", into=str(MEMBER_A.id))
    with pytest.raises(AdminError, match="nobody has the account"):
        async with harness.session() as session:
            await merge_people(session, source="wx:nobody", into=f"tg:{MEMBER_A.id}")


async def test_two_records_in_one_branch_become_the_older_one(harness: BotHarness) -> None:
    world = await _world(harness)
    later = datetime(2030, 1, 1, tzinfo=UTC)
    async with harness.session() as session:
        from tests.factories import TgUser

        again = TgUser(8801, "张三")
        second = await add_member(
            session,
            again,
            branch_id=world.branch_a,
            township_id=world.township_a,
            name="张三",
            phone="+8613800138009",
            at=later,
            state="submitted",
        )
        # The person who stays already holds the same role the other held: it is kept once.
        session.add(RoleGrant(person_id=second.person_id, role="agent", township_id=world.township_a))
        session.add(
            RoleGrant(person_id=world.person_ids[MEMBER_A.id], role="agent", township_id=world.township_a)
        )
        await session.commit()
        merged = await merge_people(session, source=f"tg:{MEMBER_A.id}", into=f"tg:{again.id}")
        await session.commit()
    assert merged.member_id == world.member_ids[MEMBER_A.id]  # the older record
    async with harness.session() as session:
        rows = list(await session.scalars(select(Member).where(Member.branch_id == world.branch_a)))
        assert sorted(m.id for m in rows if m.person_id == merged.person_id) == [
            world.member_ids[MEMBER_A.id]
        ]
        grants = await session.scalar(
            select(func.count()).where(RoleGrant.person_id == merged.person_id, RoleGrant.role == "agent")
        )
        assert grants == 1
        # The person who stays had a Telegram account of their own: it stays theirs.
        assert (await session.get(Person, merged.person_id)).chat_id == again.id
    assert AGENT_A  # the world's agent is untouched
