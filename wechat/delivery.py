"""The WeChat outbox adapter: delivers outbox rows of channel ``wechat`` (a person's openid in ``address``).

WeChat lets an official account write freely to a member only within 48 hours of the member's last message,
and then at most 5 customer-service messages; outside that it may send template messages only (short
fields, no line breaks) that link to a web page. So for each row:

* **Inside the window** (``account.last_inbound_at`` less than 48 h ago, a few minutes' margin, and fewer
  than 5 messages sent since that inbound, counted in ``wechat_window`` by one conditional UPDATE, so
  several instances never overspend it): a customer-service text (``WeChatApi.send_text``), the screen
  rendered by ``wechat.render.render`` with numbered choices, which are remembered for the account the
  way replies do (``render.remember``) so that "1" means the first button. A text over WeChat's 2048
  bytes is cut and ends with a link to the full text on the H5 page (or, with no PUBLIC_BASE_URL, goes
  as several messages, each counted).
* **Outside it**, or when WeChat says the window is closed (45015) or used up (45047 on a
  customer-service send): a template message with three fields of at most 20 characters, no line
  breaks (``TEMPLATE_FIELDS``: a short title from the text's first line, the sender: the notice's
  branch or the member's branch, and the time) whose link is PUBLIC_BASE_URL + ``/m/<token>``
  (``wechat.pages``): the full text and the buttons. The template msgid is stored on the row
  (``outbox.template_msgid``); the TEMPLATESENDJOBFINISH event later says whether it arrived
  (``record_job_finish``). Template ids: WECHAT_TEMPLATE_NOTICE for notices, WECHAT_TEMPLATE_REMINDER
  for everything else (each falls back to the other).

Error matrix (``wechat.api`` already renews the token once on 40001/42001/40014):

* 45015 (window closed) or 45047 (its 5 messages spent) on a customer-service message: the window is
  marked used up and the row goes as a template message at once.
* 43004 (not following): the account becomes unreachable; the row is re-routed to the person's next way
  of being reached (their Telegram chat, else their next reachable account, ``outbox.reroute``), else it
  fails ``unreachable`` (the notice report counts it as blocked).
* 45009 (the day's API quota): the row waits until the next day (00:05 Beijing time, when WeChat's
  quotas reset) and the whole channel stops until then: an error in the log, a message to
  ADMIN_CHAT_ID, ``state()`` "down".
* -1 (busy), a token still refused, HTTP 5xx, 45047 on a template: pending with capped exponential
  backoff (``bot.delivery.errors``), and the channel pauses 2 s.
* A connect error or a connect/pool timeout (the request never left): retried.
* A read/write timeout or a connection lost after sending: ``uncertain``, never resent automatically.
* Any other errcode: failed ``wx_<code>``.

Decisions:

* **Claim by lease, not by status.** A row is claimed with one conditional UPDATE that sets
  ``claimed_by`` and moves its ``next_attempt_at`` ``LEASE`` (60 s) ahead, while it stays ``pending``;
  every write after the send is conditional on ``claimed_by``. The Telegram sender's crash recovery
  resets every ``sending`` row it thinks dead (on SQLite all rows not its own), so WeChat rows never
  use that status; a row whose process died becomes due again when its lease ends (at most the rows in
  flight at a kill may go twice, as with Telegram). On PostgreSQL the claim uses
  ``FOR UPDATE SKIP LOCKED``, so instances claim disjoint rows.
* **Limits** (``WECHAT_LIMITS``): 20 sends/s overall, no per-chat spacing, no groups. WeChat publishes
  no per-second limit for these calls (what it limits is per day and per member window); 20/s spreads
  a notice to a branch over a few seconds and leaves room for the callback's replies. One member's rows
  still go one after another, in order.
* The access token is fetched before the send (``WeChatApi.access_token``), so a timeout while getting
  it means "not sent", and only a timeout of the send itself is "uncertain".
* Rows that cannot be sent as the core wrote them are degraded: an edit becomes a new message; a photo
  or file goes as its caption (the page says a file came with it).
* The quota pause is kept in memory: after a restart the first send learns it again (one call).
* ``drain(limit)`` sends what is due now (tests, tools); ``start()``/``stop()`` run the background loop.
  ``stop()`` returns within about 2 s: sends still waiting for a slot go back to pending; requests
  already sent get 1.5 s to be answered, then their rows are written ``uncertain``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import metrics
from bot.clock import Clock
from bot.config import Settings
from bot.delivery.errors import DeliveryError, ErrorKind, decide
from bot.delivery.limits import RateBudget, timer_for
from bot.delivery.sender import Hook, new_instance_id, run_delivery_hooks
from bot.dialog import Button, Screen
from bot.i18n import t
from bot.services.identity import language_of
from bot.services.outbox import Outgoing, enqueue, reroute
from storage.db import Database
from storage.dialect import insert_ignore
from storage.models import (
    Account,
    Branch,
    Member,
    Notice,
    OutboxMessage,
    OutboxStatus,
    Person,
    Priority,
    WeChatJobEvent,
    WeChatWindow,
    utcnow,
)
from wechat import render as text_render
from wechat.api import NOT_FOLLOWING, WINDOW_CLOSED, WeChatApi, WeChatApiError
from wechat.pages import page_url

logger = logging.getLogger(__name__)

CHANNEL = "wechat"


@dataclass(frozen=True)
class ChannelLimits:
    """A channel's sending limits: overall rate, spacing per chat (seconds), per group per minute."""

    per_second: float
    per_chat_interval: float
    per_group_per_minute: int | None


