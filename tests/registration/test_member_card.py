"""A member's card on the roster (issue 19, point 17): dues, this year's activity days and study; remind to
pay or to declare, relay a message, back to the same page in the same order; officers of the branch only.
Everything through the live bot, Chinese asserted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.services import dues
from bot.services.accounts import UserRef, find_person
from bot.services.identity import load_actor
from storage.crypto import keyring
from storage.models import AuditEntry, Draft, Member, MemberState, OutboxMessage
from storage.models.activity import (
    ActivityAttendance,
    ActivityEvent,
    ActivityRsvp,
    EventStatus,
    OrgLifeExcuse,
    RsvpAnswer,
)
from storage.models.dues import DuesMonth
from storage.models.study import StudyCheckin, StudyItem
from tests.factories import TgUser, telegram_person
from tests.registration.helpers import COMMITTEE_A, SECRETARY_A, SECRETARY_B, make_world, play, village_id

SHANGHAI = ZoneInfo("Asia/Shanghai")
WANG = TgUser(8101, "王五")
LI = TgUser(8102, "李四")
DENIED = "您没有权限进行此操作。"


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


def answers(calls) -> list[str]:
    return [c.params.get("text") for c in calls if c.method == "answerCallbackQuery"]


async def add_member(
    harness,
    branch_id: int,
    township_id: int,
    user: TgUser | None,
    name: str,
    *,
    village: int | None = None,
    number: int = 0,
    state: str = MemberState.APPROVED,
) -> int:
    """An approved member (5 January 2026), written straight to the database; ``user`` is who they are
    on Telegram (None: someone the test never speaks as)."""
    approved = local(2026, 1, 5, 10)
    tg_id = user.id if user else 700_000 + number
    phone = f"+86137{tg_id:08d}"
    async with harness.session() as session:
        person = telegram_person(tg_id, created_at=approved, last_seen_at=approved)
        session.add(person)
        await session.flush()
        member = Member(
            person_id=person.id,
            branch_id=branch_id,
            township_id=township_id,
            village_branch_id=village,
            state=state,
            party_status="full",
            name=name,
            phone=phone,
            phone_index=keyring().blind_index(phone),
            joined_party_on=date(2010, 1, 1),
            decided_at=approved,
            created_at=approved,
            revision=1,
        )
        session.add(member)
        await session.commit()
        return member.id


async def history(harness, branch_id: int, wang: int, li: int) -> None:
    """Three months opened; activity days in December (last year), January, February and next week;
    two study items, one of them still open."""
    async with harness.session() as session:
        for month in (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)):
            session.add(DuesMonth(branch_id=branch_id, month=month, opened_at=local(2026, month.month, 1)))
        events = {}
        for key, (year, month, day) in {
            "dec": (2025, 12, 20),
            "jan": (2026, 1, 15),
            "feb": (2026, 2, 15),
            "mar": (2026, 3, 15),
        }.items():
            starts = local(year, month, day, 9)
            event = ActivityEvent(
                branch_id=branch_id,
                month_key=year * 12 + month - 1,
                starts_at=starts,
                ends_at=starts + timedelta(hours=15),
                status=EventStatus.SCHEDULED,
            )
            session.add(event)
            await session.flush()
            events[key] = event.id
        session.add(ActivityAttendance(event_id=events["jan"], member_id=wang, source="self"))
        session.add(ActivityRsvp(event_id=events["feb"], member_id=wang, answer=RsvpAnswer.LEAVE))
        session.add(OrgLifeExcuse(event_id=events["jan"], member_id=li, reason="出差"))
        done = StudyItem(
            branch_id=branch_id,
            text="学习党章第一章",
            starts_at=local(2026, 1, 10),
            ends_at=local(2026, 1, 17),
        )
        still_open = StudyItem(
            branch_id=branch_id, text="学习讲话精神", starts_at=local(2026, 2, 27), ends_at=local(2026, 3, 6)
        )
        session.add_all([done, still_open])
        await session.flush()
        session.add(StudyCheckin(item_id=done.id, member_id=wang))
        await session.commit()


async def li_declares_and_pays(harness, li: int) -> None:
    """李四 declares 3000 a month (15.00 due), pays January (confirmed) and reports February."""
    now = harness.clock.now()
    async with harness.session() as session:
        member = await session.get(Member, li)
        await dues.declare(
            session,
            member_id=li,
            actor_person_id=member.person_id,
            category="employed",
            base=Decimal("3000"),
            effective=None,
            now=now,
        )
        reports = []
        for month in (date(2026, 1, 1), date(2026, 2, 1)):
            outcome = await dues.report_payment(
                session,
                member_id=li,
                actor_person_id=member.person_id,
                months=[month],
                paid_on=date(2026, 3, 1),
                place="host",
                paid_by=None,
                extra=Decimal("0"),
                now=now,
            )
            reports.append(outcome.report_id)
        secretary = await find_person(session, UserRef("telegram", str(SECRETARY_A.id)))
        actor = await load_actor(session, secretary)
        await dues.decide_report(session, report_id=reports[0], actor=actor, confirm=True, now=now)
        await session.commit()


async def setup(harness):
    world = await make_world(harness)
    wang = await add_member(harness, world.branch_a, world.qingshan, WANG, "王五")
    li = await add_member(harness, world.branch_a, world.qingshan, LI, "李四")
    await history(harness, world.branch_a, wang, li)
    return world, wang, li


async def outbox_to(harness, user: TgUser) -> list[OutboxMessage]:
    """The card's reminders and messages to the member (not the dues feature's own notifications)."""
    async with harness.session() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.chat_id == user.id,
                OutboxMessage.source.like("member:%:remind:%") | OutboxMessage.source.like("member:%:msg:%"),
            )
            .order_by(OutboxMessage.id)
        )
        return list(rows)


async def audit_count(harness, action: str, result: str = "ok") -> int:
    async with harness.session() as session:
        return await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.result == result)
        )


async def test_a_card_shows_dues_attendance_and_study(harness) -> None:
    _world, _wang, li = await setup(harness)
    await li_declares_and_pays(harness, li)
    await play(
        harness,
        SECRETARY_A,
        [
            ("/members", ["1. 王五", "2. 李四"]),
            (
                ("press", "1"),
                [
                    "姓名：王五",
                    # never declared: what the months owe is unknown, not zero
                    "党费（近7个月）：已交0个月，欠交3个月",
                    "欠交月份：2026年1月、2026年2月、2026年3月，金额未知（没有申报基数）",
                    "交费类别和基数：未申报",
                    # December was last year and 15 March is still to come
                    "活动日（2026年）：已举行2次，出席1次，请假1次，缺席0次",
                    "学习（2026年）：发布2项，已打卡1项，还有1项可以打卡",
                ],
            ),
        ],
    )
    card = harness.fake.last(SECRETARY_A.id)
    labels = [b["text"] for row in card.buttons for b in row]
    assert labels == ["提醒申报", "发消息", "返回名单"]
    await play(
        harness,
        SECRETARY_A,
        [
            (("press", "返回名单"), ["1. 王五", "2. 李四"]),
            (
                ("press", "2"),
                [
                    "党费（近7个月）：已交2个月（其中1个月待确认），欠交1个月",
                    "欠交月份：2026年3月，共15.00 元",
                    "交费类别：在岗职工，基数3000.00 元，每月应交15.00 元",
                    # January excused by the secretary, February not answered
                    "活动日（2026年）：已举行2次，出席0次，请假1次，缺席1次",
                    "学习（2026年）：发布2项，已打卡0项，还有1项可以打卡",
                ],
            ),
        ],
    )
    assert "催交党费" in str(harness.fake.last(SECRETARY_A.id).buttons)


async def test_a_new_member_card_says_nothing_is_held_yet(harness) -> None:
    world = await make_world(harness)
    member = await add_member(harness, world.branch_a, world.qingshan, WANG, "王五")
    await play(harness, SECRETARY_A, [("/members", "1. 王五")])
    calls = await harness.press(SECRETARY_A, f"ros:v:{member}:all:0:0:i")
    text = calls[-1].text
    assert "党费：支部还没有开放需要交纳的月份" in text
    assert "活动日（2026年）：入册以来还没有举行过" in text
    assert "学习（2026年）：还没有发布学习内容" in text


async def test_remind_to_declare_then_to_pay_once_a_day(harness) -> None:
    _world, _wang, li = await setup(harness)
    await li_declares_and_pays(harness, li)
    await play(
        harness,
        SECRETARY_A,
        [
            ("/members", "王五"),
            (("press", "1"), "交费类别和基数：未申报"),
            (("press", "提醒申报"), ["已提醒王五申报交费类别和基数。", "姓名：王五"]),
        ],
    )
    (row,) = await outbox_to(harness, WANG)
    assert row.payload["text"].startswith("【党费】深圳流动党支部请您申报交费类别和基数")
    assert row.payload["buttons"][0][0]["text"] == "去申报"
    assert row.payload["buttons"][0][0]["data"] == "dues:new"
    again = await harness.press(SECRETARY_A, harness.fake.last(SECRETARY_A.id).button("提醒申报"))
    assert answers(again) == ["今天已经提醒过王五了，明天可以再提醒。"]
    assert len(await outbox_to(harness, WANG)) == 1

    await play(
        harness,
        SECRETARY_A,
        [
            (("press", "返回名单"), "李四"),
            (("press", "2"), "欠交月份：2026年3月，共15.00 元"),
            (("press", "催交党费"), "已提醒李四交党费。"),
        ],
    )
    (row,) = await outbox_to(harness, LI)
    assert row.payload["text"] == (
        "【党费】深圳流动党支部提醒您：2026年3月的党费还没有交，共15.00 元。"
        "交了以后请点“交党费”登记一下，书记确认后就记上了。"
    )
    assert [b["data"] for b in row.payload["buttons"][0]] == ["dues:pay"]
    # The next day the same reminder may go again.
    harness.clock.advance(days=1)
    await harness.press(SECRETARY_A, harness.fake.last(SECRETARY_A.id).button("催交党费"))
    assert len(await outbox_to(harness, LI)) == 2
    assert await audit_count(harness, "roster.remind_declare") == 1
    assert await audit_count(harness, "roster.remind_declare", "already") == 1
    assert await audit_count(harness, "roster.remind_pay") == 2
    delivered = await harness.deliver()
    assert any(c.chat_id == WANG.id and "请您申报交费类别和基数" in c.text for c in delivered)
    assert sum(c.chat_id == LI.id and "2026年3月的党费还没有交" in c.text for c in delivered) == 2


async def test_a_member_with_nothing_to_chase_gets_no_reminder(harness) -> None:
    _world, _wang, li = await setup(harness)
    await li_declares_and_pays(harness, li)
    async with harness.session() as session:  # March paid too: nothing owed any more
        member = await session.get(Member, li)
        outcome = await dues.report_payment(
            session,
            member_id=li,
            actor_person_id=member.person_id,
            months=[date(2026, 3, 1)],
            paid_on=date(2026, 3, 2),
            place="host",
            paid_by=None,
            extra=Decimal("0"),
            now=harness.clock.now(),
        )
        await session.commit()
    assert outcome.report_id
    calls = await harness.press(SECRETARY_A, f"ros:v:{li}:all:0:0:i")
    assert "欠交0个月" in calls[-1].text
    assert "催交党费" not in str(calls[-1].buttons) and "发消息" in str(calls[-1].buttons)
    # An old 催交党费 button (the member paid since) says there is nothing to remind of.
    calls = await harness.press(SECRETARY_A, f"ros:rm:{li}:all:0:0:i")
    assert "李四没有欠交，也已申报基数，不用提醒。" in calls[-1].text
    assert await outbox_to(harness, LI) == []


async def test_an_officer_relays_a_message_and_may_cancel(harness) -> None:
    _world, _wang, _li = await setup(harness)
    await play(
        harness,
        SECRETARY_A,
        [
            ("/members", "王五"),
            (("press", "1"), "姓名：王五"),
            (("press", "发消息"), "请输入要发给王五的话（500字以内），发送后由机器人转给对方。"),
            ("长" * 501, ["太长了，请简短一些。", "请输入要发给王五的话"]),
            ("周六上午九点在支部活动室开会，请准时参加。", "已发给王五。"),
        ],
    )
    assert [b["text"] for b in harness.fake.last(SECRETARY_A.id).buttons[0]] == ["返回详情", "返回名单"]
    (row,) = await outbox_to(harness, WANG)
    assert row.payload["text"] == (
        "【支部消息】深圳流动党支部书记给您发来一条消息：\n\n周六上午九点在支部活动室开会，请准时参加。\n\n"
        "（由机器人转发，直接回复对方收不到；有事请找支部书记。）"
    )
    assert await audit_count(harness, "roster.message") == 1
    # The form is closed: the next text is no message.
    await play(harness, SECRETARY_A, [("再说一句", "/help")])
    assert len(await outbox_to(harness, WANG)) == 1

    # A committee member's message names their role; 返回详情 leaves nothing open and sends nothing.
    await play(
        harness,
        COMMITTEE_A,
        [
            ("/members", "李四"),
            (("press", "2"), "姓名：李四"),
            (("press", "发消息"), "请输入要发给李四的话"),
            (("press", "返回详情"), ["姓名：李四", "党费（近7个月）"]),
        ],
    )
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Draft)) == 0
    await play(
        harness,
        COMMITTEE_A,
        [
            (("press", "发消息"), "请输入要发给李四的话"),
            ("请把新的手机号告诉我。", "已发给李四。"),
            (("press", "返回详情"), "姓名：李四"),
        ],
    )
    (row,) = await outbox_to(harness, LI)
    assert row.payload["text"].startswith(
        "【支部消息】深圳流动党支部委员给您发来一条消息：\n\n请把新的手机号告诉我。"
    )
    delivered = await harness.deliver()
    assert any(c.chat_id == LI.id and "请把新的手机号告诉我。" in c.text for c in delivered)


async def test_a_message_cancelled_typed_or_pressed_sends_nothing(harness) -> None:
    _world, _wang, _li = await setup(harness)
    await play(
        harness,
        SECRETARY_A,
        [
            ("/members", "王五"),
            (("press", "1"), "姓名：王五"),
            (("press", "发消息"), "请输入要发给王五的话"),
            ("   ", ["不能为空，请重新输入。", "请输入要发给王五的话"]),
            ("取消", "已取消，填写的内容没有保存。需要时可以重新开始：/members"),
            ("周六开会", "/help"),  # the form is closed: this is no message
        ],
    )
    calls = await harness.press(SECRETARY_A, f"ros:msg:{_wang}:all:0:0:i")
    assert "请输入要发给王五的话" in calls[-1].text
    cancel = harness.fake.last(SECRETARY_A.id).button("取消")
    assert "已取消" in (await harness.press(SECRETARY_A, cancel))[-1].text
    calls = await harness.press(SECRETARY_A, cancel)  # a double tap: nothing more to do
    assert answers(calls) == ["已经处理过了。"]
    calls = await harness.press(SECRETARY_A, "ros:mb:text")  # another button of the closed form: stale
    assert answers(calls) == ["这个按钮已失效。"]
    assert await outbox_to(harness, WANG) == []
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Draft)) == 0


async def test_a_sticker_while_typing_a_message_asks_for_text(harness) -> None:
    _world, wang, _li = await setup(harness)
    await harness.press(SECRETARY_A, f"ros:msg:{wang}:all:0:0:i")
    calls = await harness.feed(
        {
            "update_id": 990_001,
            "message": {
                "message_id": 990_001,
                "date": 0,
                "chat": {"id": SECRETARY_A.id, "type": "private"},
                "from": SECRETARY_A.as_dict(),
                "sticker": {
                    "file_id": "s",
                    "file_unique_id": "s",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                    "type": "regular",
                },
            },
        }
    )
    assert "请输入文字。" in calls[-1].text and "请输入要发给王五的话" in calls[-1].text
    assert await outbox_to(harness, WANG) == []


async def test_only_officers_of_the_branch_use_a_card(harness) -> None:
    world, wang, li = await setup(harness)
    stranger = TgUser(8199, "路人")
    for user in (SECRETARY_B, WANG, stranger):
        for data in (
            f"ros:v:{li}:all:0:0:i",
            f"ros:rm:{wang}:all:0:0:i",
            f"ros:msg:{wang}:all:0:0:i",
            f"ros:p:{world.branch_a}:all:0:0:n",
            f"ros:b:{world.branch_a}",
        ):
            calls = await harness.press(user, data)
            assert answers(calls) == [DENIED], (user, data)
            assert not [c for c in calls if c.method in ("editMessageText", "sendMessage")], (user, data)
    assert await outbox_to(harness, WANG) == [] and await outbox_to(harness, LI) == []
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Draft)) == 0
    assert await audit_count(harness, "roster.card", "denied") == 3
    assert await audit_count(harness, "roster.remind", "denied") == 3
    assert await audit_count(harness, "roster.message", "denied") == 3
    # The secretary of branch B, with a message form forged open on branch A's member, relays nothing.
    async with harness.session() as session:
        person = await find_person(session, UserRef("telegram", str(SECRETARY_B.id)))
        session.add(
            Draft(
                person_id=person.id,
                flow="ros_msg",
                step="text",
                data={"member_id": wang, "page": ["all", 0, 0, "i"]},
            )
        )
        await session.commit()
    calls = await harness.send(SECRETARY_B, "你好")
    assert DENIED in calls[-1].text
    assert await outbox_to(harness, WANG) == []


async def test_forged_card_buttons_are_stale(harness) -> None:
    _world, wang, _li = await setup(harness)
    for data in (
        f"ros:v:{wang}:nope:0:0:i",  # no such filter
        f"ros:v:{wang}:all:0:0:zz",  # no such order
        f"ros:rm:{wang}:all:x:0:i",
        f"ros:msg:{wang}:all:0:0",
        f"ros:v:{2**31}:all:0:0:i",  # too large for an INTEGER id
        f"ros:v:{wang}",  # a card button from before the page was carried
    ):
        calls = await harness.press(SECRETARY_A, data)
        assert answers(calls) == ["这个按钮已失效。"], data
    async with harness.session() as session:
        pending = await session.get(Member, wang)
        pending.state = MemberState.PENDING
        await session.commit()
    calls = await harness.press(SECRETARY_A, f"ros:rm:{wang}:all:0:0:i")  # a pending member pays no dues
    assert answers(calls) == ["这个按钮已失效。"]


async def test_sort_by_name_and_place_is_kept_across_pages_and_cards(harness) -> None:
    world = await make_world(harness)
    east, west = await village_id(harness, "东村"), await village_id(harness, "西村")
    south = await village_id(harness, "南村")
    # Unicode code-point order, not pinyin:
    # 丁 U+4E01 < 孙 U+5B59 < 张 U+5F20 < 李 U+674E < 王 U+738B < 赵 U+8D75.
    people = [
        ("赵一", world.qingshan, west),
        ("王二", world.qingshan, east),
        ("李三", world.heshang, south),
        ("张四", world.qingshan, east),
        ("孙五", world.qingshan, west),
        ("丁六", world.heshang, south),
    ]
    for n, (name, township, village) in enumerate(people):
        await add_member(harness, world.branch_a, township, None, name, village=village, number=n)
    for n in range(6, 12):  # more, so the roster has a second page
        await add_member(harness, world.branch_a, world.qingshan, None, f"赵{n:02d}", village=west, number=n)
    await harness.send(SECRETARY_A, "/members")
    await harness.press(SECRETARY_A, harness.fake.last(SECRETARY_A.id).button("姓名"))
    by_name = harness.fake.last(SECRETARY_A.id)
    assert "· 姓名" in str(by_name.buttons)
    order = [line.split(" ")[0] for line in by_name.text.splitlines()[1:]]
    assert order == ["1.", "2.", "3.", "4.", "5.", "6.", "7.", "8.", "9.", "10."]
    names = [line.split(" ")[1] for line in by_name.text.splitlines()[1:]]
    # "赵06" before "赵一": the digit 0 (U+0030) comes before 一 (U+4E00).
    assert names == ["丁六", "孙五", "张四", "李三", "王二", "赵06", "赵07", "赵08", "赵09", "赵10"]
    await harness.press(SECRETARY_A, by_name.button("下一页"))
    second = harness.fake.last(SECRETARY_A.id)
    assert [line.split(" ")[1] for line in second.text.splitlines()[1:]] == ["赵11", "赵一"]
    # A card from page two comes back to page two, still by name.
    await harness.press(SECRETARY_A, second.button("12"))
    assert "姓名：赵一" in harness.fake.last(SECRETARY_A.id).text
    await harness.press(SECRETARY_A, harness.fake.last(SECRETARY_A.id).button("返回名单"))
    back = harness.fake.last(SECRETARY_A.id)
    assert "11. 赵11" in back.text and "12. 赵一" in back.text and "· 姓名" in str(back.buttons)

    await harness.press(SECRETARY_A, back.button("乡镇村"))
    by_place = harness.fake.last(SECRETARY_A.id)
    lines = by_place.text.splitlines()[1:]
    # 河上镇 (U+6CB3) before 青山镇 (U+9752); 东村 before 西村; by name within a village.
    assert [line.split(" ")[1] for line in lines[:5]] == ["丁六", "李三", "张四", "王二", "孙五"]
    assert "河上镇南村" in lines[0] and "青山镇东村" in lines[2] and "青山镇西村" in lines[4]
