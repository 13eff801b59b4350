"""/members (paged, filtered, scoped to the officer's branch) and /export (the ledger workbook)."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import event

from app.features import build_features
from bot.conversation import Conversation, Feature
from bot.services import admin
from bot.services.export import Sheet
from storage.crypto import keyring
from storage.models import Member, MemberState, Role
from tests.factories import TgUser, telegram_person
from tests.registration.helpers import SECRETARY_A, SECRETARY_B, make_world, play

PAGE = 10


def _answers(calls) -> list[str]:
    return [c.params.get("text") for c in calls if c.method == "answerCallbackQuery"]


async def seed(
    harness, branch_id: int, township_id: int, count: int, *, first: int = 1, **fields
) -> list[int]:
    """Members written straight to the database (the report-in itself is tested elsewhere)."""
    ids = []
    async with harness.session() as session:
        for n in range(first, first + count):
            phone = f"+86139{n:08d}"
            person = telegram_person(
                900_000 + n,
                last_seen_at=fields.pop("last_seen_at", harness.clock.now()),
                unreachable=fields.pop("unreachable", False),
            )
            session.add(person)
            await session.flush()
            member = Member(
                person_id=person.id,
                branch_id=branch_id,
                township_id=township_id,
                state=fields.get("state", MemberState.APPROVED),
                party_status=fields.get("party_status", "full"),
                name=f"党员{n:02d}",
                phone=phone,
                phone_index=keyring().blind_index(phone),
                joined_party_on=date(2010, 1, 1),
                revision=1,
            )
            session.add(member)
            await session.flush()
            ids.append(member.id)
        await session.commit()
    return ids


async def test_members_is_paged_and_reads_one_page_at_a_time(harness) -> None:
    world = await make_world(harness)
    await seed(harness, world.branch_a, world.qingshan, 25)
    await seed(harness, world.branch_b, world.qingshan, 3, first=100)
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(harness.db.engine.sync_engine, "before_cursor_execute", listener)
    try:
        calls = await harness.send(SECRETARY_A, "/members")
    finally:
        event.remove(harness.db.engine.sync_engine, "before_cursor_execute", listener)
    page = calls[-1]
    assert "深圳流动党支部 · 在册 · 共25人" in page.text
    assert "1. 党员01 139****0001 青山镇 正式党员" in page.text and "10. 党员10" in page.text
    assert "党员11" not in page.text and "党员100" not in page.text
    listing = [s for s in statements if "FROM member" in s and "township.name" in s]
    assert listing and all("LIMIT" in s for s in listing)
    await play(
        harness,
        SECRETARY_A,
        [
            (("press", "下一页"), ["11. 党员11", "20. 党员20"]),
            (("press", "下一页"), ["21. 党员21", "25. 党员25"]),
            (("press", "上一页"), "11. 党员11"),
        ],
    )
    assert "下一页" in str(harness.fake.last(SECRETARY_A.id).buttons)


async def test_members_filters(harness) -> None:
    world = await make_world(harness)
    old = harness.clock.now() - timedelta(days=45)
    await seed(harness, world.branch_a, world.qingshan, 3)
    await seed(harness, world.branch_a, world.heshang, 2, first=10, party_status="probationary")
    await seed(harness, world.branch_a, world.qingshan, 1, first=20, state=MemberState.PENDING)
    await seed(harness, world.branch_a, world.qingshan, 1, first=30, unreachable=True)
    await seed(harness, world.branch_a, world.qingshan, 1, first=40, last_seen_at=old)
    await seed(harness, world.branch_a, world.qingshan, 1, first=50, state=MemberState.LEFT)
    await play(
        harness,
        SECRETARY_A,
        [
            ("/members", "共7人"),
            (("press", "预备"), ["预备党员 · 共2人", "党员10", "党员11"]),
            (("press", "待审"), ["待审核 · 共1人", "党员20", "[待审核]"]),
            (("press", "失联"), ["失联（消息发不到） · 共1人", "党员30"]),
            (("press", "久未联系"), "多久没有联系"),
            (("press", "30天"), ["30天未联系 · 共1人", "党员40"]),
            (("press", "按乡镇"), "请选择家乡乡镇"),
            (("press", "河上镇"), ["家乡：河上镇 · 共2人", "党员10"]),
            (("press", "已离开"), ["已离开 · 共1人", "党员50"]),
            (("press", "正式"), "正式党员 · 共5人"),
            ("/members 待审", "待审核 · 共1人"),
            ("/members silent 60", "60天未联系 · 共0人"),
            ("/members +86 139 0000 0011", ["按手机号查找 · 共1人", "党员11"]),
            ("/members 什么", "看不懂"),
        ],
    )


async def test_a_member_card_shows_the_full_record_and_pending_ones_can_be_approved(harness) -> None:
    world = await make_world(harness)
    (pending,) = await seed(harness, world.branch_a, world.qingshan, 1, state=MemberState.PENDING)
    await play(
        harness,
        SECRETARY_A,
        [
            ("/members 待审", "党员01"),
            (
                ("press", "1"),
                ["待审核", "姓名：党员01", "手机：139 0000 0001", "最近联系：2026-03-02（消息可达）"],
            ),
            (("press", "通过"), "已通过：党员01"),
        ],
    )
    async with harness.session() as session:
        assert (await session.get(Member, pending)).state == MemberState.APPROVED


async def test_a_secretary_sees_and_touches_only_their_branch(harness) -> None:
    world = await make_world(harness)
    (in_a,) = await seed(harness, world.branch_a, world.qingshan, 1)
    await seed(harness, world.branch_b, world.heshang, 1, first=60)
    await play(harness, SECRETARY_B, [("/members", ["东莞流动党支部", "共1人", "党员60"])])
    assert "党员01" not in harness.fake.last(SECRETARY_B.id).text
    for data in (
        f"ros:p:{world.branch_a}:all:0:0:i",
        f"ros:p:{world.branch_a}:pending:0:10:n",
        f"ros:b:{world.branch_a}",
        f"ros:v:{in_a}:all:0:0:i",
        f"exp:{world.branch_a}",
    ):
        calls = await harness.press(SECRETARY_B, data)
        assert _answers(calls) == ["您没有权限进行此操作。"], data
        assert not [c for c in calls if c.method in ("editMessageText", "sendDocument", "sendMessage")], data


async def test_garbled_roster_buttons_are_stale(harness) -> None:
    world = await make_world(harness)
    for data in (
        "ros:x",
        f"ros:p:{world.branch_a}:nope:0:0:i",
        f"ros:p:{world.branch_a}:all:a:0:i",
        f"ros:p:{world.branch_a}:phone:0:0:i",  # a phone search is typed, never carried in a button
        f"ros:{world.branch_a}:all:0:0",  # the shape before the button codec
    ):
        calls = await harness.press(SECRETARY_A, data)
        assert _answers(calls) == ["这个按钮已失效。"], data


async def test_an_officer_of_two_branches_chooses_one(harness) -> None:
    world = await make_world(harness)
    await seed(harness, world.branch_b, world.heshang, 1, first=60)
    async with harness.session() as session:
        await admin.grant(
            session,
            user=SECRETARY_A.id,
            role=Role.COMMITTEE,
            branch=str(world.branch_b),
            township=None,
        )
        await session.commit()
    await play(
        harness, SECRETARY_A, [("/members", "请选择支部"), (("press", "东莞"), ["东莞流动党支部", "党员60"])]
    )
    await play(harness, SECRETARY_A, [("/export", "请选择支部")])
    calls = await harness.press(SECRETARY_A, harness.fake.last(SECRETARY_A.id).button("东莞"))
    assert [c for c in calls if c.method == "sendDocument"]


def _workbook(call):
    (name, content) = call.files["document"]
    return name, load_workbook(io.BytesIO(content))


async def test_export_sends_the_roster_workbook(harness) -> None:
    world = await make_world(harness)
    await seed(harness, world.branch_a, world.qingshan, 3)
    await seed(harness, world.branch_a, world.heshang, 1, first=10, party_status="probationary")
    await seed(harness, world.branch_a, world.qingshan, 1, first=20, state=MemberState.PENDING)
    await seed(harness, world.branch_b, world.qingshan, 2, first=100)
    calls = await harness.send(SECRETARY_A, "/export")
    (document,) = [c for c in calls if c.method == "sendDocument"]
    assert document.params["caption"] == "深圳流动党支部台账（2026-03-02）"
    name, workbook = _workbook(document)
    assert name == "深圳流动党支部台账2026-03-02.xlsx"
    assert workbook.sheetnames[0] == "党员花名册"  # the roster first; other features add theirs after it
    ws = workbook["党员花名册"]
    headers = [c.value for c in ws[1]]
    assert headers[:7] == ["序号", "姓名", "手机号", "家乡乡镇", "村党支部", "党员类别", "入党时间"]
    assert all(c.font.b for c in ws[1])
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:N6"
    assert ws.column_dimensions["H"].width >= 18  # "流动党员活动证号" is 8 wide characters
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2, max_row=6)]
    assert [r[1] for r in rows] == ["党员01", "党员02", "党员03", "党员10", "党员20"]
    assert rows[0][2] == "139 0000 0001" and rows[3][5] == "预备党员" and rows[4][10] == "待审核"
    assert rows[0][6].date() == date(2010, 1, 1)
    totals = [c.value for c in ws[7]]
    assert totals[:2] == ["合计", "在册4人：正式3人，预备1人"] and ws["A7"].font.b


async def test_export_collects_every_registered_sheet(harness) -> None:
    world = await make_world(harness)
    deps = harness.deps
    features = build_features(extra=[Feature("demo", export_sheets=(demo_sheet,))])
    deps.conversation = Conversation(features, db=deps.db, clock=deps.clock, settings=deps.settings)
    calls = await harness.send(SECRETARY_A, "/export")
    (document,) = [c for c in calls if c.method == "sendDocument"]
    _, workbook = _workbook(document)
    assert workbook.sheetnames[0] == "党员花名册" and workbook.sheetnames[-1] == "演示"
    assert [c.value for c in workbook["演示"][2]] == [world.branch_a, "zh"]


async def demo_sheet(session, branch_id: int, language: str) -> Sheet:
    return Sheet(title="演示", headers=["支部", "语言"], rows=[[branch_id, language]])


@pytest.mark.parametrize("user", [TgUser(7400), SECRETARY_B])
async def test_export_is_scoped(harness, user) -> None:
    world = await make_world(harness)
    await seed(harness, world.branch_a, world.qingshan, 2)
    calls = await harness.send(user, "/export")
    documents = [c for c in calls if c.method == "sendDocument"]
    if user == SECRETARY_B:
        _, workbook = _workbook(documents[0])
        assert workbook["党员花名册"].max_row == 2  # the header and the totals: branch B is empty
    else:
        assert documents == [] and "没有权限" in calls[-1].text


async def test_the_roster_sorts_by_name_and_by_place(harness) -> None:
    world = await make_world(harness)
    ids = await seed(harness, world.branch_a, world.qingshan, 3)
    async with harness.session() as session:
        for member_id, name in zip(ids, ["王五", "李四", "张三"], strict=True):
            member = await session.get(Member, member_id)
            member.name = name
        await session.commit()
    await harness.send(SECRETARY_A, "/members")
    first = harness.fake.last(SECRETARY_A.id)
    assert first.text.index("王五") < first.text.index("李四") < first.text.index("张三")  # order reported in
    await harness.press(SECRETARY_A, first.button("姓名"))
    by_name = harness.fake.last(SECRETARY_A.id).text
    names = sorted(["王五", "李四", "张三"])
    assert by_name.index(names[0]) < by_name.index(names[1]) < by_name.index(names[2])
    await harness.press(SECRETARY_A, harness.fake.last(SECRETARY_A.id).button("乡镇村"))
    assert "王五" in harness.fake.last(SECRETARY_A.id).text
    forged = await harness.press(SECRETARY_A, f"ros:p:{world.branch_a}:all:0:0:zz")  # a forged sort is stale
    assert [c.method for c in forged] == ["answerCallbackQuery"] and forged[0].params.get("text")


async def test_a_member_card_shows_dues_activity_and_study(harness) -> None:
    """The card of a member of a new branch: nothing opened, held or published yet (the card's figures and
    actions are tested in test_member_card)."""
    world = await make_world(harness)
    (member_id,) = await seed(harness, world.branch_a, world.qingshan, 1)
    await harness.press(SECRETARY_A, f"ros:v:{member_id}:all:0:0:i")
    card = harness.fake.last(SECRETARY_A.id).text
    assert (
        "党费：支部还没有开放需要交纳的月份" in card
        and "活动日（2026年）：入册以来还没有举行过" in card
        and "学习（2026年）：还没有发布学习内容" in card
    )
