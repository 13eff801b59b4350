"""The demo's JSON API (interfaces.md) through httpx: a person's whole journey as the page drives it."""

from __future__ import annotations

import io
from datetime import timedelta

from openpyxl import load_workbook

from app.demo import Demo


async def messages(client, who: str, after: int = 0) -> list[dict]:
    response = await client.get("/api/messages", params={"as": who, "after": after})
    assert response.status_code == 200
    return response.json()


async def last(client, who: str) -> dict:
    return (await messages(client, who))[-1]


async def say(client, who: str, text: str) -> dict:
    response = await client.post("/api/send", json={"as": who, "text": text})
    assert response.status_code == 200, response.text
    return await last(client, who)


async def tap(client, who: str, label: str, *, containing: str = "") -> dict:
    for message in reversed(await messages(client, who)):
        if containing not in message["text"]:
            continue
        for row in message["buttons"]:
            for button in row:
                if label in button["text"]:
                    if button["data"] is None:
                        return await say(client, who, button["text"])
                    response = await client.post(
                        "/api/press",
                        json={"as": who, "message_id": message["message_id"], "data": button["data"]},
                    )
                    assert response.status_code == 200, response.text
                    return await last(client, who)
    raise AssertionError(f"no button {label!r} for {who}")


async def test_people_of_the_demo(client) -> None:
    people = (await client.get("/api/people")).json()
    roles = {p["role"] for p in people}
    assert roles == {"member", "secretary", "agent", "newcomer", "applicant"}
    assert all(set(p) == {"id", "name", "role"} for p in people)


async def test_a_newcomer_reports_in_and_the_secretary_approves(client, demo: Demo) -> None:
    invite = demo.directory.invite
    assert "报到须知" in (await say(client, "newcomer", f"/start j_{invite}"))["text"]
    await tap(client, "newcomer", "继续")
    assert "请输入您的姓名" in (await tap(client, "newcomer", "同意"))["text"]
    await say(client, "newcomer", "刘新来")
    await say(client, "newcomer", "13900139000")
    for label in ("青山镇", "东村", "正式党员"):
        await tap(client, "newcomer", label)
    await say(client, "newcomer", "2018")
    for label in ("3月", "1", "跳过", "跳过", "建筑"):
        await tap(client, "newcomer", label)
    assert "已提交" in (await tap(client, "newcomer", "提交"))["text"]
    # The secretary's copy arrived through the outbox, with its decision buttons.
    request = await last(client, "secretary")
    assert "刘新来" in request["text"] and "139 0013 9000" in request["text"]
    decided = await tap(client, "secretary", "通过", containing="刘新来")
    assert decided["edited"] and decided["message_id"] == request["message_id"]
    assert "已通过" in decided["text"] and decided["buttons"] == []
    assert any("通过" in m["text"] for m in await messages(client, "newcomer"))


async def test_the_secretary_downloads_the_ledger(client) -> None:
    before = len(await messages(client, "secretary"))
    await say(client, "secretary", "/export")
    new = (await messages(client, "secretary"))[before:]
    (document,) = [m for m in new if m["media"]]
    assert document["media"]["kind"] == "document" and document["media"]["filename"].endswith(".xlsx")
    response = await client.get(document["media"]["url"])
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    workbook = load_workbook(io.BytesIO(response.content))
    names = [row[1].value for row in workbook["党员花名册"].iter_rows(min_row=2)]
    assert {"王建国", "李秀英", "张伟"} <= set(names)
    # Nobody else can open it.
    assert (
        await client.get(document["media"]["url"].replace("as=secretary", "as=member-wang"))
    ).status_code == 404


async def test_polling_after_returns_only_newer_messages(client) -> None:
    everything = await messages(client, "member-wang")
    assert everything
    newest = max(m["seq"] for m in everything)
    assert await messages(client, "member-wang", newest) == []
    await say(client, "member-wang", "/help")
    newer = await messages(client, "member-wang", newest)
    assert len(newer) == 1 and "/dues" in newer[0]["text"]


async def test_an_upload_is_kept_and_answered(client) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    response = await client.post(
        "/api/upload", data={"as": "member-li"}, files={"file": ("x.png", png, "image/png")}
    )
    assert response.status_code == 200
    assert (await last(client, "member-li"))["text"]  # answered (no form open: a pointer to /help)


async def test_the_clock_moves_on(client) -> None:
    first = (await client.post("/api/clock", json={"advance_minutes": 0})).json()["now"]
    later = (await client.post("/api/clock", json={"advance_minutes": 60 * 24})).json()["now"]
    assert later > first


