"""`branchbot demo`: the whole bot in a browser, no token, no network.

A fresh data folder (a temporary one unless ``--data``), embedded SQLite, and a demo world built the way
people build it: the administrator's services make the branch, the township and the roles; members
report in through the real conversation (the same flows and texts as on Telegram), and the secretary
approves them by tapping 通过. The page (web/static) lets a visitor pick who they are and chat; a time
control moves the demo clock so reminders, the six-month warnings and the report on the 1st fire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import tempfile
import webbrowser
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.features import reminder_kinds
from bot.clock import SystemClock
from bot.config import Settings
from bot.conversation import Conversation
from bot.scheduling.engine import QuietHours, tick
from storage.db import Database

logger = logging.getLogger(__name__)

BRANCH, CITY, TOWNSHIP, VILLAGES = "深圳流动党支部", "深圳", "青山镇", ["东村", "西村", "南村"]
DIRECTORY_FILE = "demo-people.json"
TICK_EVERY_S = 20.0


class DemoClock(SystemClock):
    """The wall clock plus an offset that the page's time control moves forward."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class Person:
    id: str
    name: str
    role: str  # member | secretary | agent | newcomer | applicant


@dataclass
class Directory:
    """Who can be picked on the page, kept beside the database so `--data` can be reused."""

    people: list[Person] = field(default_factory=list)
    invite: str = ""

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps(
                {"people": [p.__dict__ for p in self.people], "invite": self.invite}, ensure_ascii=False
            ),
            encoding="utf-8",
        )

    @classmethod
    def load(cls, path: Path) -> Directory | None:
        if not path.exists():
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls([Person(**p) for p in raw["people"]], raw.get("invite", ""))


MEMBERS = [
    ("member-wang", "王建国", "13800138001", "东村", "2015"),
    ("member-li", "李秀英", "13800138002", "西村", "2012"),
    ("member-zhang", "张伟", "13800138003", "南村", "2019"),
]


