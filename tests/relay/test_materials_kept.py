"""Photos and files sent on Telegram are kept by the project (encrypted), with Telegram's file id only a
cache: an agent opens them after the bot token changed, /mydata lists them and /deleteme erases them."""

from __future__ import annotations

import json

from sqlalchemy import func, select, text

from storage.models import Material, RequestAttachment
from tests import factories
from tests.harness import BotHarness
from tests.relay.factory import AGENT_A, MEMBER_A, make_world
from tests.relay.helpers import texts

PNG = b"\x89PNG\r\n\x1a\n" + b"id-card-front" * 10
PDF = b"%PDF-1.7 hukou pages"
NEW_TOKEN = "654321:ANOTHER-token-not-real"


async def _world(harness: BotHarness):
    async with harness.session() as session:
        return await make_world(session, harness.clock.now())


async def _open_form(harness: BotHarness) -> None:
    await harness.transcript(MEMBER_A, [("/services", "青山镇"), (("press", "户口迁移"), "提交")])


async def _materials(harness: BotHarness) -> list[Material]:
    async with harness.session() as session:
        return list(await session.scalars(select(Material).order_by(Material.id)))


async def test_an_upload_is_opened_by_the_agent_after_the_token_changed(harness: BotHarness) -> None:
    await _world(harness)
    harness.fake.files.update({"tg-photo-1": PNG, "tg-doc-1": PDF})
    await _open_form(harness)
    await harness.feed(factories.photo_update(MEMBER_A, "tg-photo-1", caption="身份证"))
    # The name says a picture; the bytes say PDF, and the bytes decide.
    await harness.feed(factories.document_update(MEMBER_A, "tg-doc-1", "户口本.jpg"))
    await harness.transcript(MEMBER_A, [(("press", "提交"), "已提交 #1")])

    kept = await _materials(harness)
    assert [(m.kind, m.mime_type, m.size, m.uploaded) for m in kept] == [
        ("photo", "image/png", len(PNG), True),
        ("document", "application/pdf", len(PDF), True),
    ]
    assert [m.channel_cache for m in kept] == [
        {"telegram:123456": "tg-photo-1"},
        {"telegram:123456": "tg-doc-1"},
    ]
    async with harness.session() as session:
        refs = list(await session.scalars(select(RequestAttachment.file_id).order_by(RequestAttachment.id)))
        raw = (await session.execute(text("SELECT content, channel_cache FROM material"))).all()
    assert refs == [f"material:{kept[0].id}", f"material:{kept[1].id}"]
    for content, cache in raw:  # encrypted at rest: neither the bytes nor the file id readable
        assert "aWQtY2FyZC1mcm9udA" not in content and "tg-photo-1" not in cache and "tg-doc-1" not in cache

    # The same bot sends them on by the file ids it already holds.
    to_agent = [c for c in await harness.deliver() if c.chat_id == AGENT_A.id]
    assert [(c.method, c.params.get("photo") or c.params.get("document")) for c in to_agent[1:]] == [
        ("sendPhoto", "tg-photo-1"),
        ("sendDocument", "tg-doc-1"),
    ]

    # A new token is another bot: the old file ids mean nothing to it, so the bytes are uploaded again.
    harness = await harness.restart(bot_token=NEW_TOKEN)
    calls = [c for c in await harness.press(AGENT_A, "rl:view:1") if c.method != "answerCallbackQuery"]
    assert [c.method for c in calls] == ["sendMessage", "sendPhoto", "sendDocument"]
    assert calls[1].files["photo"][1] == PNG and calls[2].files["document"] == ("户口本.jpg", PDF)
    assert "身份证" in calls[1].text
    kept = await _materials(harness)
    assert kept[0].channel_cache["telegram:123456"] == "tg-photo-1"
    new_ids = [m.channel_cache["telegram:654321"] for m in kept]
    assert all(new_ids)

    # The next look uses the new bot's file ids, without uploading.
    calls = [c for c in await harness.press(AGENT_A, "rl:view:1") if c.method != "answerCallbackQuery"]
    assert [c.params.get("photo") or c.params.get("document") for c in calls[1:]] == new_ids
    assert not any(c.files for c in calls)
    await harness.stop()


async def test_a_file_over_20_mb_is_refused_clearly(harness: BotHarness) -> None:
    await _world(harness)
    await _open_form(harness)
    large = factories.document_update(MEMBER_A, "tg-huge", "扫描件.pdf")
    large["message"]["document"]["file_size"] = 25 * 1024 * 1024
    calls = await harness.feed(large)
    assert "文件太大" in texts(calls) and "20 MB" in texts(calls)
    assert not [c for c in harness.fake.calls if c.method in ("getFile", "downloadFile")]
    # Telegram refuses it itself when the size was not in the message.
    harness.fake.too_big.add("tg-huge-2")
    calls = await harness.feed(factories.document_update(MEMBER_A, "tg-huge-2", "扫描件.pdf"))
    assert "文件太大" in texts(calls)
    assert await _materials(harness) == []
    # The form is still open and takes the next file.
    await harness.feed(factories.photo_update(MEMBER_A, "tg-small"))
    assert len(await _materials(harness)) == 1
    await harness.transcript(MEMBER_A, [(("press", "提交"), "已提交 #1")])


async def test_a_picture_with_no_form_open_is_not_downloaded(harness: BotHarness) -> None:
    await _world(harness)
    calls = await harness.feed(factories.photo_update(MEMBER_A, "tg-stray"))
    assert "看不懂" in texts(calls)
    assert not [c for c in harness.fake.calls if c.method in ("getFile", "downloadFile")]
    assert await _materials(harness) == []


async def test_mydata_lists_the_files_and_deleteme_erases_them(harness: BotHarness) -> None:
    await _world(harness)
    harness.fake.files["tg-doc-9"] = PDF
    await _open_form(harness)
    await harness.feed(factories.document_update(MEMBER_A, "tg-doc-9", "迁移证明.pdf"))
    await harness.transcript(MEMBER_A, [(("press", "提交"), "已提交 #1")])

    calls = await harness.send(MEMBER_A, "/mydata")
    (document,) = [c for c in calls if c.method == "sendDocument"]
    data = json.loads(document.files["document"][1])
    assert [(f["kind"], f["filename"], f["size"], f["sent_by_you"]) for f in data["files"]] == [
        ("document", "迁移证明.pdf", len(PDF), True)
    ]

    await harness.transcript(MEMBER_A, [("/deleteme", "不能恢复"), (("press", "删除"), "已删除")])
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Material)) == 0
    # The agent's view of the request no longer carries the file.
    calls = [c for c in await harness.press(AGENT_A, "rl:view:1") if c.method != "answerCallbackQuery"]
    assert all(c.method == "sendMessage" for c in calls)
