"""The activity day, the yearly check and study check-ins on the conversation core: forged and oversized
button ids are stale, /mydata and /deleteme cover every personal field, and the issue-19 points 2, 5, 6,
13 (the attendance and study sheets) and 18 (a message that can no longer be edited)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.flows.study import clip
from storage.models import OutboxMessage
from storage.models.activity import ActivityEvent, ActivityRsvp, MemberReview, OrgLifeExcuse
from storage.models.study import StudyCheckin, StudyItem
from tests.activity.factory import BranchWorld, local, make_branch, set_plan, texts_to
from tests.factories import TgUser
from tests.fakes import Call
from tests.harness import ADMIN_CHAT_ID, BotHarness

SECRETARY = TgUser(9600, "书记")
A, B = TgUser(9601, "甲"), TgUser(9602, "乙")
INT_MAX = 2**31 - 1


@pytest.fixture
async def world(harness: BotHarness) -> BranchWorld:
    async with harness.session() as session:
        return await make_branch(
            session, secretary=SECRETARY, members=[A, B], approved_at=datetime(2026, 1, 5, tzinfo=UTC)
        )


async def _event_id(harness: BotHarness) -> int:
    async with harness.session() as session:
        return await session.scalar(select(ActivityEvent.id).order_by(ActivityEvent.starts_at))


async def _publish(harness: BotHarness, world: BranchWorld, text: str, days: str = "7天") -> StudyItem:
    await harness.press(SECRETARY, f"stu:p:{world.branch_id}")
    await harness.send(SECRETARY, text)
    await harness.transcript(SECRETARY, [(("press", days), "预览"), (("press", "发布"), "已发布")])
    async with harness.session() as session:
        return await session.scalar(select(StudyItem).order_by(StudyItem.id.desc()))


def _no_error(calls: list[Call]) -> None:
    assert all("出了点问题" not in c.text for c in calls)
    assert all(c.chat_id != ADMIN_CHAT_ID for c in calls)


# -- forged and oversized ids ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        f"act:l:{INT_MAX + 1}",
        f"act:y:{2**63 - 1}",
        f"act:m:1:{2**63}",
        f"act:b:{INT_MAX + 1}",
        "act:e:1:nofield",
        "act:e:1:RULE",
        "act:q:" + "x" * 60,
        f"stu:k:{INT_MAX + 1}",
        "stu:v:99999999999999999999999",
        "stu:d:63",
        "stu:d:0",
        "stu:r:-1",
        "life:ok:99999999",
        "life:chg:x",
        "life:nope:0",
    ],
)
async def test_forged_or_oversized_ids_are_stale_not_a_crash(
    harness: BotHarness, world: BranchWorld, data: str
) -> None:
    for user in (A, SECRETARY):
        calls = await harness.press(user, data)
        assert "按钮已失效" in calls[-1].text, (user, data)
        _no_error(calls)


@pytest.mark.parametrize(
    "data", [f"act:l:{INT_MAX}", f"act:y:{INT_MAX}", f"stu:k:{INT_MAX}", f"stu:v:{INT_MAX}"]
)
async def test_the_largest_id_that_fits_is_looked_up_and_denied(
    harness: BotHarness, world: BranchWorld, data: str
) -> None:
    calls = await harness.press(SECRETARY if ":l:" in data or ":v:" in data else A, data)
    assert "您没有权限" in calls[-1].text
    _no_error(calls)


# -- issue 19.2: a member can switch between 参加 and 请假 ---------------------------------------------


async def test_after_attend_the_member_can_still_switch_to_leave(
    harness: BotHarness, world: BranchWorld
) -> None:
    await set_plan(harness, world, rule="15", time="19:00")
    await harness.transcript(
        A,
        [
            ("/activity", "您的回复：未回复"),
            (("press", "参加"), "已记下您参加 3月15日（周日）19:00 的活动"),
        ],
    )
    assert [b["text"] for row in harness.fake.last(A.id).buttons for b in row] == ["改为请假"]
    await harness.transcript(
        A,
        [
            ("/activity", "您的回复：参加"),
            (("press", "改为请假"), "请简单说一下请假的原因"),
            ("家里有事", "已改为请假"),
            ("/activity", "您的回复：请假"),
            (("press", "改为参加"), "已改为参加"),
        ],
    )
    async with harness.session() as session:
        rsvp = await session.scalar(select(ActivityRsvp))
    assert (rsvp.answer, rsvp.reason) == ("attend", None)


# -- issue 19.5: publishing at night says when the copies go ---------------------------------------


async def test_publishing_in_quiet_hours_says_when_it_will_be_sent(
    harness: BotHarness, world: BranchWorld
) -> None:
    harness.clock.set(local(2026, 3, 2, 23, 0))
    await harness.press(SECRETARY, f"stu:p:{world.branch_id}")
    await harness.send(SECRETARY, "今晚读一篇文章")
    await harness.press(SECRETARY, "stu:d:3")
    calls = await harness.press(SECRETARY, "stu:go")
    text = calls[-1].text
    assert "现在是休息时间，将于 3月3日（周二）07:00 发给全体党员" in text and "已发给全体党员" not in text
    assert await harness.deliver() == []
    harness.clock.set(local(2026, 3, 3, 7, 0))
    calls = await harness.deliver()
    assert [len(texts_to(calls, u)) for u in (A, B)] == [1, 1]
    # In the daytime it goes at once, and says so.
    harness.clock.set(local(2026, 3, 3, 9, 0))
    await harness.press(SECRETARY, f"stu:p:{world.branch_id}")
    await harness.send(SECRETARY, "白天的一篇")
    await harness.press(SECRETARY, "stu:d:3")
    assert "已发布，已发给全体党员" in (await harness.press(SECRETARY, "stu:go"))[-1].text


async def test_moving_the_activity_at_night_says_when_members_are_told(
    harness: BotHarness, world: BranchWorld
) -> None:
    await set_plan(harness, world, rule="15", time="19:00")
    event_id = await _event_id(harness)
    harness.clock.set(local(2026, 3, 10, 22, 30))
    await harness.press(SECRETARY, f"act:v:{event_id}")
    calls = await harness.send(SECRETARY, "3月18日 19:30")
    assert "通知将于 3月11日（周三）07:00 发给全体党员" in calls[-1].text


# -- issue 19.6: study button titles are cut with an ellipsis --------------------------------------


def test_clip_marks_a_cut_title() -> None:
    assert clip("读党章") == "读党章"
    assert clip("一二三四五六七八九十一二") == "一二三四五六七八九十一二"
    assert clip("一二三四五六七八九十一二三") == "一二三四五六七八九十一…"
    assert clip("一二三四五六七八九十…") == "一二三四五六七八九十…"
    assert clip("abcdefghijk…xyz", 12) == "abcdefghijk…"  # never two ellipses


async def test_study_buttons_show_a_cut_title_with_an_ellipsis(
    harness: BotHarness, world: BranchWorld
) -> None:
    await _publish(harness, world, "学习习近平新时代中国特色社会主义思想三十讲第一讲")
    await _publish(harness, world, "读党章")
    labels = [b["text"] for row in (await harness.send(A, "/study"))[-1].buttons for b in row]
    assert labels == ["打卡：读党章", "打卡：学习习近平新时代中国特…"]
    labels = [b["text"] for row in (await harness.send(SECRETARY, "/study"))[-1].buttons for b in row]
    assert "未打卡：学习习近平新时代中国特…" in labels and "未打卡：读党章" in labels


# -- issue 19.13: the attendance and study sheets --------------------------------------------------


async def test_export_sheets_last_day_rate_column_and_print_setup(
    harness: BotHarness, world: BranchWorld
) -> None:
    await set_plan(harness, world, rule="15", time="19:00")
    event_id = await _event_id(harness)
    item = await _publish(harness, world, "学习党章第九条")  # Monday 2 March: told "打卡截至 3月8日"
    await harness.press(A, f"stu:k:{item.id}")
    harness.clock.set(local(2026, 3, 15, 19, 5))
    await harness.press(A, f"act:s:{event_id}")
    calls = await harness.send(SECRETARY, "/export")
    (document,) = [c for c in calls if c.method == "sendDocument"]
    workbook = load_workbook(io.BytesIO(document.files["document"][1]))
    attendance = [[c.value for c in row] for row in workbook["组织生活台账"].iter_rows()]
    headers, total = attendance[0], attendance[-1]
    assert headers[5] == "出勤" and total[5] == "出席1/4，出勤率25.0%"  # March and April
    assert all(value is None for value in total[6:])  # nothing under 签到方式 or 正当理由
    study = [[c.value for c in row] for row in workbook["学习打卡台账"].iter_rows()]
    assert study[0][2] == "截止"
    assert {row[2] for row in study[1:-1]} == {
        datetime(2026, 3, 8)
    }  # a date cell: the last day, not 3-9 00:00
    assert workbook["学习打卡台账"]["C2"].number_format == "yyyy-mm-dd"
    assert study[-1][4] == "已打卡1/2，打卡率50.0%" and study[-1][5] is None
    for ws in workbook.worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0, ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert ws.print_title_rows in ("1:1", "$1:$1"), ws.title


# -- issue 19.18: a message that can no longer be edited -------------------------------------------


async def test_a_button_on_a_message_that_cannot_be_edited_gets_a_new_message(
    harness: BotHarness, world: BranchWorld
) -> None:
    await set_plan(harness, world, rule="15", time="19:00")
    event_id = await _event_id(harness)
    for failure in ("bad_request:message can't be edited", "bad_request:message is not modified"):
        harness.fake.fail(failure, method="editMessageText")
        calls = await harness.press(SECRETARY, f"act:l:{event_id}")
        _no_error(calls)
        if "not modified" in failure:
            assert not [c for c in calls if c.method == "sendMessage"]  # the same screen: nothing to do
        else:
            [sent] = [c for c in calls if c.method == "sendMessage"]
            assert sent.text.startswith("名单 · 3月15日（周日）19:00")


# -- privacy: /mydata and /deleteme ----------------------------------------------------------------


async def _fill_every_personal_field(harness: BotHarness, world: BranchWorld) -> None:
    """A's leave reason, an excuse recorded for A, A's reported changes, a sign-in, a check-in with 心得."""
    await harness.press(A, "life:chg:0")
    await harness.send(A, "换了工作，在浦东的电子厂")
    await set_plan(harness, world, rule="15", time="19:00")
    event_id = await _event_id(harness)
    await harness.press(A, f"act:n:{event_id}")
    await harness.send(A, "出差去外地")
    await harness.press(SECRETARY, f"act:x:{event_id}:{world.member_ids[A.id]}")
    await harness.send(SECRETARY, "单位临时派往外省")
    item = await _publish(harness, world, "学习党章第九条")
    await harness.press(A, f"stu:k:{item.id}")
    await harness.press(A, f"stu:r:{item.id}")
    await harness.send(A, "按时参加组织生活是义务")
    harness.clock.set(local(2026, 3, 15, 19, 5))
    await harness.press(A, f"act:s:{event_id}")


async def test_mydata_has_and_deleteme_erases_every_personal_field(
    harness: BotHarness, world: BranchWorld
) -> None:
    await _fill_every_personal_field(harness, world)
    calls = await harness.send(A, "/mydata")
    (document,) = [c for c in calls if c.method == "sendDocument"]
    data = json.loads(document.files["document"][1])
    day = data["activity_day"]
    assert [(r["answer"], r["leave_reason"]) for r in day["rsvps"]] == [("leave", "出差去外地")]
    assert [s["how"] for s in day["sign_ins"]] == ["self"]
    assert [e["reason"] for e in day["excuses"]] == ["单位临时派往外省"]
    assert [r["changes"] for r in day["yearly_details_check"]] == ["换了工作，在浦东的电子厂"]
    assert [(c["item"], c["reflection"]) for c in data["study_checkins"]] == [
        ("学习党章第九条", "按时参加组织生活是义务")
    ]
    # Nothing of B's.
    (theirs,) = [c for c in await harness.send(B, "/mydata") if c.method == "sendDocument"]
    other = json.loads(theirs.files["document"][1])
    assert other["activity_day"]["rsvps"] == [] and other["study_checkins"] == []

    await harness.deliver()  # the changes reached the secretary: the sent copy must lose them too
    await harness.send(A, "/deleteme")
    await harness.press(A, "self:del")
    member_id = world.member_ids[A.id]
    async with harness.session() as session:
        assert [r.reason for r in await session.scalars(select(ActivityRsvp))] == [None]
        assert [e.reason for e in await session.scalars(select(OrgLifeExcuse))] == [""]
        review = await session.get(MemberReview, member_id)
        assert review.changes is None and review.changes_at is None
        assert [c.reflection for c in await session.scalars(select(StudyCheckin))] == [None]
        notices = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.source.like(f"member:{member_id}:details:%"))
            )
        )
        assert notices and all("电子厂" not in json.dumps(n.payload, ensure_ascii=False) for n in notices)
    # Nothing of it reaches the ledger either.
    calls = await harness.send(SECRETARY, "/export")
    (document,) = [c for c in calls if c.method == "sendDocument"]
    workbook = load_workbook(io.BytesIO(document.files["document"][1]))
    rows = [[c.value for c in row] for row in workbook["组织生活台账"].iter_rows()]
    assert not any("出差去外地" in str(v) or "单位临时派往外省" in str(v) for row in rows for v in row)
    # Erasing twice is harmless.
    await harness.send(A, "/deleteme")


# -- a way back from every screen -----------------------------------------------------------------------


async def test_back_buttons_lead_to_the_overview(harness: BotHarness, world: BranchWorld) -> None:
    await set_plan(harness, world, rule="15", time="19:00")
    overview = "上海流动党支部 · 党员活动日"
    await harness.transcript(
        SECRETARY,
        [
            ("/activity", overview),
            (("press", "取消本次"), "确定取消这次党员活动日吗"),
            (("press", "返回"), overview),
            (("press", "名单"), "名单 · 3月15日（周日）19:00"),
            (("press", "返回"), overview),
            (("press", "往期"), "选择要查看的一次活动"),
            (("press", "返回"), overview),
        ],
    )
    async with harness.session() as session:
        assert await session.scalar(select(ActivityEvent.status).order_by(ActivityEvent.id)) == "scheduled"


async def test_back_from_the_missing_list_leads_to_the_counts(
    harness: BotHarness, world: BranchWorld
) -> None:
    await _publish(harness, world, "读党章")
    await harness.transcript(
        SECRETARY,
        [
            ("/study", "已打卡 0/2"),
            (("press", "未打卡"), "还没打卡的2人：甲、乙"),
            (("press", "返回"), ["学习打卡（只显示人数，不排名）", "已打卡 0/2"]),
        ],
    )
