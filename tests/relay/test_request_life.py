"""A request's whole life as transcripts, from the three sides: member, township agent, branch secretary."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import ReceiptCounter, RequestAttachment, RequestState
from tests import factories
from tests.harness import BotHarness
from tests.relay.factory import AGENT_A, AGENT_B, MEMBER_A, SECRETARY_A, SECRETARY_B, make_world
from tests.relay.helpers import audit_entries, button, event_keys, request_row, tap, texts


async def _world(harness: BotHarness):
    async with harness.session() as session:
        return await make_world(session, harness.clock.now())


async def _submit_hukou(harness: BotHarness) -> None:
    """The member asks 青山镇 to move their household registration, with three materials."""
    await harness.transcript(
        MEMBER_A,
        [
            ("/services", "青山镇可以代办"),
            (("press", "户口迁移"), ["全程代理", "5 天", "1. 身份证", "2. 户口本", "提交"]),
            ("我要把户口迁回青山镇东村", "已收到，共 1 件"),
        ],
    )
    calls = await harness.feed(factories.photo_update(MEMBER_A, "photo-id-card", caption="身份证正反面"))
    assert "共 2 件" in texts(calls)
    calls = await harness.feed(factories.document_update(MEMBER_A, "doc-hukou", "户口本.pdf"))
    assert "共 3 件" in texts(calls)
    await harness.transcript(MEMBER_A, [(("press", "提交"), ["已提交 #1", "户口迁移", "/requests"])])


async def test_a_request_from_submission_to_receipt_to_completion(harness: BotHarness) -> None:
    await _world(harness)
    await _submit_hukou(harness)

    # The agent of 青山镇 gets the request, who sent it, and every material; the other township nothing.
    calls = await harness.deliver()
    to_agent = [c for c in calls if c.chat_id == AGENT_A.id]
    assert [c.method for c in to_agent] == ["sendMessage", "sendMessage", "sendPhoto", "sendDocument"]
    notice = to_agent[0].text
    for want in (
        "新办事申请 #1",
        "户口迁移",
        "全程代理",
        "张三",
        "138 0013 8001",  # one phone format everywhere (registration.display_phone)
        "深圳流动党支部",
        "材料 3 件",
    ):
        assert want in notice
    assert "我要把户口迁回青山镇东村" in to_agent[1].text
    assert to_agent[2].params["photo"] == "photo-id-card" and "身份证正反面" in to_agent[2].text
    assert to_agent[3].params["document"] == "doc-hukou"
    assert not [c for c in calls if c.chat_id in (AGENT_B.id, SECRETARY_B.id)]
    steps_told = [texts(calls, SECRETARY_A)]

    # The secretary follows it: status only.
    await harness.transcript(SECRETARY_A, [("/branchrequests", ["#1 张三 · 户口迁移（青山镇）", "待受理"])])

    # 受理: the receipt with its number and the promised deadline (accepted 2 March, 5 days).
    accepted = texts(await tap(harness, AGENT_A, "受理"))
    for want in ("已受理 #1", "T1-2026-0001", "2026-03-07", "已通知申请人"):
        assert want in accepted
    calls = await harness.deliver()
    receipt = texts(calls, MEMBER_A)
    steps_told.append(texts(calls, SECRETARY_A))
    for want in (
        "回执",
        "T1-2026-0001",
        "#1「户口迁移」",
        "受理日期：2026-03-02",
        "收到材料：3 件",
        "2026-03-07 前办结",
    ):
        assert want in receipt

    # 承办: forwarded to the township centre; the member is told.
    await harness.transcript(AGENT_A, [(("press", "转镇中心"), "#1 已转镇代理中心")])
    calls = await harness.deliver()
    assert "已转镇代理中心办理" in texts(calls, MEMBER_A)
    steps_told.append(texts(calls, SECRETARY_A))
    await harness.transcript(SECRETARY_A, [("/branchrequests", "已转镇代理中心")])

    # 回复: completed with a written result, which the member receives.
    harness.clock.advance(days=2)
    assert "办理结果" in texts(await tap(harness, AGENT_A, "办结"))
    await harness.transcript(AGENT_A, [("已办妥，新户口本已寄出", ["#1 已办结", "结果已发给申请人"])])
    calls = await harness.deliver()
    done = texts(calls, MEMBER_A)
    steps_told.append(texts(calls, SECRETARY_A))
    assert "#1「户口迁移」已办结" in done and "已办妥，新户口本已寄出" in done

    # The secretary was told each step in one status line, with nothing of what was sent or said.
    assert [("#1「户口迁移」（青山镇）" in line and "张三" in line) for line in steps_told] == [True] * 4
    for state, line in zip(["待受理", "已受理", "已转镇代理中心", "已办结"], steps_told, strict=True):
        assert state in line
    assert "承诺 2026-03-07 前办结" in steps_told[1]
    for private in ("身份证正反面", "户口迁回", "已办妥", "+8613800138001"):
        assert all(private not in line for line in steps_told)

    # The member's own view: status and history.
    await harness.transcript(MEMBER_A, [("/requests", "#1 户口迁移 — 已办结")])
    await harness.transcript(
        MEMBER_A,
        [(("press", "#1"), ["已办结", "T1-2026-0001", "提交申请", "受理，出具回执", "转镇代理中心", "办结"])],
    )

    # The secretary sees the status and the month's rate, never the materials or the result.
    seen = texts(await harness.send(SECRETARY_A, "/branchrequests"))
    assert "已办结" in seen and "办结率 100.0%" in seen
    for private in ("身份证正反面", "户口迁回", "已办妥", "+8613800138001"):
        assert private not in seen

    request = await request_row(harness, 1)
    assert request.state == RequestState.COMPLETED and request.receipt_no == "T1-2026-0001"
    assert await event_keys(harness, 1) == ["submit", "accept", "forward", "complete"]
    actions = [a for a, r, _ in await audit_entries(harness) if r == "ok" and not a.startswith("relay.item")]
    assert actions == ["relay.submit", "relay.accept", "relay.forward", "relay.complete"]


async def test_every_tap_is_idempotent(harness: BotHarness) -> None:
    await _world(harness)
    await _submit_hukou(harness)
    await harness.deliver()
    accept = button(harness, AGENT_A, "受理")
    await harness.press(AGENT_A, accept)
    second = texts(await harness.press(AGENT_A, accept))
    assert "已经处理过了" in second
    # A second submit press of the already sent form changes nothing either.
    assert "已经处理过了" in texts(await harness.press(MEMBER_A, "rl:sub"))
    async with harness.session() as session:
        assert await session.scalar(select(ReceiptCounter.last)) == 1
        assert await session.scalar(select(func.count()).select_from(RequestAttachment)) == 3
    assert await event_keys(harness, 1) == ["submit", "accept"]
    receipts = [row.chat_id for row in await harness.outbox() if row.source.startswith("relay:1:accept")]
    assert sorted(receipts) == sorted([MEMBER_A.id, SECRETARY_A.id])  # the receipt, and one status line


async def test_a_consultation_gets_an_answer_not_a_process(harness: BotHarness) -> None:
    await _world(harness)
    await harness.transcript(
        MEMBER_A,
        [
            ("/services", "青山镇可以代办"),
            (("press", "养老保险咨询"), ["咨询服务", "写下您的问题"]),
        ],
    )
    # Issue 19: an empty consultation asks for the question, never for 材料; the form stays open.
    empty = await harness.transcript(MEMBER_A, [(("press", "提交"), "请先写下您的问题")])
    assert "材料" not in texts(empty) and "提交" in str(empty[-1].buttons)
    await harness.transcript(
        MEMBER_A,
        [
            ("在外地交的养老保险能转回家乡吗？", "共 1 件"),
            (("press", "提交"), "已提交 #1"),
        ],
    )
    notice = texts(await harness.deliver(), AGENT_A)
    assert "咨询服务" in notice and "能转回家乡吗" in notice
    # No receipt for a consultation: only answer (or refuse).
    async with harness.session():
        labels = [b["text"] for row in harness.fake.sent(AGENT_A.id)[0].buttons for b in row]
    assert "受理" not in labels and "答复" in labels
    assert "请写下答复" in texts(await tap(harness, AGENT_A, "答复"))
    await harness.transcript(AGENT_A, [("可以转回，带社保卡到镇社保所办理。", "#1 已答复")])
    answer = texts(await harness.deliver(), MEMBER_A)
    assert "答复" in answer and "带社保卡到镇社保所办理" in answer
    assert (await request_row(harness, 1)).state == RequestState.ANSWERED
