"""Every flow at once, several people interleaved, random input (a hypothesis state machine).

The real Application runs against the fake Bot API on a small world: branch A with a secretary, a
committee member and two approved members (a dues month opened, an activity day planned, a study item
published and a notice sent, all through the bot itself), branch B with its own secretary and member,
a home township with an agent and a catalogue, an applicant to join, and a stranger. Each step is one
person doing one thing: a command (sometimes with odd arguments), a press on any button the bot ever
showed to anyone (someone else's, old ones) or on forged data, random or familiar text, a shared
contact, a photo, a document, a sticker, the clock moving on, a reminder tick and the outbox delivery.

After every step: nothing reached the error handler (no ERROR logged, no error report in the admin
chat), every input got an answer, and a few cheap database invariants hold (one member row per person,
RSVPs, sign-ins, check-ins, dues and acknowledgements only inside the member's own branch, requests
with a coherent life) and no other branch's secretary, stranger or applicant ever saw a member's name.

Only the harness's public behaviour is used: updates fed in, fake Bot API calls read back, the
database queried. Setting the world up goes through the bot's own screens where it can.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from app.features import reminder_kinds
from bot.clock import FakeClock
from bot.commands import COMMANDS
from bot.scheduling.engine import QuietHours, tick
from bot.services import admin, relay
from storage.db import create_engine
from storage.models import Base, Member, MemberState, Person, Role
from storage.models.activity import ActivityAttendance, ActivityEvent, ActivityRsvp, OrgLifeExcuse
from storage.models.broadcast import Notice, NoticeAck
from storage.models.dues import DuesMonth, DuesPayment
from storage.models.relay import OPEN_STATES, JoinApplication, RequestEvent, ServiceRequest
from storage.models.study import StudyCheckin, StudyItem
from tests import factories
from tests.conftest import on_postgres
from tests.factories import TgUser, telegram_person, telegram_user
from tests.fakes import Call
from tests.harness import ADMIN_CHAT_ID, BotHarness

pytestmark = pytest.mark.slow

# The harness clock of every other test: Monday 2 March 2026, 09:00 in Shanghai.
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

STRANGER = TgUser(9900, "路人")
MEMBER = TgUser(9901, "党员甲")
MEMBER_2 = TgUser(9902, "党员乙", "en")
SECRETARY = TgUser(9910, "书记甲")
COMMITTEE = TgUser(9911, "委员甲", "en")
AGENT = TgUser(9920, "代理员青山")
APPLICANT = TgUser(9930, "申请人")
OTHER_SECRETARY = TgUser(9940, "书记乙")
OTHER_MEMBER = TgUser(9941, "党员丙")
USERS = [STRANGER, MEMBER, MEMBER_2, SECRETARY, COMMITTEE, AGENT, APPLICANT, OTHER_SECRETARY, OTHER_MEMBER]

# Names in the database, unlike anything else the bot or the fuzzer writes, so a leak is a substring.
NAMES = {MEMBER.id: "赵一鸣", MEMBER_2.id: "钱二丰", OTHER_MEMBER.id: "孙三思"}
BRANCH_A_NAMES = (NAMES[MEMBER.id], NAMES[MEMBER_2.id])
PHONES = {MEMBER.id: "+8613800138001", MEMBER_2.id: "+8613800138002", OTHER_MEMBER.id: "+8613800138003"}
# Who must never see the names of branch A's members.
KEPT_FROM_BRANCH_A = (OTHER_SECRETARY.id, OTHER_MEMBER.id, STRANGER.id, APPLICANT.id)

HUGE = "99999999999999999999"
PREFIXES = [
    "reg",
    "self",
    "ros",
    "exp",
    "rl",
    "jn",
    "apply",
    "ntc",
    "dues",
    "dsa",
    "act",
    "life",
    "stu",
    "rpt",
]
PREFIXES += ["lang", "start", "help", "mem", "x", ""]
ODD_IDS = [HUGE, "-1", "0", "-99999999999999999999", "9223372036854775808", "1.5", "abc", "", "١٢", "²"]

# The shapes of the bot's button data, each number a slot for a forged value.
SHAPES = [
    "act:b:{}",
    "act:e:{}:rule",
    "act:h:{}",
    "act:k:{}",
    "act:kk:{}",
    "act:l:{}",
    "act:m:{}:{}",
    "act:n:{}",
    "act:s:{}",
    "act:v:{}",
    "act:x:{}:{}",
    "act:y:{}",
    "life:ok:{}",
    "life:chg:{}",
    "dsa:ak:{}:{}:e",
    "dsa:am:{}:{}",
    "dsa:arr:{}",
    "dsa:b:{}",
    "dsa:cc:{}",
    "dsa:cf:{}",
    "dsa:co:{}",
    "dsa:day:{}",
    "dsa:exp:{}",
    "dsa:frm:{}",
    "dsa:mem:{}:adj",
    "dsa:oc:{}:employed",
    "dsa:open:{}:{}",
    "dsa:pend:{}",
    "dsa:qtr:{}:{}",
    "dsa:rj:{}",
    "dsa:rm:{}:{}",
    "dsa:rnd:{}:{}",
    "dsa:rok:{}",
    "dsa:set:{}",
    "dsa:xl:{}:{}",
    "dues:eff:{}",
    "dues:m:{}",
    "dues:d:{}",
    "jn:stg:{}:{}",
    "jn:talk:{}",
    "jn:view:{}",
    "reg:dy:{}",
    "reg:mo:{}",
    "reg:ok:{}:{}",
    "reg:no:{}:{}",
    "reg:rt:{}:{}",
    "reg:yp:{}",
    "reg:yr:{}",
    "reg:tr:{}",
    "rl:add:{}",
    "rl:cat:new:{}",
    "rl:cat:off:{}",
    "rl:item:{}",
    "rl:my:{}",
    "rl:view:{}",
    "rl:wd:{}",
    "rl:wdy:{}",
    "rl:acc:{}",
    "ros:lv:{}:{}",
    "ros:v:{}",
    "ros:b:{}",
    "ros:p:{}:all:{}:0:n",
    "ros:v:{}:tw:{}:0:t",
    "ros:rm:{}:all:0:{}:i",
    "ros:msg:{}:silent:{}:0:n",
    "stu:k:{}",
    "stu:d:{}",
    "stu:p:{}",
    "stu:r:{}",
    "ntc:b:{}",
    "ntc:ack:{}",
    "ntc:na:{}",
    "ntc:fu:{}",
    "exp:{}",
    "rpt:{}",
    "lang:{}",
]


def _fill(shape: str, values: list[str]) -> str:
    return shape.format(*(values * 2)[: shape.count("{}")])[:64]


WORDS = [
    # What buttons say, typed instead of pressed.
    "继续",
    "同意",
    "提交",
    "通过",
    "打回",
    "参加",
    "请假",
    "签到",
    "打卡",
    "写心得",
    "收到",
    "确认",
    "取消",
    "返回",
    "跳过",
    "全支部",
    "发布学习",
    "户口迁移",
    "青山镇",
    "东村",
    "正式党员",
    "预备党员",
    "建筑",
    # Dates.
    "今天",
    "昨天",
    "前天",
    "明天",
    "2026-13-40",
    "2026-02-30",
    "2026-03-01",
    "3月1日",
    "1995-06-18",
    "１９９０年１月２日",
    "15",
    "每月１５日",
    "最后一个周六",
    "19：30",
    "25:00",
    "3,1,0 07:30",
    "7天",
    # Numbers and money.
    "0",
    "-1",
    "3000",
    "3000.555",
    "1e9",
    HUGE,
    "１２３",
    "²",
    "₃日",
    "NaN",
    "¥50",
    # People.
    "王建国",
    "13800138000",
    "+86 138 0013 8000",
    "12345",
    # Empty-ish, odd and long.
    " ",
    "\u200b",
    "\n",
    "\u3000",
    "\u202eevil",
    "<b>粗</b>",
    "{name} %s",
    "户口本\n身份证",
    "长" * 4096,
    # Slashes that are not our commands.
    "/unknown",
    "/START",
    "/start@branch_test_bot",
    "/dues@branch_test_bot 2",
]
ARGS = ["", "", "", " 1", " 2026-02", " 2026-13", " 待审", " silent 7", " 13800138000", f" {HUGE}", " -1"]
ARGS += [" ²", " silent ²", " v ²", " abc", " " + "参" * 300, " j_nonsense", " INVITE_A", " INVITE_B"]

_copies = itertools.count()


# -- the world ----------------------------------------------------------------------------------------


@dataclass
class World:
    branch_a: int
    branch_b: int
    invite_a: str
    invite_b: str
    township: int
    member_ids: dict[int, int] = field(default_factory=dict)


async def _member(session: Any, user: TgUser, branch_id: int, township_id: int) -> Member:
    person = await session.scalar(select(Person).where(telegram_user(user.id)))
    if person is None:
        person = telegram_person(user.id, client_language=user.language_code)
        session.add(person)
        await session.flush()
    member = Member(
        person_id=person.id,
        branch_id=branch_id,
        state=MemberState.APPROVED,
        party_status="full",
        name=NAMES[user.id],
        phone=PHONES[user.id],
        township_id=township_id,
        joined_party_on=date(2012, 7, 1),
        submitted_at=START - timedelta(days=60),
        decided_at=START - timedelta(days=59),
        created_at=START - timedelta(days=60),
        updated_at=START - timedelta(days=59),
        revision=1,
    )
    session.add(member)
    await session.flush()
    return member


async def build_world(harness: BotHarness) -> World:
    async with harness.session() as session:
        a = await admin.create_branch(session, name="深圳流动党支部", city="深圳", timezone="Asia/Shanghai")
        b = await admin.create_branch(session, name="东莞流动党支部", city="东莞", timezone="Asia/Shanghai")
        township, _ = await admin.add_township(session, name="青山镇", villages=["东村", "西村"])
        other_township, _ = await admin.add_township(session, name="绿水镇", villages=["南村"])
        for user, role, branch, town in (
            (SECRETARY, Role.SECRETARY, str(a.id), None),
            (COMMITTEE, Role.COMMITTEE, str(a.id), None),
            (OTHER_SECRETARY, Role.SECRETARY, str(b.id), None),
            (AGENT, Role.AGENT, None, str(township)),
        ):
            await admin.grant(session, user=user.id, role=role, branch=branch, township=town)
        world = World(a.id, b.id, a.invite_code, b.invite_code, township)
        for user, branch_id, town in (
            (MEMBER, a.id, township),
            (MEMBER_2, a.id, township),
            (OTHER_MEMBER, b.id, other_township),
        ):
            world.member_ids[user.id] = (await _member(session, user, branch_id, town)).id
        for name, kind, materials, days in (
            ("户口迁移", "full", ["身份证", "户口本"], 5),
            ("养老保险咨询", "consult", [], 0),
        ):
            await relay.add_item(
                session,
                township_id=township,
                name=name,
                kind=kind,
                materials=materials,
                promised_days=days,
                actor_person_id=None,
            )
        applicant = telegram_person(APPLICANT.id, client_language="zh-hans")
        session.add(applicant)
        await session.flush()
        session.add(
            JoinApplication(
                person_id=applicant.id,
                branch_id=a.id,
                township_id=township,
                name="申请人周五",
                phone="+8613900139000",
                birth_date="1998-05-04",
                letter_kind="text",
                letter_text="入党申请书",
                submitted_at=START - timedelta(days=3),
                talk_due_on=(START + timedelta(days=28)).date(),
                talk_due_at=START + timedelta(days=29),
                stage_changed_at=START - timedelta(days=3),
            )
        )
        for branch_id in (a.id, b.id):
            for month in (date(2026, 2, 1), date(2026, 3, 1)):
                session.add(DuesMonth(branch_id=branch_id, month=month, opened_at=START - timedelta(days=1)))
        await session.commit()
    # The activity day, the study item and the notice go through the bot, as a secretary would do them.
    await harness.transcript(
        SECRETARY,
        [
            ("/activity", "党员活动日"),
            (("press", "规则"), "请输入活动日规则"),
            ("每月１５日", "已保存"),
            (("press", "地点"), "请输入地点"),
            ("社区党群服务中心", "社区党群服务中心"),
        ],
    )
    harness.clock.advance(seconds=5)
    await harness.transcript(
        SECRETARY,
        [
            ("/study", "学习打卡"),
            (("press", "发布学习"), "请发送学习内容"),
            ("学习党章第九条", "学习期几天"),
            (("press", "7天"), "预览"),
            (("press", "发布"), "已发布"),
        ],
    )
    harness.clock.advance(seconds=5)
    await harness.transcript(
        SECRETARY,
        [
            ("/notice", "请发送通知内容"),
            ("本周六上午九点开会。", "发给谁"),
            (("press", "全支部"), "预览"),
            (("press", "提交"), "发送中"),
        ],
    )
    await harness.deliver()
    harness.clock.advance(seconds=5)
    for user in (MEMBER, MEMBER_2, OTHER_MEMBER):
        await harness.send(user, "/activity")
        await harness.send(user, "/dues")
        await harness.send(user, "/services")
    for user, command in ((SECRETARY, "/duesadmin"), (SECRETARY, "/members"), (AGENT, "/inbox")):
        await harness.send(user, command)
        harness.clock.advance(seconds=2)
    for user in (SECRETARY, OTHER_SECRETARY, AGENT, APPLICANT):
        await harness.send(user, "/help")
    harness.clock.advance(seconds=30)
    return world


# -- the database: the world built once, a fresh copy of it for each run of the machine --------------


@dataclass
class Snapshot:
    """The world as the bot left it after setting up, and the buttons it had shown by then."""

    world: World
    now: datetime
    pool: list[str]
    last: dict[int, list[str]]
    shown: dict[int, list[str]]


def _buttons(
    calls: list[Call], pool: list[str], last: dict[int, list[str]], shown: dict[int, list[str]]
) -> None:
    """Note the button data of these calls: all of it, the last keyboard of each chat, and everything
    each chat was ever shown."""
    for call in calls:
        data = call.button_data()
        if not data:
            continue
        for item in data:
            if item not in pool:
                pool.append(item)
        if call.chat_id is not None:
            last[call.chat_id] = data
            mine = shown.setdefault(call.chat_id, [])
            mine.extend(item for item in data if item not in mine)


class Databases:
    """The world is built once into its own database; each run of the machine gets a copy of it (a file
    copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL), so shrinking a failure stays cheap."""

    def __init__(self, template: str, folder: Path) -> None:
        self.template = template
        self.folder = folder
        self.snapshot: Snapshot | None = None
        self.world_url: str | None = None
        self.created: list[str] = []  # PostgreSQL databases to drop at the end

    async def _admin(self, statement: str) -> None:
        engine = create_engine(self.template, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    async def _copy(self, source: str, name: str) -> str:
        if not on_postgres():
            target = self.folder / f"{name}.sqlite3"
            shutil.copyfile(make_url(source).database, target)
            return f"sqlite+aiosqlite:///{target}"
        name = f"{name}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(source).database}"')
        self.created.append(name)
        return make_url(self.template).set(database=name).render_as_string(hide_password=False)

    async def build(self) -> Snapshot:
        self.world_url = await self._copy(self.template, "every_flow_world")
        if on_postgres():
            # The shared template is emptied at the start of each test, not after: empty this copy too.
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            engine = create_engine(self.world_url)
            try:
                async with engine.begin() as connection:
                    await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            finally:
                await engine.dispose()
        harness = BotHarness(self.world_url, FakeClock(START))
        await harness.start()
        try:
            world = await build_world(harness)
        finally:
            await harness.stop()
        pool: list[str] = []
        last: dict[int, list[str]] = {}
        shown: dict[int, list[str]] = {}
        _buttons(harness.fake.calls, pool, last, shown)
        self.snapshot = Snapshot(world, harness.clock.now(), pool, last, shown)
        return self.snapshot

    async def fresh(self) -> str:
        assert self.world_url is not None
        if on_postgres():
            # Only the previous run's copy is dropped here; the rest go in close().
            while len(self.created) > 1:
                await self._admin(f'DROP DATABASE IF EXISTS "{self.created.pop()}" WITH (FORCE)')
        return await self._copy(self.world_url, f"every_flow_{next(_copies)}")

    async def close(self) -> None:
        for name in reversed(self.created):
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# -- strategies ---------------------------------------------------------------------------------------

users = st.sampled_from(USERS)
# Who presses their own buttons: mostly the people with the most to do, so the flows get deep.
busy_users = st.sampled_from([MEMBER, MEMBER, MEMBER, MEMBER_2, SECRETARY, SECRETARY, *USERS])
command_names = st.sampled_from([c.name for c in COMMANDS])
texts = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS),
    st.text(min_size=1, max_size=40).filter(lambda t: t.strip() and not t.startswith("/")),
)
forged = st.one_of(
    st.builds(_fill, st.sampled_from(SHAPES), st.lists(st.sampled_from(ODD_IDS), min_size=1, max_size=2)),
    st.builds(_fill, st.sampled_from(SHAPES), st.lists(st.sampled_from(ODD_IDS), min_size=1, max_size=2)),
    st.builds(
        lambda prefix, parts: ":".join([prefix, *parts])[:64],
        st.sampled_from(PREFIXES),
        st.lists(
            st.one_of(st.sampled_from(ODD_IDS), st.from_regex(r"[a-z]{1,3}", fullmatch=True)), max_size=4
        ),
    ),
    st.text(max_size=64).filter(lambda t: len(t.encode()) <= 64 and t),
)
pauses = st.one_of(
    st.integers(min_value=1, max_value=600).map(lambda s: timedelta(seconds=s)),
    st.sampled_from([timedelta(hours=1), timedelta(hours=7), timedelta(days=1), timedelta(days=4)]),
)


def _answered(calls: list[Call], user: TgUser, query_id: str | None) -> bool:
    """Some message to the person, or the spinner of their press stopped."""
    return any(
        c.chat_id == user.id
        or (c.method == "answerCallbackQuery" and c.params.get("callback_query_id") == query_id)
        for c in calls
    )


def _sticker(user: TgUser) -> dict[str, Any]:
    sticker = {
        "file_id": "sticker-1",
        "file_unique_id": "u-sticker-1",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
    }
    update = factories.photo_update(user)
    update["message"].pop("photo")
    update["message"]["sticker"] = sticker
    return update


# -- the machine --------------------------------------------------------------------------------------


class EveryFlow(RuleBasedStateMachine):
    databases: Databases  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.errors = ErrorLog()
        logging.getLogger().addHandler(self.errors)
        self.harness: BotHarness | None = None
        self.seen = 0  # calls of the fake already looked at
        self.pool: list[str] = []  # every callback data the bot ever showed, in order
        self.last: dict[int, list[str]] = {}  # the buttons of the last message each person got
        self.shown: dict[int, list[str]] = {}  # every callback data each person was ever shown
        self.history: list[str] = []  # what was done, for the failure message

    def _run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    @initialize()
    def setup(self) -> None:
        snapshot = self.databases.snapshot
        assert snapshot is not None
        self.world = snapshot.world
        self.pool = list(snapshot.pool)
        self.last = {chat: list(data) for chat, data in snapshot.last.items()}
        self.shown = {chat: list(data) for chat, data in snapshot.shown.items()}

        async def start() -> None:
            url = await self.databases.fresh()
            self.harness = BotHarness(url, FakeClock(snapshot.now))
            await self.harness.start()

        self._run(start())

    def teardown(self) -> None:
        try:
            if self.harness is not None:
                self._run(self.harness.stop())
        finally:
            logging.getLogger().removeHandler(self.errors)
            self.loop.close()

    # -- looking at what the bot did ------------------------------------------------------------------
    def _look(self, calls: list[Call]) -> None:
        _buttons(calls, self.pool, self.last, self.shown)

    def _check_log(self, what: str) -> None:
        if self.errors.records:
            record = self.errors.records[0]
            raise AssertionError(f"ERROR logged after {what}: {record.getMessage()}\n{self._trail()}")

    def _trail(self) -> str:
        return "steps:\n  " + "\n  ".join(self.history[-30:])

    def _new_calls(self) -> list[Call]:
        calls = self.harness.fake.calls[self.seen :]
        self.seen = len(self.harness.fake.calls)
        return calls

    def _after(self, what: str, calls: list[Call], user: TgUser | None, query_id: str | None) -> None:
        self._look(calls)
        self._check_log(what)
        reports = [c for c in calls if c.chat_id == ADMIN_CHAT_ID and ("出错" in c.text or "rror" in c.text)]
        assert not reports, f"error report after {what}: {reports[0].text}\n{self._trail()}"
        if user is not None:
            assert _answered(calls, user, query_id), f"no answer to {what}\n{self._trail()}"
        for call in calls:
            if call.chat_id in KEPT_FROM_BRANCH_A:
                leaked = [name for name in BRANCH_A_NAMES if name in call.text]
                assert not leaked, (
                    f"{leaked} shown to {call.chat_id} after {what}: {call.text}\n{self._trail()}"
                )
            if call.chat_id in (SECRETARY.id, COMMITTEE.id, MEMBER.id, MEMBER_2.id):
                assert NAMES[OTHER_MEMBER.id] not in call.text, (
                    f"branch B name to {call.chat_id} after {what}"
                )

    def _feed(self, user: TgUser, update: dict[str, Any], what: str) -> None:
        what = f"{user.first_name}({user.id}) {what}"
        self.history.append(what)
        self.harness.clock.advance(seconds=1)  # a human pace: the flood limit never trips
        self._new_calls()
        self._run(self.harness.feed(update))
        query = update.get("callback_query")
        self._after(what, self._new_calls(), user, query["id"] if query else None)

    # -- rules ----------------------------------------------------------------------------------------
    @rule(user=users, name=command_names, args=st.sampled_from(ARGS))
    def command(self, user: TgUser, name: str, args: str) -> None:
        args = args.replace("INVITE_A", f"j_{self.world.invite_a}").replace(
            "INVITE_B", f"j_{self.world.invite_b}"
        )
        self._feed(user, factories.message_update(user, f"/{name}{args}"), f"sends /{name}{args[:40]}")

    @rule(user=users, index=st.integers(min_value=0, max_value=10_000))
    def press_any_button_ever_shown(self, user: TgUser, index: int) -> None:
        if not self.pool:
            return
        data = self.pool[index % len(self.pool)]
        self._feed(user, factories.callback_update(user, data), f"presses {data!r}")

    @rule(user=busy_users, index=st.integers(min_value=0, max_value=20))
    def press_own_last_button(self, user: TgUser, index: int) -> None:
        buttons = self.last.get(user.id)
        if not buttons:
            return
        data = buttons[index % len(buttons)]
        self._feed(user, factories.callback_update(user, data), f"presses own {data!r}")

    @rule(user=busy_users, index=st.integers(min_value=0, max_value=10_000))
    def press_own_old_button(self, user: TgUser, index: int) -> None:
        buttons = self.shown.get(user.id)
        if not buttons:
            return
        data = buttons[index % len(buttons)]
        self._feed(user, factories.callback_update(user, data), f"presses own old {data!r}")

    @rule(user=busy_users, start=st.integers(min_value=0, max_value=10_000), count=st.integers(1, 8))
    def press_a_run_of_own_buttons(self, user: TgUser, start: int, count: int) -> None:
        """Several of one's own buttons in a row, each checked: reaches 收到, 打卡, RSVPs, a dues step."""
        for step in range(count):
            buttons = self.shown.get(user.id)
            if not buttons:
                return
            data = buttons[(start + step) % len(buttons)]
            self._feed(user, factories.callback_update(user, data), f"presses own {data!r}")

    @rule(user=users, data=forged)
    def press_forged(self, user: TgUser, data: str) -> None:
        self._feed(user, factories.callback_update(user, data), f"presses forged {data!r}")

    @rule(user=users, index=st.integers(min_value=0, max_value=10_000), odd=st.sampled_from(ODD_IDS))
    def press_tampered(self, user: TgUser, index: int, odd: str) -> None:
        """A real button with one of its numbers swapped for a huge, negative or garbage one."""
        if not self.pool:
            return
        parts = self.pool[index % len(self.pool)].split(":")
        numeric = [i for i, p in enumerate(parts) if p.lstrip("-").isdigit()] or [len(parts) - 1]
        parts[numeric[index % len(numeric)]] = odd
        data = ":".join(parts)[:64]
        self._feed(user, factories.callback_update(user, data), f"presses tampered {data!r}")

    @rule(user=busy_users, words=texts)
    def text(self, user: TgUser, words: str) -> None:
        self._feed(user, factories.message_update(user, words), f"types {words[:40]!r}")

    @rule(user=users, whose=st.sampled_from([*USERS, None]))
    def contact(self, user: TgUser, whose: TgUser | None) -> None:
        phone = PHONES.get(whose.id, f"+86139{whose.id:08d}") if whose else "+16502530000"
        update = factories.contact_update(user, phone, contact_user_id=whose.id if whose else None)
        self._feed(user, update, f"shares the contact of {whose.id if whose else 'nobody'}")

    @rule(user=users, kind=st.sampled_from(["photo", "document", "sticker"]), caption=st.booleans())
    def media(self, user: TgUser, kind: str, caption: bool) -> None:
        words = "材料" if caption else None
        if kind == "photo":
            update = factories.photo_update(user, caption=words)
        elif kind == "document":
            update = factories.document_update(user, caption=words)
        else:
            update = _sticker(user)
        self._feed(user, update, f"sends a {kind}")

    @rule(user=st.sampled_from([STRANGER, APPLICANT]), branch=st.sampled_from(["a", "b"]))
    def report_in(self, user: TgUser, branch: str) -> None:
        """The whole report-in by buttons, step by step (each checked), so that approval is reachable."""
        code = self.world.invite_a if branch == "a" else self.world.invite_b
        steps: list[tuple[str, str]] = [("text", f"/start j_{code}"), ("press", "继续"), ("press", "同意")]
        steps += [("text", "王建国"), ("text", "13800138000"), ("press", "青山镇"), ("press", "东村")]
        steps += [("press", "正式党员"), ("press", "2015"), ("press", "7月"), ("press", "1")]
        steps += [("press", "跳过"), ("press", "跳过"), ("press", "建筑"), ("press", "提交")]
        for kind, value in steps:
            if kind == "text":
                self._feed(user, factories.message_update(user, value), f"types {value!r}")
                continue
            try:
                data = self.harness.fake.last(user.id).button(value)
            except AssertionError:
                return  # the walk went elsewhere (already a member, a draft in the way): fine
            self._feed(user, factories.callback_update(user, data), f"presses {value!r}")

    @rule(pause=pauses)
    def time_passes(self, pause: timedelta) -> None:
        self.history.append(f"the clock moves {pause}")
        self.harness.clock.advance(seconds=pause.total_seconds())

    @rule()
    def reminders_and_delivery(self) -> None:
        self.history.append("a reminder tick and the outbox delivery")
        self._new_calls()
        harness = self.harness
        quiet = QuietHours.from_settings(harness.settings)
        self._run(tick(harness.db, harness.clock.now(), quiet, reminder_kinds()))
        self._run(harness.deliver())
        self._after("a reminder tick and delivery", self._new_calls(), None, None)

    # -- invariants -----------------------------------------------------------------------------------
    @invariant()
    def database_is_coherent(self) -> None:
        if self.harness is not None:
            self._run(self._invariants())

    async def _invariants(self) -> None:
        trail = self._trail()
        async with self.harness.session() as session:
            twice = await session.execute(
                select(Member.person_id).group_by(Member.person_id).having(func.count() > 1)
            )
            assert twice.all() == [], trail
            for member in await session.scalars(select(Member)):
                assert member.state in set(MemberState), (member.state, trail)
                if member.state == MemberState.APPROVED:
                    assert member.name and member.branch_id, trail
            # Everything a member does is inside their own branch.
            for model, parent, parent_key in (
                (ActivityRsvp, ActivityEvent, ActivityRsvp.event_id),
                (ActivityAttendance, ActivityEvent, ActivityAttendance.event_id),
                (OrgLifeExcuse, ActivityEvent, OrgLifeExcuse.event_id),
                (StudyCheckin, StudyItem, StudyCheckin.item_id),
            ):
                crossed = await session.scalar(
                    select(func.count())
                    .select_from(model)
                    .join(parent, parent.id == parent_key)
                    .join(Member, Member.id == model.member_id)
                    .where(Member.branch_id != parent.branch_id)
                )
                assert crossed == 0, (model.__name__, trail)
            for model, key in (
                (ActivityRsvp, ActivityRsvp.event_id),
                (ActivityAttendance, ActivityAttendance.event_id),
                (StudyCheckin, StudyCheckin.item_id),
            ):
                doubled = await session.execute(
                    select(key, model.member_id).group_by(key, model.member_id).having(func.count() > 1)
                )
                assert doubled.all() == [], (model.__name__, trail)
            crossed = await session.scalar(
                select(func.count())
                .select_from(DuesPayment)
                .join(Member, Member.id == DuesPayment.member_id)
                .where(Member.branch_id != DuesPayment.branch_id)
            )
            assert crossed == 0, ("dues payment", trail)
            acks = await session.execute(
                select(NoticeAck.person_id, Notice.branch_id).join(Notice, Notice.id == NoticeAck.notice_id)
            )
            for person_id, branch_id in acks:
                member = await session.scalar(select(Member).where(Member.person_id == person_id))
                assert member is not None and member.branch_id == branch_id, ("notice ack", trail)
            for request in await session.scalars(select(ServiceRequest)):
                keys = list(
                    await session.scalars(
                        select(RequestEvent.key)
                        .where(RequestEvent.request_id == request.id)
                        .order_by(RequestEvent.id)
                    )
                )
                assert keys and keys[0] == "submit", (keys, trail)
                assert (request.closed_at is not None) == (request.state not in OPEN_STATES), trail


