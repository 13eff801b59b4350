"""Personal data in the relay: encrypted at rest, part of /mydata, gone after /deleteme."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.features import build_features
from bot.services import members
from storage.models import (
    JoinApplication,
    OutboxMessage,
    OutboxStatus,
    Person,
    RequestAttachment,
    RequestState,
    ServiceRequest,
)
from tests import factories
from tests.conftest import on_postgres
from tests.factories import telegram_user
from tests.harness import BotHarness
from tests.relay.factory import AGENT_A, MEMBER_A, make_world
from tests.relay.helpers import tap, texts
from tests.relay.test_applications import APPLICANT, _apply

FEATURES = build_features()
SECTIONS = [f.data_section for f in FEATURES if f.data_section is not None]
ERASERS = [f.eraser for f in FEATURES if f.eraser is not None]


async def _request_with_materials(harness: BotHarness) -> None:
    async with harness.session() as session:
        await make_world(session, harness.clock.now())
    await harness.transcript(
        MEMBER_A,
        [
            ("/services", "青山镇"),
            (("press", "户口迁移"), "提交"),
            ("身份证号 110101199003070011", "共 1 件"),
        ],
    )
    await harness.feed(factories.photo_update(MEMBER_A, "photo-secret", caption="户口本首页"))
    await harness.transcript(MEMBER_A, [(("press", "提交"), "已提交 #1")])


async def _person_id(harness: BotHarness, user) -> int:
    async with harness.session() as session:
        return await session.scalar(select(Person.id).where(telegram_user(user.id)))


async def test_nothing_personal_is_stored_in_plain_text(harness: BotHarness) -> None:
    if on_postgres():
        pytest.skip("reads the SQLite file")
    await _request_with_materials(harness)
    await harness.deliver()
    await tap(harness, AGENT_A, "不予办理")
    await harness.send(AGENT_A, "户籍不在本镇，张三请到县里办理")
    await _apply(harness)
    await harness.deliver()
    raw = Path(make_url(harness.settings.database_url).database).read_bytes()
    for wal in Path(make_url(harness.settings.database_url).database).parent.glob("*-wal"):
        raw += wal.read_bytes()
    for secret in ("110101199003070011", "户口本首页", "户籍不在本镇", "陈七", "13800138000", "1995-06-18"):
        assert secret.encode() not in raw, secret


async def test_mydata_includes_requests_and_deleteme_removes_them(harness: BotHarness) -> None:
    await _request_with_materials(harness)
    await harness.deliver()
    await tap(harness, AGENT_A, "受理")
    person_id = await _person_id(harness, MEMBER_A)

    async with harness.session() as session:
        reply = await members.my_data(session, person_id=person_id, language="zh", sections=SECTIONS)
    document = json.loads(reply.screens[-1].document[1])
    request = document["service_requests"][0]
    assert request["item"] == "户口迁移" and request["receipt_no"] == "T1-2026-0001"
    assert [m["text"] for m in request["materials"]] == ["身份证号 110101199003070011", "户口本首页"]
    assert [s["step"] for s in request["steps"]] == ["submit", "accept"]
    assert document["application_to_join"] is None

    harness.fake.clear()
    async with harness.session() as session:
        await members.erase(
            session, person_id=person_id, language="zh", now=harness.clock.now(), erasers=ERASERS
        )
        await session.commit()
    async with harness.session() as session:
        row = await session.get(ServiceRequest, 1)
        assert row.state == RequestState.WITHDRAWN and row.member_id is None and row.receipt_no
        assert await session.scalar(select(func.count()).select_from(RequestAttachment)) == 0
        about = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.source.like("relay:1:%")))
        )
    for message in about:
        if message.source != "relay:1:erased:a":
            assert message.payload == {"text": ""}
            assert message.status in (OutboxStatus.SENT, OutboxStatus.CANCELLED)
    # The eraser runs on the wall clock (members.ERASERS take no clock), so deliver at the wall clock.
    harness.clock.set(datetime.now(UTC))
    told = texts(await harness.deliver(), AGENT_A)
    assert "删除了个人信息" in told and "张三" not in told


async def test_an_applicant_can_see_and_erase_the_application(harness: BotHarness) -> None:
    async with harness.session() as session:
        await make_world(session, harness.clock.now())
    await _apply(harness)
    person_id = await _person_id(harness, APPLICANT)
    async with harness.session() as session:
        reply = await members.my_data(session, person_id=person_id, language="zh", sections=SECTIONS)
    section = json.loads(reply.screens[-1].document[1])["application_to_join"]
    assert (section["name"], section["phone"], section["stages"][0]["stage"]) == (
        "陈七",
        "+8613800138000",
        "applied",
    )

    from bot.services import applications

    async with harness.session() as session:
        await applications.erase_person(session, person_id)
        await session.commit()
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(JoinApplication)) == 0
        letters = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.source.like("apply:1:%")))
        )
    assert letters and all(m.payload == {"text": ""} and m.status == OutboxStatus.CANCELLED for m in letters)
    assert texts(await harness.deliver()) == ""
