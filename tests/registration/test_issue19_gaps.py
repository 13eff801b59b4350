"""Issue 19 points whose tests proved only part of what the issue asked: point 1 (since when), point 10
(locations and voice, with and without an open form) and point 12 (the /export workbook's dues sheet)."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from openpyxl import load_workbook

from tests import factories
from tests.dues.factory import SECRETARY, declare, local, make_world, open_months
from tests.factories import TgUser
from tests.registration.helpers import make_world as make_registration_world
from tests.registration.helpers import play, report_in_steps

WORKER = TgUser(7801, "打工人")
PAYER, SILENT = TgUser(7802, "张伟"), TgUser(7803, "李娜")


def _location(user: TgUser) -> dict[str, Any]:
    return {
        "update_id": next(factories._update_ids),
        "message": factories.message_dict(user, location={"latitude": 22.54, "longitude": 113.93}),
    }


def _voice(user: TgUser) -> dict[str, Any]:
    voice = {"file_id": "v", "file_unique_id": "v", "duration": 3}
    return {"update_id": next(factories._update_ids), "message": factories.message_dict(user, voice=voice)}


async def test_point_1_start_while_waiting_says_since_when_and_for_whom(harness) -> None:
    world = await make_registration_world(harness)
    await play(harness, WORKER, report_in_steps(world.invite_a))
    harness.clock.advance(days=3)
    await harness.send(WORKER, "/start")
    text = harness.fake.last(WORKER.id).text
    assert "您（王建国）于 2026-03-02" in text and "提交的报到正在等待深圳流动党支部书记审核" in text
    assert "/apply" not in text


async def test_point_10_a_location_or_voice_gets_a_pointer_or_the_open_question(harness) -> None:
    for update in (_location(WORKER), _voice(WORKER)):
        calls = await harness.feed(update)
        assert [c.method for c in calls] == ["sendMessage"] and "/help" in calls[0].text
    # With a form open, the same gets that form's question again.
    world = await make_registration_world(harness)
    steps = report_in_steps(world.invite_a)
    name_step = next(i for i, (_, want) in enumerate(steps) if want == "请输入您的姓名")
    await play(harness, WORKER, steps[: name_step + 1])
    for update in (_location(WORKER), _voice(WORKER)):
        calls = await harness.feed(update)
        assert "请输入文字" in calls[-1].text and "请输入您的姓名" in calls[-1].text


async def test_point_12_the_export_dues_sheet_never_totals_an_unknown_as_zero(harness) -> None:
    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [PAYER, SILENT])
    await declare(harness, world, PAYER)  # 15.00 a month; 李娜 never declares
    await open_months(harness, world.branch_id, date(2026, 3, 1))
    calls = await harness.send(SECRETARY, "/export")
    [document] = [c for c in calls if c.method == "sendDocument"]
    [(_, content)] = list(document.files.values())
    sheet = load_workbook(io.BytesIO(content))["党费台账 2026年3月"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    col = {h: i for i, h in enumerate(rows[0])}
    body = {r[col["姓名"]]: r for r in rows[1:3]}
    assert body["李娜"][col["状态"]] == "未申报基数" and body["李娜"][col["应交(元)"]] is None
    summary = {r[col["姓名"]]: r for r in rows[3:]}
    assert summary["未交"][col["实交(元)"]] == 15  # what the declared owe, not 0.00
    assert summary["未申报基数（金额未知）"][col["实交(元)"]] == "1 人"
