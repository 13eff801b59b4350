"""The fake Bot API server, driven by python-telegram-bot's real Bot."""

from __future__ import annotations

import asyncio
import datetime as dtm
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
import pytest
import telegram
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TimedOut

from bench.fake_botapi import Call, FakeBotAPI

# PTB 22 warns that RetryAfter.retry_after will become a timedelta; _seconds() accepts both.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")

TOKEN = "123:ABC"
ROOT = Path(__file__).resolve().parents[2]


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


@pytest.fixture
async def api():
    server = FakeBotAPI(hang_seconds=5.0)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(api):
    async with telegram.Bot(token=TOKEN, base_url=api.base_url) as b:
        yield b


async def test_binds_loopback_and_reports_port(api):
    assert api.base_url == f"http://127.0.0.1:{api.port}/bot"
    assert api.port and api.port > 0


async def test_messages_are_parsed(api, bot):
    assert bot.username == "branch_test_bot"
    assert bot.id == 777000111
    m1 = await bot.send_message(1001, "hello")
    m2 = await bot.send_message(1002, "123")
    group = await bot.send_message(-5001, "to the group")
    assert isinstance(m1, telegram.Message)
    assert m2.message_id == m1.message_id + 1
    assert (m1.chat.id, m1.chat.type, m1.text) == (1001, "private", "hello")
    assert m2.text == "123"
    assert group.chat.type == "group"
    assert m1.from_user.username == "branch_test_bot"

    markup = telegram.InlineKeyboardMarkup([[telegram.InlineKeyboardButton("ok", callback_data="x")]])
    photo = await bot.send_photo(1003, photo=b"\x89PNG fake bytes", caption="pic", reply_markup=markup)
    assert photo.photo and photo.caption == "pic"
    assert photo.reply_markup.inline_keyboard[0][0].callback_data == "x"
    doc = await bot.send_document(1004, document=b"data", filename="r.xlsx")
    assert doc.document.file_name == "r.xlsx"
    edited = await bot.edit_message_text("changed", chat_id=-5001, message_id=group.message_id)
    assert edited.text == "changed" and edited.message_id == group.message_id

    assert await bot.answer_callback_query("cbq-1", text="done") is True
    assert await bot.delete_message(1001, m1.message_id) is True
    assert await bot.set_my_commands([("start", "Start")]) is True
    assert await bot.set_webhook("https://example.invalid/hook") is True
    assert (await bot.get_webhook_info()).url == "https://example.invalid/hook"
    assert await bot.delete_webhook() is True

    assert api.delivered_chat_ids() == [1001, 1002, -5001, 1003, 1004, -5001]
    assert api.calls[1].params["text"] == "hello"
    assert api.duplicates() == {}
    assert api.count_429 == 0


async def test_per_chat_limit_gives_retry_after(api, bot):
    await bot.send_message(42, "first")
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(42, "second")
    assert _seconds(info.value) == 1
    await bot.send_message(43, "other chat is fine")
    assert api.count_429 == 1
    assert api.delivered_chat_ids() == [42, 43]
    assert api.max_per_chat_in_any_window(1.0) == 1
    assert api.calls[-2].status == 429


async def test_global_limit_and_windows():
    async with FakeBotAPI(rate=5, retry_after=3) as api:
        request = telegram.request.HTTPXRequest(connection_pool_size=16)
        async with telegram.Bot(TOKEN, base_url=api.base_url, request=request) as bot:
            results = await asyncio.gather(
                *(bot.send_message(2000 + i, "notice") for i in range(8)), return_exceptions=True
            )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 3 and all(isinstance(e, RetryAfter) and _seconds(e) == 3 for e in errors)
    assert api.count_429 == 3
    assert len(api.delivered) == 5
    assert api.max_in_any_window(1.0) == 5


async def test_blocked_chat_is_forbidden(api, bot):
    api.block_chats({555})
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(555, "hi")
    assert api.delivered == [] and api.calls[-1].status == 403


async def test_injected_faults(api, bot):
    api.fail_next(-77, "migrate")
    api.fail_next(88, "400")
    api.fail_next(88, "429", retry_after=7)
    with pytest.raises(ChatMigrated) as migrated:
        await bot.send_message(-77, "x")
    assert migrated.value.new_chat_id == -10077
    with pytest.raises(BadRequest):
        await bot.send_message(88, "x")
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(88, "x")
    assert _seconds(info.value) == 7
    with pytest.raises(RetryAfter) as info:  # the deadline holds for every chat: another 429
        await bot.send_message(89, "x")
    assert 1 <= _seconds(info.value) <= 7
    assert (api.count_429, api.early_429) == (2, 1)
    api._global_until = -1.0  # (the deadline has passed)
    await bot.send_message(88, "x")  # faults are used up
    assert api.delivered_chat_ids() == [88]

    api.fail_next(99, "hang")
    with pytest.raises(TimedOut):
        await bot.send_message(99, "maybe delivered", read_timeout=0.3)
    assert api.delivered_chat_ids() == [88, 99]
    assert api.delivered[-1].fault == "hang"