# -- the test -----------------------------------------------------------------------------------------

# About 40 ms of CPU a step on SQLite: 20 runs of up to 50 steps take 40-70 s on a busy 2-core machine.
# PostgreSQL is slower a step and makes a database a run: fewer. EVERY_FLOW_EXAMPLES overrides both.
EXAMPLES = int(os.environ.get("EVERY_FLOW_EXAMPLES", "5" if on_postgres() else "20"))
PROFILE = settings(
    max_examples=EXAMPLES,
    stateful_step_count=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_every_flow_under_random_input(migrated_template: str, tmp_path: Path) -> None:
    databases = Databases(migrated_template, tmp_path)
    machine = type("EveryFlowHere", (EveryFlow,), {"databases": databases})
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    try:
        asyncio.run(databases.build())
        assert not errors.records, f"ERROR logged while building the world: {errors.records[0].getMessage()}"
        run_state_machine_as_test(machine, settings=PROFILE)
    finally:
        logging.getLogger().removeHandler(errors)
        asyncio.run(databases.close())


async def test_forged_numbers_in_every_kind_of_button_are_answered(harness: BotHarness) -> None:
    """Each shape of button data with a huge, negative or non-ASCII number (``²`` passes isdigit() but
    not int()), pressed by an officer, whose rights get past the first checks, and by a stranger: an
    answer every time, never a crash."""
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    try:
        await build_world(harness)
        assert not errors.records
        for shape in SHAPES:
            for odd, user in ((HUGE, SECRETARY), ("²", SECRETARY), ("-1", SECRETARY), (HUGE, STRANGER)):
                harness.clock.advance(seconds=1)
                data = _fill(shape, [odd])
                update = factories.callback_update(user, data)
                calls = await harness.feed(update)
                assert not errors.records, f"{data!r} by {user.id}: {errors.records[0].getMessage()}"
                assert not [c for c in calls if c.chat_id == ADMIN_CHAT_ID], data
                query_id = update["callback_query"]["id"]
                assert _answered(calls, user, query_id), f"no answer to {data!r} by {user.id}"
    finally:
        logging.getLogger().removeHandler(errors)
