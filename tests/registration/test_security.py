"""The security table for reporting in: role x command matrix, no plaintext at rest, clean logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.services import admin, roster
from bot.services.identity import Actor
from storage.models import AuditEntry
from tests import factories
from tests.conftest import on_postgres
from tests.factories import TgUser
from tests.harness import TEST_TOKEN
from tests.registration.helpers import (
    ADMIN,
    AGENT_QS,
    E164,
    NAME,
    PHONE,
    SECRETARY_A,
    SECRETARY_B,
    approve,
    make_world,
    member_row,
    report_in,
)

MEMBER = TgUser(7501, "党员")
APPLICANT = TgUser(7502, "申请人")  # reported in, waiting for review
STRANGER = TgUser(7503, "路人")

# What each role gets for each command: a substring of the reply, or "document" for a file.
MATRIX = {
    "/me": {
        "member": NAME,
        "applicant": "待审核",
        "stranger": "还没有报到",
        "secretary_a": "还没有报到",
        "secretary_b": "还没有报到",
        "agent": "还没有报到",
        "admin": "还没有报到",
    },
    "/leave": {
        "member": "确认您已离开",
        "applicant": "只有已报到的党员",
        "stranger": "只有已报到的党员",
        "secretary_a": "只有已报到的党员",
        "secretary_b": "只有已报到的党员",
        "agent": "只有已报到的党员",
        "admin": "只有已报到的党员",
    },
    "/members": {
        "member": "没有权限",
        "applicant": "没有权限",
        "stranger": "没有权限",
        "secretary_a": "深圳流动党支部 · 在册 · 共1人",
        "secretary_b": "东莞流动党支部 · 在册 · 共0人",
        "agent": "没有权限",
        "admin": "没有权限",
    },
    "/export": {
        "member": "没有权限",
        "applicant": "没有权限",
        "stranger": "没有权限",
        "secretary_a": "document",
        "secretary_b": "document",
        "agent": "没有权限",
        "admin": "没有权限",
    },
    "/mydata": dict.fromkeys(
        ("member", "applicant", "stranger", "secretary_a", "secretary_b", "agent", "admin"), "document"
    ),
    "/deleteme": {
        "member": "不能恢复",
        "applicant": "不能恢复",
        "stranger": "无需删除",
        "secretary_a": "撤销职务",
        "secretary_b": "撤销职务",
        "agent": "撤销职务",
        "admin": "撤销职务",
    },
}
USERS = {
    "member": MEMBER,
    "applicant": APPLICANT,
    "stranger": STRANGER,
    "secretary_a": SECRETARY_A,
    "secretary_b": SECRETARY_B,
    "agent": AGENT_QS,
    "admin": ADMIN,
}


@pytest.mark.parametrize("command", sorted(MATRIX))
async def test_role_command_matrix(harness, command) -> None:
    world = await make_world(harness)
    await report_in(harness, MEMBER, world.invite_a)
    await approve(harness, MEMBER)
    await report_in(harness, APPLICANT, world.invite_a, name="李申请", phone="13900139000")
    for role, user in USERS.items():
        harness.clock.advance(seconds=11)
        calls = await harness.send(user, command)
        expected = MATRIX[command][role]
        if expected == "document":
            (document,) = [c for c in calls if c.method == "sendDocument"]
            if command == "/mydata":  # one's own data only
                data = json.loads(document.files["document"][1])
                assert {"channel": "telegram", "id": str(user.id), "preferred": True} in data["person"][
                    "accounts"
                ]
                own = {"member": NAME, "applicant": "李申请"}.get(role)
                assert (data.get("member") or {}).get("name") == own, role
        else:
            assert any(expected in c.text for c in calls), (command, role, [c.text for c in calls])
            if "没有权限" in expected:
                assert NAME not in " ".join(c.text for c in calls)


async def test_denials_are_audited(harness) -> None:
    await make_world(harness)
    await harness.send(MEMBER, "/members")
    await harness.send(MEMBER, "/export")
    async with harness.session() as session:
        denied = list(await session.scalars(select(AuditEntry.action).where(AuditEntry.result == "denied")))
    assert denied == ["roster.list", "roster.export"]


async def test_the_database_file_holds_no_name_or_phone(harness) -> None:
    if on_postgres():
        pytest.skip(
            "reads the SQLite file; PostgreSQL stores the same ciphertext through the same column types"
        )
    world = await make_world(harness)
    await report_in(harness, MEMBER, world.invite_a)
    await approve(harness, MEMBER)
    await harness.deliver()  # the outbox rows (which name the member) have been written and sent
    path = Path(make_url(harness.settings.database_url).database)
    blobs = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    assert len(blobs) > 10_000
    for secret in (NAME, PHONE, E164, "138 0013 8000", "0013", "东村，正式党员"):
        assert secret.encode("utf-8") not in blobs, secret
    # And the phone still finds the member, through the keyed blind index.
    member = await member_row(harness, MEMBER)
    actor = Actor(
        person_id=0,
        language="zh",
        grants=frozenset({("secretary", world.branch_a, None)}),
    )
    async with harness.session() as session:
        reply = await roster.open_roster(
            session, actor=actor, args=["138", "0013", "8000"], language="zh", now=harness.clock.now()
        )
    assert f"共1人\n1. {NAME}" in reply.screens[0].text and member.phone == E164


async def test_logs_hold_no_name_phone_or_token_after_a_full_flow(harness, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    # PTB's ExtBot echoes every request (message texts included) at DEBUG; production logs at INFO.
    caplog.set_level(logging.INFO, logger="telegram.ext.ExtBot")
    world = await make_world(harness)
    await report_in(harness, MEMBER, world.invite_a)
    await harness.deliver()
    await approve(harness, MEMBER)
    await harness.deliver()
    await harness.send(MEMBER, "/me")
    await harness.send(MEMBER, "/mydata")
    await harness.send(SECRETARY_A, "/members")
    await harness.send(SECRETARY_A, "/export")
    # Paths that do log: a redelivered update, and a report-in to a branch nobody reviews yet.
    update = factories.message_update(MEMBER, "/me", update_id=987654)
    await harness.feed(update)
    await harness.feed(update)
    async with harness.session() as session:
        lonely = await admin.create_branch(session, name="无人支部", city="佛山", timezone="Asia/Shanghai")
        await session.commit()
    await report_in(harness, STRANGER, lonely.invite_code, name="赵无名", phone="13700137000")
    text = caplog.text
    assert "already handled" in text and "has no secretary" in text
    secrets = ["赵无名", "13700137000", "+8613700137000"]
    for secret in (*secrets, NAME, PHONE, E164, "138 0013 8000", TEST_TOKEN, TEST_TOKEN.split(":")[1]):
        assert secret not in text, secret