async def test_bad_requests_are_4xx_never_a_traceback(client) -> None:
    cases = [
        ("post", "/api/send", {"content": b"[]"}),
        ("post", "/api/send", {"content": b"null"}),
        ("post", "/api/send", {"content": b"42"}),
        ("post", "/api/send", {"content": b"[" * 5000 + b"]" * 5000}),
        ("post", "/api/send", {"json": {"as": "../etc", "text": "hi"}}),
        ("post", "/api/send", {"json": {"as": "x", "text": ""}}),
        ("post", "/api/press", {"json": {"as": "x", "data": "", "message_id": 1}}),
        ("post", "/api/press", {"json": {"as": "x", "data": "reg:ok:1:1", "message_id": 10**30}}),
        ("post", "/api/clock", {"json": {"advance_minutes": -5}}),
        ("post", "/api/clock", {"json": {"advance_minutes": "soon"}}),
        ("get", "/api/messages?as=x&after=abc", {}),
        ("get", "/api/files/99999?as=x", {}),
        ("post", "/api/upload", {"data": {"as": "x"}}),
    ]
    for method, path, kwargs in cases:
        response = await getattr(client, method)(path, **kwargs)
        assert 400 <= response.status_code < 500, (path, kwargs, response.status_code)
        assert "Traceback" not in response.text


async def test_files_and_web_messages_are_in_mydata_and_gone_after_deleteme(client, demo: Demo) -> None:
    from sqlalchemy import func, select

    from storage.models import Account, Material, WebMessage

    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    upload = {"file": ("me.png", png, "image/png")}
    await client.post("/api/upload", data={"as": "member-zhang"}, files=upload)
    before = len(await messages(client, "member-zhang"))
    await say(client, "member-zhang", "/mydata")
    new = (await messages(client, "member-zhang"))[before:]
    summary = next(m for m in new if "我们保存的关于您的信息" in m["text"])
    assert "文件：1 条" in summary["text"] and "网页聊天消息" in summary["text"]
    async with demo.db.session() as session:
        account = await session.scalar(select(Account).where(Account.external_id == "member-zhang"))
        person_id = account.person_id
        assert await session.scalar(select(func.count()).where(Material.person_id == person_id)) >= 2
    confirm = await say(client, "member-zhang", "/deleteme")
    erase = next(b["data"] for row in confirm["buttons"] for b in row if "删除" in b["text"])
    response = await client.post(
        "/api/press", json={"as": "member-zhang", "message_id": confirm["message_id"], "data": erase}
    )
    assert response.status_code == 200
    async with demo.db.session() as session:
        assert await session.scalar(select(func.count()).where(Account.person_id == person_id)) == 0
        assert await session.scalar(select(func.count()).where(Material.person_id == person_id)) == 0
        assert await session.scalar(select(func.count()).select_from(WebMessage)) > 0  # others' stay


async def test_a_notice_reaches_members_on_the_web_and_they_acknowledge_it(client) -> None:
    assert "通知" in (await say(client, "secretary", "/notice"))["text"]
    await say(client, "secretary", "本周六上午九点在社区党群服务中心开会，请准时参加。")
    preview = await tap(client, "secretary", "全支部")
    assert "3" in preview["text"]  # the three members on the web
    await tap(client, "secretary", "提交")
    notice = await last(client, "member-li")
    assert "本周六上午九点" in notice["text"]
    acknowledged = await tap(client, "member-li", "收到")
    assert acknowledged["text"]
    # The secretary's report counts the acknowledgement.
    texts = " ".join(m["text"] for m in await messages(client, "secretary"))
    assert "收到" in texts


async def test_moving_the_clock_on_fires_the_report_on_the_first(client, demo: Demo) -> None:
    """The reminder tick runs as the demo clock moves on: on the 1st the secretary gets the month's report."""
    before = len(await messages(client, "secretary"))
    now = demo.clock.now()
    first = (now.replace(day=28) + timedelta(days=5)).replace(day=1, hour=3, minute=0)  # 11:00 in Shanghai
    minutes = int((first - now).total_seconds() // 60) + 1
    response = await client.post("/api/clock", json={"advance_minutes": minutes})
    assert response.status_code == 200
    new = (await messages(client, "secretary"))[before:]
    assert any("月" in m["text"] and m["buttons"] for m in new), [m["text"] for m in new]


async def test_a_request_with_a_photo_reaches_the_agent_who_can_open_it(client) -> None:
    assert "青山镇" in (await say(client, "member-wang", "/services"))["text"]
    await tap(client, "member-wang", "在外务工证明")
    png = b"\x89PNG\r\n\x1a\n" + b"\x01" * 80
    response = await client.post(
        "/api/upload", data={"as": "member-wang"}, files={"file": ("id.png", png, "image/png")}
    )
    assert response.status_code == 200 and "共 1 件" in (await last(client, "member-wang"))["text"]
    assert "已提交" in (await tap(client, "member-wang", "提交"))["text"]
    to_agent = await messages(client, "agent")
    assert any("王建国" in m["text"] for m in to_agent)
    (photo,) = [m for m in to_agent if m["media"] and m["media"]["kind"] == "photo"]
    opened = await client.get(photo["media"]["url"])
    assert opened.status_code == 200 and opened.content == png
