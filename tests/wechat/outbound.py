"""Seeding and parts for the tests of messages the bot starts on WeChat: members who follow the official
account, the WeChat delivery against the fake WeChat server, and the H5 pages on an httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.http.host import HttpHost
from storage.models import Account, Member, MemberState, OutboxMessage, PartyStatus, Person
from tests.harness import ADMIN_CHAT_ID, BotHarness
from tests.wechat.conftest import wechat_settings
from tests.wechat.fake_server import FakeWeChat
from wechat.api import WeChatApi
from wechat.delivery import WeChatDelivery
from wechat.pages import MessagePages

PUBLIC = "https://branch.example.cn"
TPL_NOTICE, TPL_REMINDER = "TPLnotice01", "TPLreminder01"


def openid(n: int) -> str:
    """A 28-character openid, as WeChat makes them."""
    return f"oWx{n:025d}"


async def add_wechat_member(
    harness: BotHarness,
    branch_id: int,
    n: int,
    *,
    last_inbound_at: datetime | None = None,
    name: str | None = None,
    language: str | None = None,
) -> int:
    """An approved member of the branch who is reached only on WeChat; returns the person id."""
    async with harness.session() as session:
        person = Person(language=language, created_at=harness.clock.now())
        session.add(person)
        await session.flush()
        session.add(
            Account(
                person_id=person.id,
                channel="wechat",
                external_id=openid(n),
                address=openid(n),
                preferred=True,
                last_inbound_at=last_inbound_at,
            )
        )
        session.add(
            Member(
                person_id=person.id,
                branch_id=branch_id,
                state=MemberState.APPROVED,
                party_status=PartyStatus.FULL,
                name=name or f"微信党员{n}",
            )
        )
        await session.commit()
        return person.id


async def account_of(harness: BotHarness, n: int) -> Account:
    async with harness.session() as session:
        account = await session.scalar(select(Account).where(Account.external_id == openid(n)))
        assert account is not None
        return account


async def rows_to(harness: BotHarness, n: int | None = None) -> list[OutboxMessage]:
    """Outbox rows on WeChat (to one openid), in order."""
    async with harness.session() as session:
        query = select(OutboxMessage).where(OutboxMessage.channel == "wechat").order_by(OutboxMessage.id)
        if n is not None:
            query = query.where(OutboxMessage.address == openid(n))
        return list(await session.scalars(query))


def page_path(url: str) -> str:
    assert url.startswith(PUBLIC + "/m/"), url
    return urlparse(url).path


@dataclass
class WeChatOut:
    harness: BotHarness
    fake: FakeWeChat
    settings: Settings
    api: WeChatApi
    delivery: WeChatDelivery
    pages: MessagePages
    client: httpx.AsyncClient

    async def drain(self) -> int:
        return await self.delivery.drain()


def build_settings(harness: BotHarness, fake: FakeWeChat, **extra: object) -> Settings:
    values: dict[str, object] = {
        "wechat_template_notice": TPL_NOTICE,
        "wechat_template_reminder": TPL_REMINDER,
        "admin_chat_id": ADMIN_CHAT_ID,
        "public_base_url": PUBLIC,
    }
    values.update(extra)
    return wechat_settings(harness.settings.database_url, fake.base_url, **values)


@pytest.fixture(name="wx")
async def wx_fixture(harness: BotHarness, fake_wechat: FakeWeChat) -> AsyncIterator[WeChatOut]:
    settings = build_settings(harness, fake_wechat)
    api = WeChatApi(settings, harness.db, harness.clock)
    delivery = WeChatDelivery(harness.db, harness.clock, api, settings, concurrency=1)
    pages = MessagePages(harness.deps.conversation, harness.db, harness.clock)
    host = HttpHost(settings)
    host.add_routes(pages.routes())
    transport = httpx.ASGITransport(app=host.build_app())
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        yield WeChatOut(harness, fake_wechat, settings, api, delivery, pages, client)
    await api.aclose()
