"""Applications to join the party: the applicant's own minimal entry, the relay to the branch and the home
township, the one-month talk deadline chased by the reminder engine, and the stages set by the secretary."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.scheduling import kinds_relay
from bot.scheduling.engine import QuietHours, tick
from bot.services.applications import next_stage, talk_deadline
from storage.models import ApplicationStage, AuditEntry, Branch, Draft, JoinApplication, JoinStageEvent
from tests import factories
from tests.factories import TgUser
from tests.harness import BotHarness
from tests.relay.factory import AGENT_A, AGENT_B, MEMBER_A, SECRETARY_A, SECRETARY_B, make_world
from tests.relay.helpers import button, tap, texts

SHANGHAI = ZoneInfo("Asia/Shanghai")
APPLICANT = TgUser(7500, "陈")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


async def _apply(harness: BotHarness, user: TgUser = APPLICANT) -> None:
    """The whole form, with one mistake at each typed step."""
    await harness.transcript(
        user,
        [
            ("/apply", ["年满18周岁", "出生日期"]),
            ("1995/13/40", ["没有这一天", "出生日期"]),
            ("1995-06-18", "姓名"),
            ("   ", ["姓名不能为空", "姓名"]),
            ("陈七", "手机号"),
            ("12345", ["手机号", "请输入您的手机号"]),
            ("138 0013 8000", "家乡是哪个乡镇"),
            ("青山镇", "请点按钮选择"),
            (("press", "青山镇"), "哪个流动党支部"),
            (("press", "深圳流动党支部"), "入党申请书"),
        ],
    )
    calls = await harness.feed(factories.photo_update(user, "photo-letter", caption=None))
    for want in ("请核对", "陈七", "138 0013 8000", "1995-06-18", "青山镇", "深圳流动党支部", "照片"):
        assert want in texts(calls)
    await harness.transcript(user, [(("press", "提交"), ["已提交（#1）", "2026-04-02 前", "当前阶段：申请"])])


async def _world(harness: BotHarness):
    async with harness.session() as session:
        return await make_world(session, harness.clock.now())


async def test_an_application_reaches_the_branch_and_the_home_township(harness: BotHarness) -> None:
    await _world(harness)
    await _apply(harness)
    calls = await harness.deliver()
    to_secretary = [c for c in calls if c.chat_id == SECRETARY_A.id]
    assert "新的入党申请 #1" in to_secretary[0].text and "陈七（30 岁）" in to_secretary[0].text
    assert "2026-04-02 前派人谈话" in to_secretary[0].text
    assert to_secretary[0].button("已谈话") == "jn:talk:1"
    assert to_secretary[1].method == "sendPhoto" and to_secretary[1].params["photo"] == "photo-letter"
    to_agent = texts(calls, AGENT_A)
    assert "本乡镇群众 陈七" in to_agent and "深圳流动党支部" in to_agent
    assert texts(calls, SECRETARY_B) == "" and texts(calls, AGENT_B) == ""
    async with harness.session() as session:
        app = await session.scalar(select(JoinApplication))
        assert (app.talk_due_on, app.stage) == (date(2026, 4, 2), ApplicationStage.APPLIED)
        assert app.talk_due_at == local(2026, 4, 3, 0, 0)

    # The applicant sees their stage, and nothing of members.
    await harness.transcript(APPLICANT, [("/apply", ["已提交入党申请", "申请", "谈话：2026-04-02 前"])])
    for command in ("/branchrequests", "/inbox", "/applicants", "/servicestats"):
        assert "没有权限" in texts(await harness.send(APPLICANT, command))
    assert "已报到的党员" in texts(await harness.send(APPLICANT, "/services"))
    help_text = texts(await harness.send(APPLICANT, "/help"))
    assert "/apply" in help_text and "/applicants" not in help_text and "/inbox" not in help_text


async def test_the_secretary_records_the_talk_and_moves_the_stages(harness: BotHarness) -> None:
    await _world(harness)
    await _apply(harness)
    await harness.deliver()
    await harness.transcript(SECRETARY_A, [("/applicants", ["#1 陈七 · 申请 · 谈话：2026-04-02 前"])])
    calls = await tap(harness, SECRETARY_A, "#1")
    shown = [c for c in calls if c.method != "answerCallbackQuery"]
    assert "138 0013 8000" in shown[0].text and "30 岁" in shown[0].text
    assert shown[1].method == "sendPhoto" and shown[1].params["photo"] == "photo-letter"

    # No stage before the talk, even with forged data; another branch's secretary cannot touch it.
    assert "请先记录谈话" in texts(await harness.press(SECRETARY_A, "jn:stg:1:activist"))
    assert "没有权限" in texts(await harness.press(SECRETARY_B, "jn:talk:1"))
    assert "没有权限" in texts(await harness.press(MEMBER_A, "jn:view:1"))
    assert "没有权限" in texts(await harness.press(APPLICANT, "jn:stg:1:activist"))

    assert "已记录与 陈七" in texts(await tap(harness, SECRETARY_A, "已谈话"))
    assert "已经处理过了" in texts(await harness.press(SECRETARY_A, "jn:talk:1"))
    assert "已改为：积极分子" in texts(await tap(harness, SECRETARY_A, "积极分子"))
    assert "已经处理过了" in texts(await harness.press(SECRETARY_A, "jn:stg:1:activist"))
    assert "已失效" in texts(await harness.press(SECRETARY_A, "jn:stg:1:full"))  # no skipping stages
    calls = await harness.deliver()
    assert "现在是「积极分子」" in texts(calls, APPLICANT)
    assert "进入「积极分子」阶段" in texts(calls, AGENT_A)
    for label in ("发展对象", "预备党员", "正式党员"):
        assert label in texts(await tap(harness, SECRETARY_A, label))
    await harness.transcript(APPLICANT, [("/apply", "正式党员")])
    async with harness.session() as session:
        stages = list(await session.scalars(select(JoinStageEvent.stage).order_by(JoinStageEvent.id)))
        denied = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.result == "denied")
        )
    assert stages == [str(s) for s in ApplicationStage]
    assert denied == 3


async def test_the_talk_deadline_is_chased_until_the_talk(harness: BotHarness) -> None:
    await _world(harness)
    await _apply(harness)
    await harness.deliver()
    quiet = QuietHours.from_settings(harness.settings)

    async def chase_at(*when: int) -> str:
        harness.clock.set(local(*when))
        await tick(harness.db, harness.clock.now(), quiet, kinds_relay.REMINDER_KINDS)
        return texts(await harness.deliver(), SECRETARY_A)

    assert await chase_at(2026, 3, 26, 9, 0) == ""
    assert "还有一周" in await chase_at(2026, 3, 27, 9, 0)
    assert await chase_at(2026, 3, 30, 9, 0) == ""
    assert "最后一天" in await chase_at(2026, 4, 2, 9, 0)
    late = await chase_at(2026, 4, 3, 9, 0)
    assert "谈话已超期" in late and "陈七" in late
    assert button(harness, SECRETARY_A, "已谈话") == "jn:talk:1"
    assert "超期" in texts(await harness.send(SECRETARY_A, "/applicants"))
    await tap(harness, SECRETARY_A, "已谈话")
    assert await chase_at(2026, 4, 10, 9, 0) == ""
    assert texts(await harness.deliver(), SECRETARY_B) == ""


async def test_too_young_and_members_cannot_apply(harness: BotHarness) -> None:
    await _world(harness)
    await harness.transcript(APPLICANT, [("/apply", "出生日期"), ("2010-03-03", "年满18周岁才能申请")])
    async with harness.session() as session:
        assert await session.scalar(select(Draft).where(Draft.flow == "apply")) is None
    await harness.transcript(
        APPLICANT, [("/apply", "出生日期"), ("2099-01-01", "不能在今天之后"), ("2008-03-02", "姓名")]
    )
    await harness.transcript(MEMBER_A, [("/apply", "您已经是党员了")])


async def test_a_contact_must_be_ones_own(harness: BotHarness) -> None:
    await _world(harness)
    await harness.transcript(APPLICANT, [("/apply", "出生日期"), ("1990-01-01", "姓名"), ("陈七", "手机号")])
    assert "只能分享您自己的手机号" in texts(await harness.share_contact(APPLICANT, "+8613800138000", 1234))
    assert "家乡" in texts(await harness.share_contact(APPLICANT, "+86 138 0013 8000", APPLICANT.id))


async def test_the_invite_branch_is_taken_when_they_say_they_are_not_a_member(harness: BotHarness) -> None:
    await _world(harness)
    async with harness.session() as session:
        branch = await session.scalar(select(Branch).where(Branch.name == "东莞流动党支部"))
    applicant = TgUser(7501, "林")
    await harness.send(applicant, f"/start j_{branch.invite_code}")
    await tap(harness, applicant, "不是党员")
    await harness.transcript(
        applicant,
        [
            ("1992-02-29", "姓名"),
            ("林八", "手机号"),
            ("13800138011", "乡镇"),
            (("press", "绿水镇"), "入党申请书"),  # no branch question: the invite's branch is taken
            ("我志愿加入中国共产党……", ["东莞流动党支部", "文字"]),
            (("press", "提交"), "东莞流动党支部将在"),
        ],
    )
    calls = await harness.deliver()
    assert "新的入党申请" in texts(calls, SECRETARY_B) and "我志愿加入中国共产党" in texts(calls, SECRETARY_B)
    assert texts(calls, SECRETARY_A) == ""
    assert "本乡镇群众 林八" in texts(calls, AGENT_B)
    # The report-in form the invite opened is closed: /start no longer offers it.
    async with harness.session() as session:
        assert await session.scalar(select(Draft).where(Draft.flow == "register")) is None


async def test_a_half_filled_application_survives_a_restart(harness: BotHarness) -> None:
    await _world(harness)
    await harness.transcript(APPLICANT, [("/apply", "出生日期"), ("1990-01-01", "姓名")])
    harness = await harness.restart()
    await harness.transcript(APPLICANT, [("陈七", "手机号"), ("/apply", "手机号")])
    await harness.stop()


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_the_talk_deadline_is_one_calendar_month_clamped(day: date) -> None:
    submitted = datetime(day.year, day.month, day.day, 12, 0, tzinfo=SHANGHAI)
    due_on, due_at = talk_deadline(submitted, SHANGHAI)
    months = (due_on.year - day.year) * 12 + due_on.month - day.month
    assert months == 1
    assert due_on.day == min(day.day, calendar.monthrange(due_on.year, due_on.month)[1])
    assert due_at.astimezone(SHANGHAI).date() == date.fromordinal(due_on.toordinal() + 1)
    assert due_at.astimezone(SHANGHAI).hour == 0


@pytest.mark.parametrize(
    ("submitted", "due"),
    [
        (date(2026, 1, 31), date(2026, 2, 28)),
        (date(2028, 1, 31), date(2028, 2, 29)),
        (date(2026, 3, 2), date(2026, 4, 2)),
        (date(2026, 12, 15), date(2027, 1, 15)),
    ],
)
def test_talk_deadline_examples(submitted: date, due: date) -> None:
    moment = datetime(submitted.year, submitted.month, submitted.day, 23, 30, tzinfo=SHANGHAI)
    assert talk_deadline(moment, SHANGHAI)[0] == due


def test_stages_go_one_step_at_a_time() -> None:
    assert [next_stage(s) for s in ApplicationStage] == [
        ApplicationStage.ACTIVIST,
        ApplicationStage.CANDIDATE,
        ApplicationStage.PROBATIONARY,
        ApplicationStage.FULL,
        None,
    ]
    assert next_stage("nonsense") is None
