"""A person on more than one channel (issue 12): one copy, on the preferred account; a copy that cannot
reach them (they blocked the bot) moves to their next reachable account; the delivery report, the 收到
list and its export say which channel reached whom."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from openpyxl import load_workbook
from sqlalchemy import func, select, update

from bot.scheduling.engine import QuietHours, fire
from bot.services.outbox import fallback_route, notify_person, route_to
from storage.models import Account, OutboxMessage, OutboxStatus, Person
from tests.activity.test_engine import ping_kind
from tests.delivery.helpers import SECRETARY, add_members, make_branch
from tests.delivery.test_broadcast import compose, confirm
from tests.factories import TgUser
from tests.harness import BotHarness
from web.channel import WebChannel

TELEGRAM_ONLY, WEB_PREFERRED, WEB_SECOND = 7001, 7002, 7003


async def _accounts(harness: BotHarness, person_ids: dict[int, int]) -> None:
    """Every member has their Telegram account; two also use the web chat, one of them preferring it."""
    async with harness.session() as session:
        for user_id, person_id in person_ids.items():
            if user_id not in (WEB_PREFERRED, WEB_SECOND):
                continue
            preferred_web = user_id == WEB_PREFERRED
            await session.execute(
                update(Account)
                .where(Account.person_id == person_id, Account.channel == "telegram")
                .values(preferred=not preferred_web)
            )
            session.add(
                Account(
                    person_id=person_id,
                    channel="web",
                    external_id=f"w{user_id}",
                    address=f"w{user_id}",
                    preferred=preferred_web,
                )
            )
        await session.commit()


async def _world(harness: BotHarness, members: list[int]) -> dict[int, int]:
    branch = await make_branch(harness)
    person_ids = dict(zip(members, await add_members(harness, branch, members), strict=True))
    await _accounts(harness, person_ids)
    return person_ids


def _web(harness: BotHarness) -> WebChannel:
    return WebChannel(harness.deps.conversation, harness.db, harness.clock)


async def _routes(harness: BotHarness, source_prefix: str) -> dict[int, list[tuple[str, str]]]:
    async with harness.session() as session:
        rows = await session.execute(
            select(
                OutboxMessage.person_id, OutboxMessage.channel, OutboxMessage.chat_id, OutboxMessage.address
            )
            .where(OutboxMessage.source.like(f"{source_prefix}%"), OutboxMessage.person_id.is_not(None))
            .order_by(OutboxMessage.id)
        )
        found: dict[int, list[tuple[str, str]]] = {}
        for person_id, channel, chat_id, address in rows:
            found.setdefault(person_id, []).append(
                (channel, str(chat_id if chat_id is not None else address))
            )
        return found


async def test_a_notice_gives_one_copy_on_the_preferred_account(harness: BotHarness) -> None:
    people = await _world(harness, [TELEGRAM_ONLY, WEB_PREFERRED, WEB_SECOND])
    await compose(harness)
    notice_id = await confirm(harness)
    routes = await _routes(harness, f"notice:{notice_id}")
    assert {p: r for p, r in routes.items() if p in people.values()} == {
        people[TELEGRAM_ONLY]: [("telegram", str(TELEGRAM_ONLY))],
        people[WEB_PREFERRED]: [("web", f"w{WEB_PREFERRED}")],
        people[WEB_SECOND]: [("telegram", str(WEB_SECOND))],
    }
    await harness.deliver()
    assert harness.fake.sent(WEB_PREFERRED) == []
    assert await _web(harness).deliver_outbox() >= 1
    [shown] = await _web(harness).messages(f"w{WEB_PREFERRED}")
    assert "收到" in [b["text"] for row in shown["buttons"] for b in row]

    await harness.deliver()  # the report follows what the web channel delivered
    report = [c for c in harness.fake.sent(SECRETARY.id) if "发送报告" in c.text][-1]
    assert "已送达 3" in report.text and "送达渠道：Telegram 2 人、网页 1 人" in report.text

    calls = await harness.press(SECRETARY, f"ntc:na:{notice_id}")
    [listed] = [c for c in calls if c.method == "sendMessage"]
    assert f"党员{WEB_PREFERRED}（网页）" in listed.text and f"党员{TELEGRAM_ONLY}（" not in listed.text
    calls = await harness.press(SECRETARY, listed.button("导出名单"))
    [document] = [c for c in calls if c.method == "sendDocument"]
    rows = [
        [cell.value for cell in row]
        for row in load_workbook(io.BytesIO(document.files["document"][1])).active.iter_rows()
    ]
    assert rows[0][5] == "送达渠道"
    assert {row[0]: row[5] for row in rows[1:]} == {
        f"党员{TELEGRAM_ONLY}": "Telegram",
        f"党员{WEB_PREFERRED}": "网页",
        f"党员{WEB_SECOND}": "Telegram",
    }


async def test_one_message_and_one_reminder_on_the_preferred_account(harness: BotHarness) -> None:
    people = await _world(harness, [TELEGRAM_ONLY, WEB_PREFERRED, WEB_SECOND])
    async with harness.session() as session:
        for user_id, person_id in people.items():
            person = await session.get(Person, person_id)
            assert await notify_person(session, person, source=f"hello:{user_id}", key="notice.ack_thanks")
        now = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
        await fire(session, ping_kind(now), now, QuietHours())
        await session.commit()
        assert (await route_to(session, await session.get(Person, people[WEB_PREFERRED]))) == {
            "channel": "web",
            "address": f"w{WEB_PREFERRED}",
        }
    for prefix in ("hello:", "reminder:"):
        routes = await _routes(harness, prefix)
        assert routes == {
            people[TELEGRAM_ONLY]: [("telegram", str(TELEGRAM_ONLY))],
            people[WEB_PREFERRED]: [("web", f"w{WEB_PREFERRED}")],
            people[WEB_SECOND]: [("telegram", str(WEB_SECOND))],
        }, prefix


async def test_a_member_who_blocked_the_bot_is_reached_on_their_other_account(harness: BotHarness) -> None:
    people = await _world(harness, [TELEGRAM_ONLY, WEB_SECOND])
    harness.fake.blocked.add(WEB_SECOND)
    await compose(harness)
    notice_id = await confirm(harness)
    await harness.deliver()  # Telegram says: blocked. The copy moves to the web chat, once.
    async with harness.session() as session:
        row = await session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.source == f"notice:{notice_id}", OutboxMessage.person_id == people[WEB_SECOND]
            )
        )
        assert (row.status, row.channel, row.address, row.chat_id) == (
            OutboxStatus.PENDING,
            "web",
            f"w{WEB_SECOND}",
            None,
        )
        telegram = await session.scalar(
            select(Account).where(Account.person_id == people[WEB_SECOND], Account.channel == "telegram")
        )
        assert telegram.unreachable and (await session.get(Person, people[WEB_SECOND])).unreachable
    assert await _web(harness).deliver_outbox() >= 1
    await harness.deliver()
    report = [c for c in harness.fake.sent(SECRETARY.id) if "发送报告" in c.text][-1]
    assert "已送达 2，屏蔽 0" in report.text and "网页 1 人" in report.text
    async with harness.session() as session:
        copies = await session.scalar(
            select(func.count()).where(
                OutboxMessage.source == f"notice:{notice_id}", OutboxMessage.person_id == people[WEB_SECOND]
            )
        )
    assert copies == 1

    # The next notice goes to the web chat straight away; the preview counts them as reachable.
    await harness.transcript(SECRETARY, [("/notice", "请发送通知内容"), ("再通知", "发给谁")])
    await harness.transcript(SECRETARY, [(("press", "全支部"), "预览")])
    assert "已屏蔽本机器人" not in harness.fake.last(SECRETARY.id).text
    second = await confirm(harness)
    routes = await _routes(harness, f"notice:{second}")
    assert routes[people[WEB_SECOND]] == [("web", f"w{WEB_SECOND}")]


async def test_no_fallback_without_another_account_or_for_an_existing_copy(harness: BotHarness) -> None:
    people = await _world(harness, [TELEGRAM_ONLY, WEB_SECOND])
    async with harness.session() as session:
        assert (
            await fallback_route(
                session,
                person_id=people[TELEGRAM_ONLY],
                source="x:1",
                failed_channel="telegram",
                failed_address=str(TELEGRAM_ONLY),
            )
            is None
        )
        # The web chat already has this message: a second copy is not made.
        session.add(
            OutboxMessage(
                source="x:2",
                kind="notification",
                channel="web",
                address=f"w{WEB_SECOND}",
                person_id=people[WEB_SECOND],
                payload={"text": "hi"},
            )
        )
        await session.flush()
        assert (
            await fallback_route(
                session,
                person_id=people[WEB_SECOND],
                source="x:2",
                failed_channel="telegram",
                failed_address=str(WEB_SECOND),
            )
            is None
        )
        # That marked their Telegram chat unreachable; they write to the bot again, and then another
        # channel's failure (WeChat unsubscribed, the web account gone) falls back to Telegram.
        (await session.get(Person, people[WEB_SECOND])).unreachable = False
        await session.execute(
            update(Account).where(Account.person_id == people[WEB_SECOND]).values(unreachable=False)
        )
        assert await fallback_route(
            session,
            person_id=people[WEB_SECOND],
            source="x:3",
            failed_channel="web",
            failed_address=f"w{WEB_SECOND}",
        ) == {"chat_id": WEB_SECOND, "channel": "telegram", "address": None}


async def test_a_blocked_member_with_nowhere_else_still_counts_as_blocked(harness: BotHarness) -> None:
    await _world(harness, [TELEGRAM_ONLY])
    harness.fake.blocked.add(TELEGRAM_ONLY)
    await compose(harness)
    await confirm(harness)
    await harness.deliver()
    report = [c for c in harness.fake.sent(SECRETARY.id) if "发送报告" in c.text][-1]
    assert "屏蔽 1" in report.text and "送达渠道" not in report.text
    assert TgUser(TELEGRAM_ONLY).id in harness.fake.blocked
