"""WeChat tests: the fake WeChat API server, settings that point at it, and the API client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bot.clock import FakeClock
from bot.config import Settings
from storage.db import Database
from tests.harness import _test_key
from tests.wechat.fake_server import APP_ID, APP_SECRET, FakeWeChat
from wechat.api import WeChatApi

CALLBACK_TOKEN = "callbacktoken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat gives them


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