WECHAT_LIMITS = ChannelLimits(per_second=20.0, per_chat_interval=0.0, per_group_per_minute=None)

WINDOW = timedelta(hours=48) - timedelta(minutes=10)  # a margin: WeChat counts from the real message
WINDOW_MESSAGES = 5
CUSTOM_MAX_BYTES = 2048
TEMPLATE_FIELDS = ("thing1", "thing2", "time3")  # title, from, time: the approved template's keys
FIELD_MAX = 20
QUOTA_ERRORS = frozenset({45009})
WINDOW_USED_UP = 45047  # "out of response count limit": this member's window is spent
BUSY_PAUSE_S = 2.0
QUOTA_ZONE = ZoneInfo("Asia/Shanghai")  # WeChat's daily quotas reset at midnight Beijing time
QUOTA_RESUME = timedelta(minutes=5)
LEASE = timedelta(seconds=60)
CONCURRENCY = 4
IDLE_POLL = 0.5
HOOK_EVERY = 2.0
STOP_GRACE = 1.5
EVENT_KEEP = timedelta(days=1)
TIME_FORMAT = {"zh": "%Y年%m月%d日 %H:%M", "en": "%Y-%m-%d %H:%M"}
NOTICE_PREFIX = "notice:"


# -- the customer-service window -------------------------------------------------------------------------
def window_open(account: Account, now: datetime) -> bool:
    inbound = account.last_inbound_at
    return inbound is not None and now - inbound < WINDOW


async def claim_window(session: AsyncSession, account: Account, now: datetime, count: int = 1) -> bool:
    """Take ``count`` of the account's customer-service messages in its current window; False when the
    window is closed or would be overspent. One conditional UPDATE: safe between instances. (A channel
    that answers a member with customer-service messages may count them here too.)"""
    if not window_open(account, now) or count > WINDOW_MESSAGES:
        return False
    inbound = account.last_inbound_at
    assert inbound is not None
    await insert_ignore(
        session, WeChatWindow, {"account_id": account.id, "inbound_at": inbound, "sent": 0}, ["account_id"]
    )
    window = WeChatWindow.__table__.c
    result = await session.execute(
        update(WeChatWindow)
        .where(
            window.account_id == account.id,
            window.inbound_at <= inbound,
            or_(window.inbound_at < inbound, window.sent + count <= WINDOW_MESSAGES),
        )
        # Both SET expressions read the old values: a newer inbound starts the count again.
        .values(
            sent=case((window.inbound_at == inbound, window.sent + count), else_=count), inbound_at=inbound
        )
        .execution_options(synchronize_session=False)
    )
    return (result.rowcount or 0) == 1


async def close_window(session: AsyncSession, account: Account) -> None:
    """WeChat says the window is closed or spent: no more customer-service messages until they write."""
    inbound = account.last_inbound_at
    if inbound is None:
        return
    await insert_ignore(
        session, WeChatWindow, {"account_id": account.id, "inbound_at": inbound, "sent": 0}, ["account_id"]
    )
    await session.execute(
        update(WeChatWindow)
        .where(WeChatWindow.account_id == account.id, WeChatWindow.inbound_at <= inbound)
        .values(inbound_at=inbound, sent=WINDOW_MESSAGES)
        .execution_options(synchronize_session=False)
    )


# -- template fields ---------------------------------------------------------------------------------------
_DROPPED = {"So", "Sk", "Cf", "Co", "Cs", "Cn", "Cc", "Mn", "Zl", "Zp"}


