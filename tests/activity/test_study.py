"""Study check-ins through the real Application: publish, 打卡, 心得, the gentle reminder, back-fill."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.services import audiences
from storage.models import OutboxMessage
from storage.models.study import StudyCheckin, StudyItem
from tests import factories
from tests.activity.factory import (
    BranchWorld,
    add_member,
    audit_denials,
    local,
    make_branch,
    set_plan,
    texts_to,
    tick_at,
)
from tests.factories import TgUser
from tests.harness import BotHarness

SECRETARY = TgUser(8000, "书记")
A, B, C = TgUser(8001, "甲"), TgUser(8002, "乙"), TgUser(8003, "丙")
OTHER_SECRETARY, OTHER_MEMBER = TgUser(8100, "另书记"), TgUser(8101, "外")


@pytest.fixture
async def world(harness: BotHarness) -> BranchWorld:
    async with harness.session() as session:
        world = await make_branch(
            session, secretary=SECRETARY, members=[A, B, C], approved_at=datetime(2026, 2, 20, tzinfo=UTC)
        )
        await make_branch(
            session,
            name="北京流动党支部",
            secretary=OTHER_SECRETARY,
            members=[OTHER_MEMBER],
            approved_at=datetime(2026, 2, 20, tzinfo=UTC),
        )
        return world


async def _publish(
    harness: BotHarness, text: str = "学习党章第九条 https://example.org/d9", days: str = "7天"
):
    await harness.transcript(
        SECRETARY,
        [
            ("/study", ["学习打卡（只显示人数，不排名）", "目前没有进行中的学习"]),
            (("press", "发布学习"), "请发送学习内容"),
            (text, "学习期几天"),
            (("press", days), "预览"),
            (("press", "发布"), "已发布"),
        ],
    )
    async with harness.session() as session:
        return await session.scalar(select(StudyItem).order_by(StudyItem.id.desc()))


async def test_publish_check_in_reflect_remind_and_back_fill(harness: BotHarness, world: BranchWorld) -> None:
    # Monday 2 March 09:00: a seven-day item runs to the end of Sunday 8 March.
    item = await _publish(harness)
    assert item.ends_at == local(2026, 3, 9, 0, 0)
    assert item.remind_at == local(2026, 3, 8, 8, 0)
    calls = await harness.deliver()
    for user in (A, B, C):
        [text] = texts_to(calls, user)
        assert text.startswith("【学习】") and "学习党章第九条" in text and "打卡截至 3月8日（周日）" in text
    assert texts_to(calls, SECRETARY) == []
    await harness.transcript(
        A,
        [
            (("press", "打卡"), "打卡成功"),
            (("press", "写心得"), "请写下您的心得"),
            ("第九条讲的是党员的权利和义务，要按时参加组织生活。", "心得已保存"),
        ],
    )
    assert "您已经打过卡了" in (await harness.press(A, f"stu:k:{item.id}"))[-1].text
    # The gentle reminder on the last day, only to those not checked in.
    assert await tick_at(harness, local(2026, 3, 8, 7, 59)) == []
    calls = await tick_at(harness, local(2026, 3, 8, 8, 0))
    assert [len(texts_to(calls, u)) for u in (A, B, C)] == [0, 1, 1]
    assert texts_to(calls, B)[0].startswith("【学习提醒】")
    assert await tick_at(harness, local(2026, 3, 8, 20, 0)) == []
    # Back-fill within the branch's window (default 7 days), then closed.
    harness.clock.set(local(2026, 3, 10, 12, 0))
    assert "已补打卡" in (await harness.press(B, f"stu:k:{item.id}"))[-1].text
    harness.clock.set(local(2026, 3, 16, 0, 0))
    assert "已经截止" in (await harness.press(C, f"stu:k:{item.id}"))[-1].text
    async with harness.session() as session:
        rows = {r.member_id: (r.late, r.reflection) for r in await session.scalars(select(StudyCheckin))}
    assert rows == {
        world.member_ids[A.id]: (False, "第九条讲的是党员的权利和义务，要按时参加组织生活。"),
        world.member_ids[B.id]: (True, None),
    }


async def test_the_secretary_sees_counts_and_who_is_missing_never_a_ranking(
    harness: BotHarness, world: BranchWorld
) -> None:
    item = await _publish(harness)
    await harness.press(B, f"stu:k:{item.id}")
    harness.clock.advance(hours=1)
    await harness.press(A, f"stu:k:{item.id}")
    await harness.transcript(
        SECRETARY,
        [
            ("/study", "· 学习党章第九条 https://exa…，截至3月8日（周日）：已打卡 2/3"),
            (("press", "未打卡"), "还没打卡的1人：丙"),
        ],
    )
    overview = (await harness.send(SECRETARY, "/study"))[-1].text
    assert "甲" not in overview and "乙" not in overview  # counts only: no names, no order, no times
    # A member sees their own state only.
    mine = (await harness.send(C, "/study"))[-1].text
    assert "未打卡" in mine and "2/3" not in mine and "甲" not in mine


async def test_back_fill_window_is_a_branch_setting(harness: BotHarness, world: BranchWorld) -> None:
    await set_plan(harness, world, backfill="0")
    item = await _publish(harness, days="3天")
    harness.clock.set(item.ends_at)
    assert "已经截止" in (await harness.press(A, f"stu:k:{item.id}"))[-1].text


async def test_a_short_period_gets_no_reminder(harness: BotHarness, world: BranchWorld) -> None:
    harness.clock.set(local(2026, 3, 2, 21, 0))
    await harness.transcript(SECRETARY, [("/study", "学习打卡"), (("press", "发布学习"), "请发送")])
    await harness.transcript(
        SECRETARY, [("今晚读一篇文章", "学习期几天"), ("1", "预览"), (("press", "发布"), "已发布")]
    )
    async with harness.session() as session:
        item = await session.scalar(select(StudyItem))
    assert item.remind_at is None and item.ends_at == local(2026, 3, 3, 0, 0)


async def test_a_document_item_and_a_late_joiner(harness: BotHarness, world: BranchWorld) -> None:
    await harness.press(SECRETARY, f"stu:p:{world.branch_id}")
    await harness.feed(
        factories.document_update(SECRETARY, file_id="doc-77", file_name="党章.pdf", caption="通读")
    )
    calls = await harness.press(SECRETARY, "stu:d:7")
    assert "党章.pdf" in calls[-1].text
    await harness.press(SECRETARY, "stu:go")
    assert "已经处理过了" in (await harness.press(SECRETARY, "stu:go"))[-1].text  # a double tap
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(StudyItem)) == 1
        rows = list(await session.scalars(select(OutboxMessage)))
    assert len(rows) == 3
    # The file is kept by the project; members get it by the file id this bot already holds.
    assert {(r.payload["media_kind"], r.payload["media_ref"]) for r in rows} == {("document", "material:1")}
    delivered = await harness.deliver()
    assert len(delivered) == 3 and {c.params["document"] for c in delivered} == {"doc-77"}
    # A member approved while the item is open receives it at the next tick, once.
    late = TgUser(8004, "丁")
    async with harness.session() as session:
        await add_member(session, world.branch_id, late, approved_at=harness.clock.now())
        await session.commit()
    calls = await tick_at(harness, local(2026, 3, 3, 9, 0))
    assert [c.chat_id for c in calls] == [late.id]
    assert await tick_at(harness, local(2026, 3, 3, 10, 0)) == []


async def test_bad_content_and_period_are_asked_again(harness: BotHarness, world: BranchWorld) -> None:
    await harness.transcript(
        SECRETARY,
        [
            ("/study", "学习打卡"),
            (("press", "发布学习"), "请发送学习内容"),
            ("x" * 1200, ["内容太长了", "请发送学习内容"]),
            ("学习习近平总书记在某次会议上的讲话", "学习期几天"),
            ("100", ["天数不在允许的范围内", "学习期几天"]),
            ("七天", ["天数不在允许的范围内", "学习期几天"]),
            ("14", "预览（14天）"),
            (("press", "取消"), "已取消"),
        ],
    )
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(StudyItem)) == 0


async def test_forged_study_buttons_are_denied(harness: BotHarness, world: BranchWorld) -> None:
    item = await _publish(harness)
    assert "您没有权限" in (await harness.press(OTHER_MEMBER, f"stu:k:{item.id}"))[-1].text
    assert "您没有权限" in (await harness.press(OTHER_SECRETARY, f"stu:v:{item.id}"))[-1].text
    assert "您没有权限" in (await harness.press(OTHER_SECRETARY, f"stu:p:{world.branch_id}"))[-1].text
    assert "您没有权限" in (await harness.press(B, f"stu:r:{item.id}"))[-1].text  # no check-in of their own
    assert "按钮已失效" in (await harness.press(A, "stu:k:x"))[-1].text
    assert "按钮已失效" in (await harness.press(SECRETARY, "stu:d:7"))[-1].text  # no form open
    assert await audit_denials(harness, "study.checkin") == 1
    assert await audit_denials(harness, "study.view") == 1
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(StudyCheckin)) == 0


async def test_broadcast_audiences_not_checked_in_and_not_signed_in(
    harness: BotHarness, world: BranchWorld
) -> None:
    item = await _publish(harness)
    await harness.press(A, f"stu:k:{item.id}")
    await set_plan(harness, world, time="19:00", rule="2")  # today, Monday 2 March, 19:00
    async with harness.session() as session:
        choices = await audiences.get("not_signed_in").choices(session, world.branch_id)
        assert [c.label for c in choices] == ["2026-04", "2026-03"]  # next month's is planned already
        event_id = int(choices[1].value)
    harness.clock.set(local(2026, 3, 2, 19, 0))
    await harness.press(B, f"act:s:{event_id}")
    async with harness.session() as session:
        item_choices = await audiences.get("not_checked_in").choices(session, world.branch_id)
        assert [c.value for c in item_choices] == [str(item.id)]
        not_checked = set(
            await session.scalars(audiences.get("not_checked_in").select(world.branch_id, str(item.id)))
        )
        not_signed = set(
            await session.scalars(audiences.get("not_signed_in").select(world.branch_id, str(event_id)))
        )
    assert not_checked == {world.person_ids[B.id], world.person_ids[C.id]}
    assert not_signed == {world.person_ids[A.id], world.person_ids[C.id]}