async def test_get_updates_returns_pushed_update(api, bot):
    uid = api.push_text(1001, "/start")
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [uid]
    assert updates[0].message.text == "/start"
    assert updates[0].effective_user.id == 1001

    # Long poll: woken by a push, and otherwise capped at 1 s.
    asyncio.get_running_loop().call_later(0.2, api.push_text, 1002, "later")
    started = time.monotonic()
    updates = await bot.get_updates(offset=uid + 1, timeout=10)
    assert [u.message.text for u in updates] == ["later"]
    assert time.monotonic() - started < 0.9
    started = time.monotonic()
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=10) == ()
    assert 0.9 <= time.monotonic() - started < 2.5


async def test_raw_json_and_get(api):
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{api.base_url}{TOKEN}/sendMessage", json={"chat_id": 7, "text": "json"})
        assert r.json()["result"]["chat"]["id"] == 7
        r = await client.get(f"{api.base_url}{TOKEN}/getMe")
        assert r.json()["result"]["username"] == "branch_test_bot"
        r = await client.post(f"{api.base_url}{TOKEN}/someFutureMethod", data={"x": "1"})
        assert r.json() == {"ok": True, "result": True}
        r = await client.post(f"{api.base_url}{TOKEN}/sendMessage", json={"chat_id": 7, "text": "json"})
        assert r.status_code == 429
        assert r.json() == {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        }


async def test_a_send_before_the_retry_after_deadline_is_another_429():
    async with FakeBotAPI(rate=2, retry_after=1) as api:
        async with telegram.Bot(TOKEN, base_url=api.base_url) as bot:
            await bot.send_message(1, "a")
            await bot.send_message(2, "b")
            with pytest.raises(RetryAfter):
                await bot.send_message(3, "over the limit")
            await asyncio.sleep(0.5)  # the window has room again, but the deadline has not passed
            with pytest.raises(RetryAfter):
                await bot.send_message(4, "too early")
            assert (api.count_429, api.early_429) == (2, 1)
            await asyncio.sleep(0.6)
            await bot.send_message(4, "after the deadline")
            assert api.delivered_chat_ids() == [1, 2, 4]
            # a chat's own limit holds back only that chat
            with pytest.raises(RetryAfter):
                await bot.send_message(4, "again to 4 within a second")
            await asyncio.sleep(0.1)
            await bot.send_message(5, "another chat is fine")


async def test_latency_and_jitter_hold_the_answer_not_the_arrival():
    async with FakeBotAPI(latency=0.2, jitter=0.1, seed=3) as api:
        async with telegram.Bot(TOKEN, base_url=api.base_url) as bot:
            await bot.get_me()
            took = []
            for i in range(8):
                started = time.monotonic()
                await bot.send_message(100 + i, "x")
                took.append(time.monotonic() - started)
                assert api.delivered[-1].t - started < 0.08  # recorded on arrival, answered later
    assert all(0.1 <= t < 0.45 for t in took)
    assert max(took) - min(took) > 0.03  # jittered


async def test_exclusive_updates_go_to_one_caller_each():
    async with FakeBotAPI(exclusive_updates=True) as api:
        async with (
            telegram.Bot(TOKEN, base_url=api.base_url) as one,
            telegram.Bot(TOKEN, base_url=api.base_url) as two,
        ):
            ids = [api.push_text(1000 + i, "/help") for i in range(3)]
            first = await one.get_updates(limit=2)
            second = await two.get_updates()
            assert [u.update_id for u in first] + [u.update_id for u in second] == ids


def test_window_helpers_and_duplicates():
    api = FakeBotAPI()
    for t, chat, text in [(0.0, 1, "a"), (0.5, 2, "a"), (0.99, 1, "a"), (1.0, 3, "b"), (2.5, 1, "c")]:
        api.delivered.append(Call(t, "sendMessage", chat, {"text": text}, 200))
    assert api.max_in_any_window(1.0) == 3  # 0.5, 0.99, 1.0
    assert api.max_per_chat_in_any_window(1.0) == 2  # chat 1 at 0.0 and 0.99
    assert api.duplicates() == {1: 1}
    api.reset()
    assert api.delivered == [] and api.count_429 == 0


async def test_standalone_process():
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_botapi", "--port", "0", "--rate", "5"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 10)
        assert base_url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient() as client:
            r = await client.get(f"{base_url.strip()}{TOKEN}/getMe")
            assert r.json()["result"]["id"] == 777000111
            stats = (await client.get(base_url.strip().removesuffix("/bot") + "/_fake/stats")).json()
            assert stats["calls"] == 1
    finally:
        proc.terminate()
        _out, err = await asyncio.to_thread(proc.communicate, timeout=10)
    assert '"calls": 1' in err