def template_field(text: str, limit: int = FIELD_MAX) -> str:
    """One template field: one line, no emoji or symbols, at most ``limit`` characters (… when cut)."""
    cleaned = "".join(
        " " if ch in "\r\n\t" else ch
        for ch in text
        if unicodedata.category(ch) not in _DROPPED or ch in "\r\n\t"
    )
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def title_of(text: str, language: str) -> str:
    for line in text.splitlines():
        title = template_field(line)
        if title:
            return title
    return template_field(t(language, "wxout.tpl.title_default"))


# -- the job-finish report ----------------------------------------------------------------------------------
JOB_SUCCESS = "success"
BLOCKED = "blocked"  # one of bot.services.broadcast.BLOCKED_CODES: the notice report counts it as blocked
SYSTEM_FAILED = "wx_system_failed"


async def record_job_finish(
    session: AsyncSession, openid: str, msgid: int, status: str, *, now: datetime | None = None
) -> bool:
    """A TEMPLATESENDJOBFINISH event: the template message ``msgid`` to ``openid`` was delivered
    (``success``), refused by the member (``failed:user block``: the row fails as ``blocked`` and the
    account becomes unreachable) or failed (``failed: system failed`` and anything else). A notice's
    report is brought up to date. An event that comes before its row knows the msgid is kept and applied
    when the row records it. Returns whether a row was found. The caller commits. Idempotent."""
    row = await session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.template_msgid == msgid,
            OutboxMessage.channel == CHANNEL,
            OutboxMessage.address == openid,
        )
    )
    if row is None:
        await insert_ignore(
            session,
            WeChatJobEvent,
            {"msgid": msgid, "openid": openid[:128], "status": status[:64], "received_at": now or utcnow()},
            ["msgid"],
        )
        return False
    await _apply_job_finish(session, row, openid, status)
    return True


async def _apply_job_finish(session: AsyncSession, row: OutboxMessage, openid: str, status: str) -> None:
    normalized = " ".join(status.lower().split())
    if normalized == JOB_SUCCESS:
        if row.status != OutboxStatus.SENT:
            row.status = OutboxStatus.SENT
    elif "user block" in normalized:
        row.status, row.last_error = OutboxStatus.FAILED, BLOCKED
        await session.execute(
            update(Account)
            .where(Account.channel == CHANNEL, Account.address == openid)
            .values(unreachable=True)
            .execution_options(synchronize_session=False)
        )
    else:
        row.status, row.last_error = OutboxStatus.FAILED, SYSTEM_FAILED
    await session.flush()
    notice_id = _notice_of(row.source)
    if notice_id is not None:
        # The report is refreshed by the notice hook (``bot.services.broadcast.advance_notices``).
        await session.execute(
            update(Notice)
            .where(Notice.id == notice_id, Notice.finished_at.is_not(None))
            .values(progress_counts=None)
            .execution_options(synchronize_session=False)
        )


def _notice_of(source: str) -> int | None:
    if not source.startswith(NOTICE_PREFIX):
        return None
    head = source[len(NOTICE_PREFIX) :].split(":", 1)
    if len(head) == 2 and head[1] != "followup":
        return None  # a report or progress row of the notice, not a copy of it
    return int(head[0]) if head[0].isdecimal() else None


# -- one row's way out ---------------------------------------------------------------------------------------
@dataclass
class _Held:
    """A claimed row while this process works on it."""

    id: int
    address: str
    priority: int
    phase: str = "queued"  # queued -> sending (a request may have left) -> answered
    msgid: int | None = None  # a template's msgid once WeChat answered
    delivered: bool = False


@dataclass
class _Plan:
    row_id: int
    account_id: int
    openid: str
    language: str
    kind: str
    texts: list[str] = field(default_factory=list)  # customer-service messages (inside the window)
    choices: list[str | None] = field(default_factory=list)
    template: tuple[str, str, dict[str, str]] | None = None  # id, url, data


class _Finished(Exception):
    """The row was settled while planning (failed, re-routed or released)."""


@dataclass
class DeliveryStats:
    sent: int = 0
    templates: int = 0
    failed: int = 0
    uncertain: int = 0
    retried: int = 0
    rerouted: int = 0
    by_code: dict[str, int] = field(default_factory=dict)


