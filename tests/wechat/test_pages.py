"""The H5 message pages: a signed link shows one row to one person; forged, expired and withdrawn links are
refused in Chinese and English; a press is only one of the row's own buttons (or one the page showed)."""

from __future__ import annotations

from datetime import timedelta

from cryptography.fernet import Fernet
from sqlalchemy import func, select, update

from bot.dialog import Button
from storage import crypto
from storage.models import AuditEntry, NoticeAck, OutboxMessage, OutboxStatus
from tests.harness import BotHarness, _test_key
from tests.wechat.outbound import (
    WeChatOut,
    add_wechat_member,
    rows_to,
    wx_fixture,  # noqa: F401 - the fixture ``wx``
)
from tests.wechat.test_delivery import branch, notify
from wechat.pages import PAGE_TTL, button_sig, make_token, page_path, read_token


async def two_rows(harness: BotHarness) -> tuple[OutboxMessage, OutboxMessage]:
    branch_id = await branch(harness)
    for n in (1, 2):
        await add_wechat_member(harness, branch_id, n)
    await notify(harness, 1, "test:mine", "给甲的消息", buttons=((Button("收到", data="ntc:ack:99"),),))
    await notify(harness, 2, "test:other", "给乙的消息")
    (mine,), (other,) = await rows_to(harness, 1), await rows_to(harness, 2)
    return mine, other


def refused_in_both_languages(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text) and ("link" in text or "Message" in text)


async def test_a_page_shows_its_row_only(harness: BotHarness, wx: WeChatOut) -> None:
    mine, _ = await two_rows(harness)
    page = await wx.client.get(page_path(mine.id, harness.clock.now()))
    assert page.status_code == 200
    assert "给甲的消息" in page.text and "给乙的消息" not in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "<script" not in page.text


async def test_forged_tampered_and_expired_links_are_refused(harness: BotHarness, wx: WeChatOut) -> None:
    mine, _ = await two_rows(harness)
    now = harness.clock.now()
    good = make_token(mine.id, now + PAGE_TTL)
    forged = await wx.client.get("/m/" + "A" * len(good))
    assert forged.status_code == 404 and refused_in_both_languages(forged.text)
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    assert (await wx.client.get(f"/m/{tampered}")).status_code == 404
    assert (await wx.client.get("/m/short")).status_code == 404
    # Signed with a key this deployment does not have.
    crypto.configure(crypto.Keyring([Fernet.generate_key().decode()]))
    foreign = make_token(mine.id, now + PAGE_TTL)
    crypto.configure(crypto.Keyring.from_setting(_test_key()))
    assert (await wx.client.get(f"/m/{foreign}")).status_code == 404
    # Expired: 410, and a press on it does nothing.
    harness.clock.advance(PAGE_TTL + timedelta(minutes=1))
    expired = await wx.client.get(f"/m/{good}")
    assert expired.status_code == 410 and "链接已失效" in expired.text and "Link expired" in expired.text
    pressed = await wx.client.post(f"/m/{good}", data={"data": "ntc:ack:99"})
    assert pressed.status_code == 410
    assert read_token(good, harness.clock.now()).expired


async def test_a_withdrawn_or_blanked_row_is_gone(harness: BotHarness, wx: WeChatOut) -> None:
    mine, other = await two_rows(harness)
    async with harness.session() as session:
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == mine.id).values(status=OutboxStatus.CANCELLED)
        )
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == other.id).values(payload=None))
        await session.commit()
    for row in (mine, other):
        assert (await wx.client.get(page_path(row.id, harness.clock.now()))).status_code == 410
    assert (await wx.client.get(page_path(10_000, harness.clock.now()))).status_code == 410


async def test_a_press_must_be_one_of_the_rows_buttons(harness: BotHarness, wx: WeChatOut) -> None:
    mine, _ = await two_rows(harness)
    path = page_path(mine.id, harness.clock.now())
    token = path.rsplit("/", 1)[1]
    # Another button's data, unsigned or signed for another link: refused before the core sees it.
    for form in (
        {"data": "ntc:rs:1"},
        {"data": "ntc:rs:1", "sig": "x" * 16},
        {"data": "ntc:rs:1", "sig": button_sig(page_path(2, harness.clock.now())[3:], "ntc:rs:1")},
        {},
    ):
        refused = await wx.client.post(path, data=form)
        assert refused.status_code == 400 and "这个按钮已失效" in refused.text, form
    # A button the page showed on an answer is signed for this link: the core decides (and denies).
    answered = await wx.client.post(path, data={"data": "ntc:rs:1", "sig": button_sig(token, "ntc:rs:1")})
    assert answered.status_code == 200 and "您没有权限" in answered.text
    # 收到 of a notice the member never received: the core refuses it as well.
    pressed = await wx.client.post(path, data={"data": "ntc:ack:99"})
    assert pressed.status_code == 200
    async with harness.session() as session:
        denied = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.result == "denied")
        )
        acks = await session.scalar(select(func.count()).select_from(NoticeAck))
    assert denied == 2 and acks == 0


async def test_links_survive_a_key_rotation(harness: BotHarness, wx: WeChatOut) -> None:
    mine, _ = await two_rows(harness)
    path = page_path(mine.id, harness.clock.now())
    old = _test_key()
    crypto.configure(crypto.Keyring([Fernet.generate_key().decode(), old]))  # a new key first, the old kept
    try:
        assert (await wx.client.get(path)).status_code == 200
    finally:
        crypto.configure(crypto.Keyring.from_setting(old))
