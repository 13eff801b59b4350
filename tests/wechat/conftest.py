"""WeChat tests: the fake WeChat API server, settings that point at it, and the API client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from bot.clock import FakeClock
from bot.config import Settings
from bot.http.host import HttpHost
from storage.db import Database
from tests.harness import BotHarness, _test_key
from tests.wechat.fake_server import AES_KEY, APP_ID, APP_SECRET, CALLBACK_TOKEN, FakeWeChat
from tests.wechat.helpers import WeChatServer
from wechat.api import WeChatApi
from wechat.callback import wechat_routes
from wechat.channel import WeChatChannel

__all__ = ["AES_KEY", "CALLBACK_TOKEN"]


@pytest.fixture
def fake_wechat() -> Iterator[FakeWeChat]:
    with FakeWeChat() as server:
        yield server


def wechat_settings(database_url: str, base_url: str, **extra: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "encryption_key": _test_key(),
        "wechat_app_id": APP_ID,
        "wechat_app_secret": APP_SECRET,
        "wechat_token": CALLBACK_TOKEN,
        "wechat_api_base_url": base_url,
        "public_base_url": "https://branch.example.cn",
        **extra,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str, fake_wechat: FakeWeChat) -> Settings:
    return wechat_settings(database_url, fake_wechat.base_url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def api(settings: Settings, db: Database, clock: FakeClock) -> AsyncIterator[WeChatApi]:
    client = WeChatApi(settings, db, clock)
    yield client
    await client.aclose()


def wechat_extra(base_url: str, **extra: object) -> dict[str, object]:
    """The WeChat settings (pointing at the fake server) as keyword arguments."""
    return {
        "wechat_app_id": APP_ID,
        "wechat_app_secret": APP_SECRET,
        "wechat_token": CALLBACK_TOKEN,
        "wechat_api_base_url": base_url,
        "public_base_url": "https://branch.example.cn",
        **extra,
    }


@dataclass
class WeChatWorld:
    """The bot with its Telegram side (a secretary may be there) and the official account's callback."""

    harness: BotHarness
    api: WeChatApi
    channel: WeChatChannel
    server: WeChatServer
    fake: FakeWeChat


@asynccontextmanager
async def wechat_world(
    database_url: str, clock: FakeClock, fake: FakeWeChat, *, safe: bool = False
) -> AsyncIterator[WeChatWorld]:
    extra = wechat_extra(fake.base_url, **({"wechat_aes_key": AES_KEY} if safe else {}))
    harness = BotHarness(database_url, clock, **extra)
    await harness.start()
    api = WeChatApi(harness.settings, harness.db, clock)
    channel = WeChatChannel(harness.deps.conversation, harness.db, clock, api)
    host = HttpHost(harness.settings)
    host.add_routes(wechat_routes(channel, harness.settings))
    transport = httpx.ASGITransport(app=host.build_app())
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://wechat.test") as client:
            yield WeChatWorld(harness, api, channel, WeChatServer(client, clock, fake, safe=safe), fake)
            await channel.drain()
    finally:
        await api.aclose()
        await harness.stop()


@pytest.fixture
async def wx(database_url: str, clock: FakeClock, fake_wechat: FakeWeChat) -> AsyncIterator[WeChatWorld]:
    async with wechat_world(database_url, clock, fake_wechat) as world:
        yield world


@pytest.fixture
async def wx_safe(database_url: str, clock: FakeClock, fake_wechat: FakeWeChat) -> AsyncIterator[WeChatWorld]:
    async with wechat_world(database_url, clock, fake_wechat, safe=True) as world:
        yield world
