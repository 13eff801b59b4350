"""What the report-in form gains from running on the step engine: stale buttons of a cancelled or
left screen, 修改 that comes back to the confirmation, expiry, and the notice agreed to again."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update

from bot.services.registration import FLOW
from storage.models import ConsentRecord, Draft, MemberState
from tests.factories import TgUser
from tests.registration.helpers import make_world, member_row, play, report_in_steps

USER = TgUser(7301, "小周")
AT_TOWNSHIP, AT_STATUS, AT_SUMMARY = 5, 7, 14


def _answers(calls) -> list[str]:
    return [c.params.get("text") for c in calls if c.method == "answerCallbackQuery"]


async def _drafts(harness) -> int:
    async with harness.session() as session:
        return await session.scalar(select(func.count()).select_from(Draft))


async def test_a_button_of_a_cancelled_form_is_stale(harness) -> None:
    world = await make_world(harness)
    await play(harness, USER, report_in_steps(world.invite_a)[:AT_TOWNSHIP])
    township_screen = harness.fake.last(USER.id)
    await play(harness, USER, [(("press", "取消"), "已取消")])
    calls = await harness.press(USER, township_screen.button("青山镇"))
    assert _answers(calls) == ["这个按钮已失效。"]
    assert await _drafts(harness) == 0
    # 取消 pressed again on the old screen is a double tap, not an error.
    assert _answers(await harness.press(USER, township_screen.button("取消"))) == ["已经处理过了。"]


async def test_a_button_of_an_earlier_question_shows_where_the_form_is(harness) -> None:
    world = await make_world(harness)
    await play(harness, USER, report_in_steps(world.invite_a)[:AT_STATUS])
    township_screen = next(
        c for c in harness.fake.sent(USER.id) if "请选择您的家乡乡镇" in c.text and c.buttons
    )
    calls = await harness.press(USER, township_screen.button("河上镇"))
    assert _answers(calls) == ["这个按钮已失效。"]
    assert "正式党员还是预备党员" in calls[-1].text  # the current question again
    async with harness.session() as session:
        draft = await session.scalar(select(Draft).where(Draft.flow == FLOW))
    assert draft.step == "status" and draft.data["township_id"] == world.qingshan


async def test_each_change_from_the_confirmation_comes_back_to_it(harness) -> None:
    world = await make_world(harness)
    await play(harness, USER, report_in_steps(world.invite_a)[:-1])
    await play(
        harness,
        USER,
        [
            (("press", "改证号"), "活动证"),
            ("ab-1234", ["请核对", "活动证号：AB-1234"]),
            (("press", "改城区"), "哪个区"),
            ("南山区", ["请核对", "所在区：南山区"]),
            (("press", "改单位"), "工作单位"),
            ("顺丰速运", ["请核对", "单位/行业：顺丰速运"]),
            # A status that still fits the date goes straight back, without asking the date again.
            (("press", "改类别"), "正式党员还是预备党员"),
            (("press", "正式党员"), "请核对"),
            # 返回 from a question opened by 修改 is the confirmation again, the answer unchanged.
            (("press", "改姓名"), "姓名"),
            (("press", "返回"), ["请核对", "姓名：王建国"]),
            (("press", "提交"), "已提交"),
        ],
    )
    member = await member_row(harness, USER)
    assert member.activity_card_no == "AB-1234" and member.city_district == "南山区"
    assert member.employer == "顺丰速运" and member.name == "王建国"


async def test_a_draft_left_for_a_month_is_dropped_with_one_message(harness) -> None:
    world = await make_world(harness)
    await play(harness, USER, report_in_steps(world.invite_a)[:AT_TOWNSHIP])
    township_screen = harness.fake.last(USER.id)
    harness.clock.advance(days=31)
    calls = await harness.press(USER, township_screen.button("青山镇"))
    assert "超过 30 天" in calls[-1].text and "邀请链接" in calls[-1].text
    assert await _drafts(harness) == 0
    # The invite link starts afresh.
    await play(harness, USER, [(report_in_steps(world.invite_a)[0][0], "报到须知")])


async def test_a_changed_notice_is_read_and_agreed_to_before_submitting(harness) -> None:
    world = await make_world(harness)
    await play(harness, USER, report_in_steps(world.invite_a)[:-1])
    # The notice's version moved on while the form was open: the agreement on record is the old one's.
    async with harness.session() as session:
        await session.execute(delete(ConsentRecord))
        draft = await session.scalar(select(Draft).where(Draft.flow == FLOW))
        await session.execute(
            update(Draft).where(Draft.id == draft.id).values(data={**draft.data, "consent": "2025-01"})
        )
        await session.commit()
    harness.clock.advance(seconds=5)
    await play(
        harness,
        USER,
        [
            (("press", "提交"), ["报到须知已更新", "请核对"]),
            (("press", "阅读须知"), "报到须知"),
            (("press", "继续"), "敏感个人信息"),
            (("press", "同意"), "请核对"),  # nothing to fill in again
            (("press", "提交"), "已提交"),
        ],
    )
    assert (await member_row(harness, USER)).state == MemberState.PENDING


async def test_the_refusal_screen_offers_the_notice_again(harness) -> None:
    world = await make_world(harness)
    await play(
        harness,
        USER,
        [
            (report_in_steps(world.invite_a)[0][0], "报到须知"),
            (("press", "继续"), "敏感个人信息"),
            (("press", "不同意"), "没有同意"),
            (("press", "重新阅读须知"), "报到须知"),
            (("press", "继续"), "敏感个人信息"),
            (("press", "同意"), "请输入您的姓名"),
        ],
    )
    async with harness.session() as session:
        assert (await session.scalar(select(ConsentRecord))).granted  # the refusal is replaced


def test_the_step_names_the_service_knows_are_the_forms() -> None:
    from bot.flows.registration import FORM
    from bot.services.registration import STEPS
    from bot.steps import CONFIRM

    assert (*FORM.steps, CONFIRM) == STEPS
