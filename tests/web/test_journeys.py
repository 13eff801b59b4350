"""Each person of the demo through their main journey, as the page drives it (through the API)."""

from __future__ import annotations

from tests.web.test_api import last, messages, say, tap


async def test_a_member_reports_a_dues_payment_answers_the_activity_day_and_checks_in(client) -> None:
    dues = await say(client, "member-li", "/dues")
    assert "党费" in dues["text"]
    texts = [m["text"] for m in await messages(client, "member-li")]
    assert any("学习" in t for t in texts)  # the study item of the demo's history arrived
    checked = await tap(client, "member-li", "打卡")
    assert "打卡" in checked["text"] or "已" in checked["text"]
    activity = await say(client, "member-wang", "/activity")
    assert "活动" in activity["text"]


async def test_the_agent_accepts_the_open_request(client) -> None:
    inbox = await say(client, "agent", "/inbox")
    assert "#1" in inbox["text"] or any("#1" in m["text"] for m in await messages(client, "agent"))
    request = next(m for m in reversed(await messages(client, "agent")) if "新办事申请 #1" in m["text"])
    accepted = await tap(client, "agent", "受理", containing=request["text"][:20])
    assert accepted["text"]
    await client.post("/api/clock", json={"advance_minutes": 1})
    told = " ".join(m["text"] for m in await messages(client, "member-zhang"))
    assert "#1" in told


async def test_the_applicant_applies_to_join(client) -> None:
    first = await say(client, "applicant", "/apply")
    assert first["text"]
    assert (await last(client, "applicant"))["buttons"] or "姓名" in first["text"]


async def test_the_secretary_sees_the_report_with_its_chart(client) -> None:
    before = len(await messages(client, "secretary"))
    await say(client, "secretary", "/report")
    new = (await messages(client, "secretary"))[before:]
    assert any(m["media"] and m["media"]["kind"] == "photo" for m in new), [m["text"][:30] for m in new]
    duesadmin = await say(client, "secretary", "/duesadmin")
    assert "党费" in duesadmin["text"]