class WeChatDelivery:
    """Sends the ``wechat`` outbox rows through the official account's API (see the module docstring)."""

    name = CHANNEL

    def __init__(
        self,
        db: Database,
        clock: Clock,
        api: WeChatApi,
        settings: Settings,
        *,
        limits: ChannelLimits = WECHAT_LIMITS,
        hooks: Sequence[Hook] | None = None,
        concurrency: int = CONCURRENCY,
        instance_id: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.api = api
        self.settings = settings
        self.limits = limits
        if hooks is None:
            from bot.delivery.hooks import default_hooks

            hooks = default_hooks()
        self.hooks = list(hooks)
        self.concurrency = max(1, concurrency)
        self.instance_id = instance_id or new_instance_id()
        self.budget = RateBudget(limits.per_second, timer_for(clock))
        self.stats = DeliveryStats()
        self.paused_until: datetime | None = None
        self.pause_reason: str | None = None
        self._held: dict[int, _Held] = {}
        self._stopping = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._events_purged = -math.inf

    @property
    def batch(self) -> int:
        return max(self.concurrency, math.ceil(self.limits.per_second))

    def state(self) -> str:
        """For /healthz: "down" while WeChat's daily quota is spent, else "up"."""
        return "down" if self._paused(self.clock.now()) else "up"

    # -- background --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Send in the background until ``stop()``."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="wechat-delivery")

    async def stop(self) -> None:
        """Stop within about 2 s; every held row ends sent, uncertain or pending."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=STOP_GRACE)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            await self._settle_held()
        except Exception as exc:  # the database is gone: the leases run out and the rows come back
            logger.error("wechat delivery could not write its held rows: %s", type(exc).__name__)

    async def _run(self) -> None:
        last_hooks = time.monotonic()
        while not self._stopping:
            handled = 0
            try:
                handled = await self._round()
                if time.monotonic() - last_hooks >= HOOK_EVERY:
                    last_hooks = time.monotonic()
                    await self.run_hooks()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: keep the loop, try again shortly
                logger.error("wechat delivery loop: %s", type(exc).__name__)
                await self._sleep(1.0)
            if not handled:
                await self._sleep(IDLE_POLL)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    # -- drain -------------------------------------------------------------------------------------
    async def drain(self, limit: int = 200) -> int:
        """Send the rows due now (and what the delivery hooks add because of them, e.g. a notice's
        report); returns how many rows were delivered."""
        before = self.stats.sent
        handled = 0
        hooks_ran = False
        while handled < limit:
            count = await self._round(min(self.batch, limit - handled))
            handled += count
            if count:
                hooks_ran = False
                continue
            if hooks_ran or self._paused(self.clock.now()):
                break
            hooks_ran = True
            if not await self.run_hooks():
                break
        return self.stats.sent - before

    async def run_hooks(self) -> int:
        return await run_delivery_hooks(self.db, self.clock, self.hooks)

    async def _round(self, limit: int | None = None) -> int:
        now = self.clock.now()
        if self._paused(now) or self._stopping:
            return 0
        await self._purge_events(now)
        held = await self._claim(limit or self.batch, now)
        if not held:
            return 0
        groups: dict[str, list[_Held]] = {}
        for item in held:
            groups.setdefault(item.address, []).append(item)
        gate = asyncio.Semaphore(self.concurrency)

        async def one_address(items: list[_Held]) -> None:
            async with gate:
                for item in items:
                    if self._stopping:
                        return  # left queued: stop() puts it back to pending
                    await self._guarded(item)

        await asyncio.gather(*(one_address(items) for items in groups.values()))
        return len(held)

    # -- claim and settle --------------------------------------------------------------------------
    async def _claim(self, limit: int, now: datetime) -> list[_Held]:
        outbox = OutboxMessage.__table__.c
        due = (
            select(outbox.id)
            .where(
                outbox.channel == CHANNEL,
                outbox.status == OutboxStatus.PENDING,
                outbox.next_attempt_at <= now,
                outbox.address.is_not(None),
            )
            .order_by(outbox.priority, outbox.next_attempt_at, outbox.id)
            .limit(limit)
        )
        if self.db.dialect != "sqlite":
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(OutboxMessage)
            .where(
                outbox.id.in_(due.scalar_subquery()),
                outbox.status == OutboxStatus.PENDING,
                outbox.next_attempt_at <= now,
            )
            .values(claimed_by=self.instance_id, claimed_at=now, next_attempt_at=now + LEASE)
            .returning(outbox.id, outbox.address, outbox.priority)
            .execution_options(synchronize_session=False)
        )
        async with self.db.session() as session:
            rows = (await session.execute(statement)).all()
            await session.commit()
        held = sorted((_Held(r[0], r[1], r[2]) for r in rows), key=lambda h: (h.priority, h.id))
        for item in held:
            self._held[item.id] = item
        return held

    def _mine(self, row_id: int):
        outbox = OutboxMessage.__table__.c
        return (
            update(OutboxMessage)
            .where(
                outbox.id == row_id,
                outbox.status == OutboxStatus.PENDING,
                outbox.claimed_by == self.instance_id,
            )
            .execution_options(synchronize_session=False)
        )

    async def _release(self, item: _Held, at: datetime | None) -> None:
        """Give a claimed row back, untried, due at ``at``."""
        async with self.db.session() as session:
            await session.execute(
                self._mine(item.id).values(
                    next_attempt_at=at or self.clock.now(), claimed_by=None, claimed_at=None
                )
            )
            await session.commit()
        self._held.pop(item.id, None)

    async def _settle_held(self) -> None:
        held, self._held = list(self._held.values()), {}
        if not held:
            return
        now = self.clock.now()
        async with self.db.session() as session:
            for item in held:
                if item.delivered:
                    values: dict[str, Any] = {
                        "status": OutboxStatus.SENT,
                        "sent_at": now,
                        "template_msgid": item.msgid,
                    }
                elif item.phase == "sending":
                    values = {"status": OutboxStatus.UNCERTAIN, "last_error": "stopped"}
                else:
                    values = {"next_attempt_at": now, "claimed_by": None, "claimed_at": None}
                    await session.execute(self._mine(item.id).values(**values))
                    continue
                await session.execute(
                    self._mine(item.id).values(
                        **values, claimed_by=None, claimed_at=None, attempts=OutboxMessage.attempts + 1
                    )
                )
            await session.commit()
        logger.info("wechat delivery stopped with %s rows held, written back", len(held))

    # -- one row -----------------------------------------------------------------------------------
    async def _guarded(self, item: _Held) -> None:
        try:
            await self._process(item)
        except asyncio.CancelledError:
            raise  # stopping: the row stays held, and stop() writes it back
        except Exception as exc:  # a bug must not stop the others or leave the row claimed
            logger.error("wechat outbox row %s: unexpected %s", item.id, type(exc).__name__)
            with contextlib.suppress(Exception):
                await self._fail(item, DeliveryError(ErrorKind.INTERNAL, f"internal_{type(exc).__name__}"))
        self._held.pop(item.id, None)

    async def _process(self, item: _Held) -> None:
        if self._paused(self.clock.now()):
            await self._release(item, self.paused_until)  # the quota is spent: tomorrow
            return
        try:
            plan = await self._plan(item)
        except _Finished:
            return
        if plan.texts:
            error = await self._send_custom(item, plan)
            if error is None:
                return
            if not _window_closed(error):
                await self._failed_call(item, plan, error)
                return
            async with self.db.session() as session:
                account = await session.get(Account, plan.account_id)
                if account is not None:
                    await close_window(session, account)
                try:
                    plan.template = await self._template_plan(session, item.id, plan.language)
                except _Finished:
                    await session.commit()
                    return
                await session.commit()
        error = await self._send_template(item, plan)
        if error is not None:
            await self._failed_call(item, plan, error)

    async def _plan(self, item: _Held) -> _Plan:
        """Read the row and decide how it goes out; settles rows that cannot go (raises ``_Finished``)."""
        now = self.clock.now()
        async with self.db.session() as session:
            row = await session.get(OutboxMessage, item.id, populate_existing=True)
            if row is None or row.status != OutboxStatus.PENDING or row.claimed_by != self.instance_id:
                self._held.pop(item.id, None)
                raise _Finished
            payload = row.payload
            if payload is None:
                await self._finish(session, item, OutboxStatus.FAILED, "no_text")
            account = await session.scalar(
                select(Account).where(Account.channel == CHANNEL, Account.address == row.address)
            )
            if account is None:
                await self._finish(session, item, OutboxStatus.FAILED, "no_account")
                return _never()
            if account.unreachable:
                await self._unreachable(session, item, row, account, now)
            person = await session.get(Person, account.person_id)
            language = language_of(person) if person is not None else "zh"
            plan = _Plan(row.id, account.id, row.address or "", language, row.kind)
            lines = [line for line in payload.get("buttons", []) if isinstance(line, list)]
            buttons = tuple(tuple(Button(**b) for b in line) for line in lines)
            texts, choices = self._custom_texts(
                str(payload.get("text") or ""), buttons, language, row.id, now
            )
            if await claim_window(session, account, now, len(texts)):
                plan.texts, plan.choices = texts, choices
            else:
                plan.template = await self._template_plan(session, row.id, language)
            await session.commit()
        return plan

    def _custom_texts(
        self,
        text: str,
        buttons: tuple[tuple[Button, ...], ...],
        language: str,
        row_id: int,
        now: datetime,
    ) -> tuple[list[str], list[str | None]]:
        """The customer-service message(s) for one row, with its numbered choices."""
        full, choices = text_render.render(Screen(text, buttons=buttons), language=language)
        if _size(full) <= CUSTOM_MAX_BYTES:
            return [full], choices
        base = self.settings.public_base_url
        if base:
            link = t(language, "wxout.read_more", url=page_url(base, row_id, now))
            room = CUSTOM_MAX_BYTES - _size(
                text_render.render(Screen(f"…\n\n{link}", buttons=buttons), language=language)[0]
            )
            while True:
                short, _ = text_render.render(
                    Screen(f"{_cut(text, room)}…\n\n{link}", buttons=buttons), language=language
                )
                if _size(short) <= CUSTOM_MAX_BYTES or room <= 0:
                    return [short], choices
                room -= 64
        return _split(full, CUSTOM_MAX_BYTES), choices

    async def _template_plan(
        self, session: AsyncSession, row_id: int, language: str
    ) -> tuple[str, str, dict]:
        row = await session.get(OutboxMessage, row_id)
        assert row is not None
        template_id = self._template_id(row.kind)
        base = self.settings.public_base_url
        held = self._held.get(row_id) or _Held(row_id, row.address or "", row.priority)
        if template_id is None:
            await self._finish(session, held, OutboxStatus.FAILED, "wx_no_template")
        if not base:
            await self._finish(session, held, OutboxStatus.FAILED, "wx_no_page")
        assert template_id is not None and base is not None
        now = self.clock.now()
        payload = row.payload or {}
        created = row.created_at or now
        local = created.astimezone(self.settings.tz)
        data = {
            TEMPLATE_FIELDS[0]: title_of(str(payload.get("text") or ""), language),
            TEMPLATE_FIELDS[1]: template_field(await self._sender_name(session, row, language)),
            TEMPLATE_FIELDS[2]: local.strftime(TIME_FORMAT.get(language, TIME_FORMAT["zh"])),
        }
        return template_id, page_url(base, row.id, now), data

    def _template_id(self, kind: str) -> str | None:
        notice, reminder = self.settings.wechat_template_notice, self.settings.wechat_template_reminder
        return (notice or reminder) if kind == "notice" else (reminder or notice)

    async def _sender_name(self, session: AsyncSession, row: OutboxMessage, language: str) -> str:
        """Who the message is from: the notice's branch, else the member's branch, else the bot."""
        notice_id = _notice_of(row.source)
        name = None
        if notice_id is not None:
            name = await session.scalar(
                select(Branch.name).join(Notice, Notice.branch_id == Branch.id).where(Notice.id == notice_id)
            )
        if name is None and row.person_id is not None:
            name = await session.scalar(
                select(Branch.name)
                .join(Member, Member.branch_id == Branch.id)
                .where(Member.person_id == row.person_id)
                .order_by(Member.id)
                .limit(1)
            )
        return name or t(language, "wxout.tpl.from_default")

    # -- the calls ---------------------------------------------------------------------------------
    async def _call(self, item: _Held, send: Any) -> Any:
        """One API request within the rate budget; the token is fetched first (failing there: not sent)."""
        try:
            await self.api.access_token()
        except (WeChatApiError, httpx.HTTPError) as exc:
            raise _NotSent(exc) from exc
        slot = await self.budget.acquire(item.priority)
        item.phase = "sending"
        try:
            return await send()
        finally:
            self.budget.release(slot)

    async def _send_custom(self, item: _Held, plan: _Plan) -> BaseException | None:
        for index, text in enumerate(plan.texts):
            try:
                await self._call(item, lambda text=text: self.api.send_text(plan.openid, text))
            except (WeChatApiError, httpx.HTTPError, _NotSent) as exc:
                if index == 0:
                    if not _maybe_sent(exc):
                        item.phase = "answered"
                    return exc
                logger.warning(
                    "wechat outbox row %s: part %s of %s failed", item.id, index + 1, len(plan.texts)
                )
                break
        item.phase, item.delivered = "answered", True
        await self._record_sent(item, plan, msgid=None)
        return None

    async def _send_template(self, item: _Held, plan: _Plan) -> BaseException | None:
        assert plan.template is not None
        template_id, url, data = plan.template
        try:
            msgid = await self._call(
                item, lambda: self.api.send_template(plan.openid, template_id, url, data)
            )
        except (WeChatApiError, httpx.HTTPError, _NotSent) as exc:
            if not _maybe_sent(exc):
                item.phase = "answered"
            return exc
        item.phase, item.delivered, item.msgid = "answered", True, int(msgid)
        await self._record_sent(item, plan, msgid=int(msgid))
        return None

    # -- recording ---------------------------------------------------------------------------------
    async def _record_sent(self, item: _Held, plan: _Plan, *, msgid: int | None) -> None:
        now = self.clock.now()
        async with self.db.session() as session:
            result = await session.execute(
                self._mine(item.id).values(
                    status=OutboxStatus.SENT,
                    sent_at=now,
                    template_msgid=msgid,
                    last_error=None,
                    attempts=OutboxMessage.attempts + 1,
                    claimed_by=None,
                    claimed_at=None,
                )
            )
            if msgid is None:
                await text_render.remember(session, plan.account_id, plan.choices, now)
            else:
                early = await session.get(WeChatJobEvent, msgid)
                if early is not None and early.openid == plan.openid:
                    row = await session.get(OutboxMessage, item.id)
                    if row is not None:
                        await _apply_job_finish(session, row, early.openid, early.status)
                    await session.delete(early)
            await session.commit()
        self._held.pop(item.id, None)
        if (result.rowcount or 0) != 1:
            logger.warning("wechat outbox row %s was sent after its claim ran out", item.id)
        self.stats.sent += 1
        if msgid is not None:
            self.stats.templates += 1
        metrics.count_send(CHANNEL, "sent")

    async def _failed_call(self, item: _Held, plan: _Plan, error: BaseException) -> None:
        """The error matrix for one answered (or timed-out) request."""
        if isinstance(error, _NotSent):
            cause = error.__cause__ or error.args[0]
            code = f"wx_{cause.errcode}" if isinstance(cause, WeChatApiError) else "token_unavailable"
            await self._fail(item, DeliveryError(ErrorKind.NETWORK, code))
            return
        if isinstance(error, WeChatApiError):
            code = error.errcode
            if code == NOT_FOLLOWING:
                async with self.db.session() as session:
                    row = await session.get(OutboxMessage, item.id)
                    account = await session.get(Account, plan.account_id)
                    if row is None or account is None:
                        return
                    try:
                        await self._unreachable(session, item, row, account, self.clock.now())
                    except _Finished:
                        return
                return
            if code in QUOTA_ERRORS:
                await self._quota(item, code)
                return
            if error.kind in ("busy", "token") or code == WINDOW_USED_UP:
                self.budget.pause(BUSY_PAUSE_S)
                await self._fail(item, DeliveryError(ErrorKind.NETWORK, f"wx_{code}"))
                return
            await self._fail(item, DeliveryError(ErrorKind.BAD_REQUEST, f"wx_{code}"))
            return
        if isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout):
            await self._fail(item, DeliveryError(ErrorKind.NOT_SENT, "timeout_not_sent"))
        elif isinstance(error, httpx.ConnectError):
            await self._fail(item, DeliveryError(ErrorKind.NETWORK, "connect_error"))
        elif isinstance(error, httpx.TimeoutException):
            await self._fail(item, DeliveryError(ErrorKind.MAYBE_SENT, "timeout"))
        else:
            await self._fail(item, DeliveryError(ErrorKind.MAYBE_SENT, "network_maybe_sent"))

    async def _fail(self, item: _Held, error: DeliveryError) -> None:
        async with self.db.session() as session:
            found = (
                await session.execute(
                    select(OutboxMessage.attempts, OutboxMessage.last_error).where(
                        OutboxMessage.id == item.id
                    )
                )
            ).first()
            attempts, last = found if found is not None else (0, None)
            decision = decide(error, attempts=(attempts or 0) + 1, last_error=last)
            values: dict[str, Any] = {
                "status": decision.status,
                "last_error": decision.code,
                "attempts": OutboxMessage.attempts + 1,
                "claimed_by": None,
                "claimed_at": None,
            }
            values["next_attempt_at"] = self.clock.now() + (decision.retry_in or timedelta(0))
            await session.execute(self._mine(item.id).values(**values))
            await session.commit()
        self._held.pop(item.id, None)
        self.stats.by_code[decision.code] = self.stats.by_code.get(decision.code, 0) + 1
        if decision.status == OutboxStatus.PENDING:
            self.stats.retried += 1
        elif decision.status == OutboxStatus.UNCERTAIN:
            self.stats.uncertain += 1
        else:
            self.stats.failed += 1
        metrics.count_send(CHANNEL, metrics.send_result(decision.status))
        log = logger.info if decision.status == OutboxStatus.PENDING else logger.warning
        log("wechat outbox row %s: %s -> %s", item.id, error.code, decision.status)

    async def _finish(self, session: AsyncSession, item: _Held, status: OutboxStatus, code: str) -> None:
        """Settle a row without a request (it cannot go); always raises ``_Finished``."""
        await session.execute(
            self._mine(item.id).values(
                status=status,
                last_error=code,
                attempts=OutboxMessage.attempts + 1,
                claimed_by=None,
                claimed_at=None,
                next_attempt_at=self.clock.now(),
            )
        )
        await session.commit()
        self._held.pop(item.id, None)
        self.stats.failed += 1
        self.stats.by_code[code] = self.stats.by_code.get(code, 0) + 1
        metrics.count_send(CHANNEL, metrics.send_result(status))
        logger.warning("wechat outbox row %s: %s", item.id, code)
        raise _Finished

    async def _unreachable(
        self, session: AsyncSession, item: _Held, row: OutboxMessage, account: Account, now: datetime
    ) -> None:
        """The account does not follow any more: mark it, move the row to the person's next way of being
        reached, else fail it ``unreachable``. Always raises ``_Finished``."""
        account.unreachable = True
        await session.flush()
        if row.claimed_by == self.instance_id and await reroute(session, row, now):
            await session.commit()
            self._held.pop(item.id, None)
            self.stats.rerouted += 1
            logger.info("wechat outbox row %s: account unreachable, re-routed", item.id)
            raise _Finished
        await self._finish(session, item, OutboxStatus.FAILED, "unreachable")

    async def _quota(self, item: _Held, code: int) -> None:
        """The day's quota is spent: this row and the rest wait until tomorrow; say so once."""
        now = self.clock.now()
        local = now.astimezone(QUOTA_ZONE)
        resume = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0) + QUOTA_RESUME
        async with self.db.session() as session:
            await session.execute(
                self._mine(item.id).values(
                    next_attempt_at=resume, last_error=f"wx_{code}", claimed_by=None, claimed_at=None
                )
            )
            first = not self._paused(now)
            self.paused_until, self.pause_reason = resume, f"wx_{code}"
            if first:
                await self._report_quota(session, code, resume)
            await session.commit()
        self._held.pop(item.id, None)
        self.stats.retried += 1
        metrics.count_send(CHANNEL, "quota")

    async def _report_quota(self, session: AsyncSession, code: int, resume: datetime) -> None:
        until = resume.astimezone(self.settings.tz).strftime("%Y-%m-%d %H:%M")
        logger.error("wechat: API quota spent (errcode %s); WeChat sends pause until %s", code, until)
        if self.settings.admin_chat_id is None:
            return
        await enqueue(
            session,
            source=f"wechat:quota:{resume.date().isoformat()}",
            chat_id=self.settings.admin_chat_id,
            message=Outgoing(text=t("zh", "wxout.quota_report", code=code, until=until)),
            priority=Priority.NOTIFICATION,
            not_before=self.clock.now(),
        )

    def _paused(self, now: datetime) -> bool:
        if self.paused_until is not None and now >= self.paused_until:
            self.paused_until = self.pause_reason = None
        return self.paused_until is not None

    async def _purge_events(self, now: datetime) -> None:
        """Early job reports whose row never claimed them (another account's message): dropped after a day."""
        if time.monotonic() - self._events_purged < 3600:
            return
        self._events_purged = time.monotonic()
        async with self.db.session() as session:
            await session.execute(delete(WeChatJobEvent).where(WeChatJobEvent.received_at < now - EVENT_KEEP))
            await session.commit()