class Demo:
    """The demo's parts: database, clock, core, web channel; and what the page's controls do."""

    def __init__(
        self, settings: Settings, data_dir: Path, *, db: Database | None = None, clock: Any = None
    ) -> None:
        from app.features import build_features
        from web.channel import WebChannel

        self.settings = settings
        self.data_dir = data_dir
        self.clock = clock or DemoClock()  # anything with now() and advance(timedelta)
        self.db = db or Database(settings.database_url)
        self.conversation = Conversation(build_features(), db=self.db, clock=self.clock, settings=settings)
        self.channel = WebChannel(self.conversation, self.db, self.clock)
        self.quiet = QuietHours.from_settings(settings)
        self.kinds = reminder_kinds()
        self.directory = Directory()
        self._lock = asyncio.Lock()

    # -- what the page's controls do ---------------------------------------------------------------------
    async def people(self) -> list[dict[str, str]]:
        return [p.__dict__ for p in self.directory.people]

    async def settle(self) -> None:
        """Deliver what the last action enqueued for people on the page (the secretary's 待审核 ...)."""
        async with self._lock:
            await self.channel.deliver_outbox()

    async def advance(self, minutes: int) -> str:
        """Move the demo clock on, a day at most per tick so every due day is seen, then deliver."""
        async with self._lock:
            target = self.clock.now() + timedelta(minutes=minutes)
            while True:
                step = min(target - self.clock.now(), timedelta(hours=6))
                self.clock.advance(max(step, timedelta(0)))
                await tick(self.db, self.clock.now(), self.quiet, self.kinds)
                await self.channel.deliver_outbox()
                if self.clock.now() >= target:
                    break
            return self.clock.now().isoformat()

    async def background(self) -> None:
        """The reminder tick and the web delivery, as `branchbot run` would run them, on the demo clock."""
        while True:
            await asyncio.sleep(TICK_EVERY_S)
            try:
                async with self._lock:
                    await tick(self.db, self.clock.now(), self.quiet, self.kinds)
                    await self.channel.deliver_outbox()
            except Exception:
                logger.exception("demo tick failed")

    # -- the demo world ----------------------------------------------------------------------------------
    async def history(self, branch_id: int) -> None:
        """Some history through the services: this month's dues (paid by one member, not by the others,
        members owe from the month they reported in), an activity day with
        answers, a study item, the township's catalogue and one open request."""
        from decimal import Decimal

        from bot.rules.dues import DuesCategory
        from bot.services import activity, dues, relay, study
        from bot.services.study import Content
        from storage.models.activity import ActivityEvent, RsvpAnswer
        from storage.models.core import Township

        now = self.clock.now()
        this_month = now.astimezone(self.settings.tz).date().replace(day=1)
        async with self.db.session() as session:
            secretary = await _actor(session, "secretary")
            await dues.open_month(session, branch_id=branch_id, month=this_month, actor=secretary, now=now)
            await session.commit()
        async with self.db.session() as session:
            wang = await _actor(session, "member-wang")
            await dues.declare(
                session,
                member_id=wang.member_id,
                actor_person_id=wang.person_id,
                category=DuesCategory.EMPLOYED,
                base=Decimal("6000"),
                effective=None,
                now=now,
            )
            await dues.report_payment(
                session,
                member_id=wang.member_id,
                actor_person_id=wang.person_id,
                months=[this_month],  # 李秀英 and 张伟 have not paid it: the ledger shows both
                paid_on=now.astimezone(self.settings.tz).date(),
                place="host",
                paid_by=None,
                extra=Decimal("0"),
                now=now,
            )
            await session.commit()
        async with self.db.session() as session:
            secretary = await _actor(session, "secretary")
            day = min(now.astimezone(self.settings.tz).day + 3, 28)
            await activity.update_plan(session, secretary, branch_id, "rule", f"每月{day}日", now)
            await activity.update_plan(session, secretary, branch_id, "place", "社区党群服务中心", now)
            await activity.plan_events(session, now)
            await session.commit()
        async with self.db.session() as session:
            event = await session.scalar(
                select(ActivityEvent)
                .where(ActivityEvent.branch_id == branch_id, ActivityEvent.starts_at > now)
                .order_by(ActivityEvent.starts_at)
                .limit(1)
            )
            if event is not None:
                await activity.answer_rsvp(
                    session, await _actor(session, "member-wang"), event.id, RsvpAnswer.ATTEND, now
                )
                await activity.answer_rsvp(
                    session,
                    await _actor(session, "member-li"),
                    event.id,
                    RsvpAnswer.LEAVE,
                    now,
                    reason="上夜班",
                )
            content = Content(text="学习《中国共产党章程》第一章，写一两句心得。")
            await study.publish(
                session, await _actor(session, "secretary"), branch_id, content, 14, now, self.quiet
            )
            await session.commit()
        async with self.db.session() as session:
            township = await session.scalar(select(Township).where(Township.name == TOWNSHIP))
            agent = await _actor(session, "agent")
            item = await relay.add_item(
                session,
                township_id=township.id,
                name="开具在外务工证明",
                kind="full",
                materials=["身份证照片", "务工单位名称"],
                promised_days=5,
                actor_person_id=agent.person_id,
            )
            await relay.add_item(
                session,
                township_id=township.id,
                name="咨询新农合报销",
                kind="consult",
                materials=[],
                promised_days=3,
                actor_person_id=agent.person_id,
            )
            await relay.submit_request(
                session,
                await _actor(session, "member-zhang"),
                item.id,
                [relay.Part(kind="text", text="需要一份在外务工证明，单位是深圳某电子厂。")],
                now,
            )
            await session.commit()

    async def seed(self) -> None:
        """Build the demo world through the services and the conversation, once per data folder."""
        path = self.data_dir / DIRECTORY_FILE
        loaded = Directory.load(path)
        if loaded is not None:
            self.directory = loaded
            return
        from bot.services import admin
        from storage.models import Role

        async with self.db.session() as session:
            branch = await admin.create_branch(
                session, name=BRANCH, city=CITY, timezone=self.settings.timezone
            )
            await admin.add_township(session, name=TOWNSHIP, villages=VILLAGES)
            await admin.grant(
                session, user="web:secretary", role=Role.SECRETARY, branch=str(branch.id), township=None
            )
            await admin.grant(session, user="web:agent", role=Role.AGENT, branch=None, township=TOWNSHIP)
            await session.commit()
        people = [Person("secretary", "李书记", "secretary"), Person("agent", "青山镇代理员", "agent")]
        script = Script(self.channel)
        for who, name, phone, village, year in MEMBERS:
            await script.report_in(who, branch.invite_code, name, phone, village, year)
            await self.settle()
            await script.tap("secretary", "通过", containing=name)
            await self.settle()
            people.append(Person(who, name, "member"))
        await self.history(branch.id)
        await self.settle()
        people.append(Person("newcomer", "刘新来（未报到）", "newcomer"))
        people.append(Person("applicant", "陈申请（入党申请人）", "applicant"))
        self.directory = Directory(people, branch.invite_code)
        self.directory.save(path)


