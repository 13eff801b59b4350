"""Odd input at every step of every activity and study conversation: a clear reply each time, no crash,
and the database still holds at most one answer, sign-in, check-in and excuse per person."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from storage.models.activity import ActivityEvent, ActivityRsvp, OrgLifeExcuse
from storage.models.study import StudyCheckin, StudyItem
from tests import factories
from tests.activity.factory import BranchWorld, local, make_branch, set_plan
from tests.factories import TgUser
from tests.harness import BotHarness

SECRETARY = TgUser(9500, "书记")
A, B = TgUser(9501, "甲"), TgUser(9502, "乙")

ODD_TEXTS = [
    "x" * 2000,
    "\u202e\u200b",
    "🙂🙂🙂",
    "'; DROP TABLE member; --",
    "第\n二\n行",
    "\x00\x07",
    "１２：３０",
    "null",
    "   ",
]


@pytest.fixture
async def world(harness: BotHarness) -> BranchWorld:
    async with harness.session() as session:
        world = await make_branch(
            session, secretary=SECRETARY, members=[A, B], approved_at=datetime(2026, 1, 5, tzinfo=UTC)
        )
    await set_plan(harness, world, rule="15", time="19:00")
    return world


async def _feed_odd(harness: BotHarness, user: TgUser) -> None:
    """Send every odd text, then a photo, a document and a contact; each gets a reply, never an error."""
    updates = [factories.message_update(user, text) for text in ODD_TEXTS if text.strip()]
    updates += [
        factories.photo_update(user),
        factories.document_update(user, caption=None),
        factories.contact_update(user, "+8613800138000", contact_user_id=user.id),
    ]
    for update in updates:
        calls = await harness.feed(update)
        replies = [c for c in calls if c.method == "sendMessage" and c.chat_id == user.id]
        assert replies, update
        assert all("出了点问题" not in c.text for c in replies), update


async def _event_id(harness: BotHarness) -> int:
    async with harness.session() as session:
        return await session.scalar(select(ActivityEvent.id))


@pytest.mark.parametrize("flow", ["leave", "move", "excuse", "details", "publish", "period", "reflection"])
async def test_odd_input_in_every_flow(harness: BotHarness, world: BranchWorld, flow: str) -> None:
    event_id = await _event_id(harness)
    if flow == "leave":
        await harness.press(A, f"act:n:{event_id}")
        await _feed_odd(harness, A)
    elif flow == "move":
        await harness.press(SECRETARY, f"act:v:{event_id}")
        await _feed_odd(harness, SECRETARY)
    elif flow == "excuse":
        await harness.press(SECRETARY, f"act:x:{event_id}:{world.member_ids[B.id]}")
        await _feed_odd(harness, SECRETARY)
    elif flow == "details":
        harness.clock.set(local(2027, 1, 6, 10, 0))
        await harness.press(A, "life:chg:0")
        await _feed_odd(harness, A)
    elif flow in ("publish", "period"):
        await harness.press(SECRETARY, f"stu:p:{world.branch_id}")
        if flow == "period":
            await harness.send(SECRETARY, "学习一篇文章")
        await _feed_odd(harness, SECRETARY)
    else:
        await harness.press(SECRETARY, f"stu:p:{world.branch_id}")
        await harness.send(SECRETARY, "学习一篇文章")
        await harness.press(SECRETARY, "stu:d:7")
        await harness.press(SECRETARY, "stu:go")
        async with harness.session() as session:
            item_id = await session.scalar(select(StudyItem.id))
        await harness.press(A, f"stu:k:{item_id}")
        await harness.press(A, f"stu:r:{item_id}")
        await _feed_odd(harness, A)
    async with harness.session() as session:
        for model, key in ((ActivityRsvp, ActivityRsvp.member_id), (OrgLifeExcuse, OrgLifeExcuse.member_id)):
            counts = (await session.execute(select(key, func.count()).select_from(model).group_by(key))).all()
            assert all(n == 1 for _, n in counts)
        checkins = (
            await session.execute(
                select(StudyCheckin.member_id, func.count()).group_by(StudyCheckin.member_id)
            )
        ).all()
        assert all(n == 1 for _, n in checkins)
        event = await session.get(ActivityEvent, event_id)
        assert event.starts_at > local(2026, 3, 2, 9, 0)  # never moved into the past