class _NotSent(Exception):
    """The request never left (no access token): retried later."""


def _window_closed(error: BaseException) -> bool:
    return isinstance(error, WeChatApiError) and error.errcode in (WINDOW_CLOSED, WINDOW_USED_UP)


def _maybe_sent(error: BaseException) -> bool:
    """A failure after which the message may have arrived (only a timeout or a broken connection)."""
    if isinstance(error, WeChatApiError | _NotSent):
        return False
    return not isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout | httpx.ConnectError)


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, max_bytes: int) -> str:
    """The longest start of ``text`` within ``max_bytes`` of UTF-8, on a character boundary."""
    raw = text.encode("utf-8")[: max(0, max_bytes)]
    return raw.decode("utf-8", errors="ignore").rstrip()


def _split(text: str, max_bytes: int) -> list[str]:
    """``text`` in parts of at most ``max_bytes`` each, cut at line ends where possible."""
    parts: list[str] = []
    rest = text
    while _size(rest) > max_bytes:
        head = _cut(rest, max_bytes)
        newline = head.rfind("\n")
        if newline > len(head) // 2:
            head = head[:newline]
        parts.append(head.rstrip())
        rest = rest[len(head) :].lstrip("\n")
    if rest.strip():
        parts.append(rest)
    return parts


def _never() -> Any:  # pragma: no cover - after a call that always raises
    raise AssertionError("unreachable")