async def _actor(session: Any, who: str) -> Any:
    from bot.services.accounts import UserRef, find_person
    from bot.services.identity import load_actor

    person = await find_person(session, UserRef("web", who))
    return await load_actor(session, person)


class Script:
    """Plays a person through the real flows by what the screens say, as a person would."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.seen: dict[str, int] = {}

    async def messages(self, who: str) -> list[dict[str, Any]]:
        return await self.channel.messages(who, 0, limit=10_000)

    async def say(self, who: str, text: str) -> None:
        await self.channel.send_text(who, text, "zh")

    async def tap(self, who: str, label: str, *, containing: str | None = None) -> None:
        """Press the newest button whose label contains ``label`` (on a message containing ``containing``)."""
        for message in reversed(await self.messages(who)):
            if containing is not None and containing not in message["text"]:
                continue
            for row in message["buttons"]:
                for button in row:
                    if label in button["text"]:
                        if button["data"] is None:
                            await self.say(who, button["text"])
                        else:
                            await self.channel.press(who, message["message_id"], button["data"], "zh")
                        return
        raise RuntimeError(f"demo script: no button {label!r} for {who}")

    async def report_in(self, who: str, code: str, name: str, phone: str, village: str, year: str) -> None:
        await self.say(who, f"/start j_{code}")
        for step in ("继续", "同意"):
            await self.tap(who, step)
        await self.say(who, name)
        await self.say(who, phone)
        for step in (TOWNSHIP, village, "正式党员"):
            await self.tap(who, step)
        await self.say(who, year)  # the year buttons show recent years; typing one is as good
        for step in ("7月", "1", "跳过", "跳过", "建筑", "提交"):
            await self.tap(who, step)


def demo_settings(data_dir: Path, listen: str, port: int) -> Settings:
    return Settings(
        _env_file=None,  # the demo ignores the operator's .env: it never touches a real database or token
        database_url=f"sqlite+aiosqlite:///{data_dir / 'demo.sqlite3'}",
        data_dir=data_dir,
        http_listen=listen,
        http_port=port,
        bot_token=None,
        encryption_key=None,  # a key file in the demo's data folder
    )


def run_demo(
    *, port: int = 8080, listen: str = "127.0.0.1", data: str | None = None, browser: bool = True
) -> None:
    """Seed (once), serve the page until SIGINT or SIGTERM, then stop within a few seconds."""
    data_dir = Path(data) if data else Path(tempfile.mkdtemp(prefix="branchbot-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(_serve(demo_settings(data_dir, listen, port), data_dir, browser))


async def _serve(settings: Settings, data_dir: Path, browser: bool) -> None:
    from bot.http.host import HttpHost
    from bot.services.keys import configure_encryption
    from storage import migrate
    from web.routes import web_routes

    configure_encryption(settings)
    await migrate.upgrade(settings.database_url)
    demo = Demo(settings, data_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await demo.seed()
        host = HttpHost(settings)
        host.add_routes(
            web_routes(demo.channel, people=demo.people, advance=demo.advance, settle=demo.settle)
        )
        await host.start()
        url = f"http://{settings.http_listen}:{host.port}/"
        print(f"demo: open {url}", flush=True)
        if browser:
            with contextlib.suppress(Exception):
                webbrowser.open(url)
        background = asyncio.create_task(demo.background())
        await stop.wait()
        background.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await background
        await host.stop()
    finally:
        await demo.db.dispose()
