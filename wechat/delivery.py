"""The WeChat outbox adapter: how the sender's ``wechat`` lane delivers a row (a person's openid in
``address``). Claiming, leases, recovery, retries and stopping are the sender's (``bot.delivery.sender``);
what is WeChat's is here: ``WECHAT_LIMITS``, the window-or-template decision, the error matrix
(``WeChatOutbox.classify``), the daily-quota stop and the job-finish reports.

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

Error matrix (``wechat.api`` already renews the token once on 40001/42001/40014), as ``ErrorKind``s that
``bot.delivery.errors.decide`` turns into the row's next state:

* 45015 (window closed) or 45047 (its 5 messages spent) on a customer-service message: the window is
  marked used up and the row goes as a template message at once.
* 43004 (not following), FORBIDDEN: the account becomes unreachable; the row is re-routed to the
  person's next reachable account (preferred first, ``outbox.fallback_route``), else it fails
  ``unreachable`` (the notice report counts it as blocked). A row to an account already known
  unreachable is handled so without a request.
* 45009 (the day's API quota), QUOTA: the row waits until the next day (00:05 Beijing time, when
  WeChat's quotas reset) and the whole channel stops until then (every later row goes back without a
  request): an error in the log, a message to ADMIN_CHAT_ID, ``state()`` "down".
* -1 (busy), a token still refused, HTTP 5xx, 45047 on a template: pending with capped exponential
  backoff (``bot.delivery.errors``), and the channel pauses 2 s.
* A connect error or a connect/pool timeout (the request never left): retried.
* A read/write timeout or a connection lost after sending: ``uncertain``, never resent automatically.
* Any other errcode: failed ``wx_<code>``.

Decisions:

* **Limits** (``WECHAT_LIMITS``): 20 sends/s overall, no per-chat spacing, no groups, no edits. WeChat
  publishes no per-second limit for these calls (what it limits is per day and per member window);
  20/s spreads a notice to a branch over a few seconds and leaves room for the callback's replies. One
  member's rows still go one after another, in order (the sender holds one row per address at a time).
* **One row, one slot.** The sender takes the rate slot for a row's first request; a further request
  of the same row (a long text's next part, the template after a closed window) takes its own.
* **The msgid at once.** A template's msgid is written on the row right after WeChat answers, before
  the sender writes it sent; a job-finish event that comes before the row is sent is kept
  (``wechat_job_event``) and applied by a delivery hook (``WeChatOutbox.apply_early_reports``).
* The access token is fetched before the send (``WeChatApi.access_token``), so a timeout while getting
  it means "not sent", and only a timeout of the send itself is "uncertain".
* Rows that cannot be sent as the core wrote them are degraded: an edit is the sender's (WeChat declares
  it cannot edit: a progress edit is dropped, a changed screen goes as a new message); a photo or file
  goes as its caption (the page says a file came with it).
* The quota pause is kept in memory: after a restart the first send learns it again (one call).
* ``WeChatDelivery`` is the sender with this lane alone (tests, tools); ``branchbot run`` builds one
  sender with every configured channel (``app.runner``).
"""

from __future__ import annotations

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
from bot.delivery.errors import DeliveryError, ErrorKind
from bot.delivery.limits import ChannelLimits, current_slot
from bot.delivery.sender import Delivery, Hook
from bot.dialog import Button, Screen
from bot.i18n import t
from bot.services.identity import language_of
from bot.services.outbox import Outgoing, enqueue
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


# 20 sends/s overall, no spacing per member, no groups; WeChat cannot edit a message it sent.
WECHAT_LIMITS = ChannelLimits(rate=20.0, chat_gap=0.0, group_limit=None, can_edit=False)

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
CONCURRENCY = 4
UNREACHABLE = "unreachable"  # the code of a row to an account that does not follow any more
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
    if row is None or row.status == OutboxStatus.SENDING:
        # Not yet written sent: kept, and applied by ``WeChatOutbox.apply_early_reports`` once it is.
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


# -- the adapter ---------------------------------------------------------------------------------------------
@dataclass
class _Plan:
    row_id: int
    account_id: int
    openid: str
    language: str
    kind: str
    priority: int
    texts: list[str] = field(default_factory=list)  # customer-service messages (inside the window)
    choices: list[str | None] = field(default_factory=list)
    template: tuple[str, str, dict[str, str]] | None = None  # id, url, data


class _NotSent(Exception):
    """The request never left (no access token): retried later."""


class WeChatOutbox:
    """The WeChat adapter of the outbox sender (``bot.delivery.channel``; see the module docstring):
    plans each row (window or template), sends it, and classifies WeChat's errors."""

    name = CHANNEL
    concurrency = CONCURRENCY

    def __init__(
        self,
        db: Database,
        clock: Clock,
        api: WeChatApi,
        settings: Settings,
        *,
        limits: ChannelLimits = WECHAT_LIMITS,
    ) -> None:
        self.db = db
        self.clock = clock
        self.api = api
        self.settings = settings
        self.limits = limits
        self.paused_until: datetime | None = None
        self.pause_reason: str | None = None
        self._events_purged = -math.inf
        self.hooks = [self.apply_early_reports]

    def state(self) -> str:
        """For /healthz: "down" while WeChat's daily quota is spent, else "up"."""
        return "down" if self._paused(self.clock.now()) else "up"

    # -- one row -----------------------------------------------------------------------------------
    async def send(self, address: str, payload: dict[str, Any], *, row: Any = None) -> int | None:
        """Send one row: customer-service text(s) inside the window, else a template message. Returns
        None (WeChat cannot edit, so no message id is kept); a template's msgid goes on the row."""
        now = self.clock.now()
        if self._paused(now):
            raise self._quota_error(now)
        plan = await self._plan(row.id, row.priority, address, payload, now)
        try:
            if plan.texts:
                error = await self._send_custom(plan)
                if error is None:
                    async with self.db.session() as session:
                        await text_render.remember(session, plan.account_id, plan.choices, self.clock.now())
                        await session.commit()
                    return None
                if not _window_closed(error):
                    raise error
                async with self.db.session() as session:
                    account = await session.get(Account, plan.account_id)
                    if account is not None:
                        await close_window(session, account)
                    plan.template = await self._template_plan(session, plan.row_id, plan.language)
                    await session.commit()
            await self._send_template(plan)
        except WeChatApiError as error:
            if error.errcode in QUOTA_ERRORS:
                raise await self._quota(error.errcode) from None
            if error.kind in ("busy", "token") or error.errcode == WINDOW_USED_UP:
                self.pause_lane(BUSY_PAUSE_S)
            raise
        return None

    def pause_lane(self, seconds: float) -> None:
        """WeChat is busy: the whole channel waits (the sender's budget for this lane)."""
        slot = current_slot.get()
        if slot is not None and slot.budget is not None:
            slot.budget.pause(seconds)

    def classify(self, error: Exception) -> DeliveryError:
        """WeChat's error matrix (see the module docstring)."""
        if isinstance(error, _NotSent):
            cause = error.__cause__ or error.args[0]
            code = f"wx_{cause.errcode}" if isinstance(cause, WeChatApiError) else "token_unavailable"
            return DeliveryError(ErrorKind.NETWORK, code)
        if isinstance(error, WeChatApiError):
            code = error.errcode
            if code == NOT_FOLLOWING:
                return DeliveryError(ErrorKind.FORBIDDEN, UNREACHABLE)
            if error.kind in ("busy", "token") or code == WINDOW_USED_UP:
                return DeliveryError(ErrorKind.NETWORK, f"wx_{code}")
            return DeliveryError(ErrorKind.BAD_REQUEST, f"wx_{code}")
        if isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout):
            return DeliveryError(ErrorKind.NOT_SENT, "timeout_not_sent")
        if isinstance(error, httpx.ConnectError):
            return DeliveryError(ErrorKind.NETWORK, "connect_error")
        if isinstance(error, httpx.TimeoutException):
            return DeliveryError(ErrorKind.MAYBE_SENT, "timeout")
        if isinstance(error, httpx.HTTPError):
            return DeliveryError(ErrorKind.MAYBE_SENT, "network_maybe_sent")
        return DeliveryError(ErrorKind.INTERNAL, f"internal_{type(error).__name__}")

    async def _plan(
        self, row_id: int, priority: int, address: str, payload: dict[str, Any], now: datetime
    ) -> _Plan:
        """How the row goes out; a row that cannot go raises ``DeliveryError``."""
        async with self.db.session() as session:
            account = await session.scalar(
                select(Account).where(Account.channel == CHANNEL, Account.address == address)
            )
            if account is None:
                raise DeliveryError(ErrorKind.BAD_REQUEST, "no_account")
            if account.unreachable:  # known: not tried again, handed on (or failed) by the sender
                raise DeliveryError(ErrorKind.FORBIDDEN, UNREACHABLE)
            person = await session.get(Person, account.person_id)
            language = language_of(person) if person is not None else "zh"
            row = await session.get(OutboxMessage, row_id)
            plan = _Plan(row_id, account.id, address, language, row.kind if row else "notification", priority)
            lines = [line for line in payload.get("buttons", []) if isinstance(line, list)]
            buttons = tuple(tuple(Button(**b) for b in line) for line in lines)
            texts, choices = self._custom_texts(
                str(payload.get("text") or ""), buttons, language, row_id, now
            )
            if await claim_window(session, account, now, len(texts)):
                plan.texts, plan.choices = texts, choices
            else:
                plan.template = await self._template_plan(session, row_id, language)
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
        if row is None:
            raise DeliveryError(ErrorKind.INTERNAL, "row_gone")
        template_id = self._template_id(row.kind)
        base = self.settings.public_base_url
        if template_id is None:
            raise DeliveryError(ErrorKind.BAD_REQUEST, "wx_no_template")
        if not base:
            raise DeliveryError(ErrorKind.BAD_REQUEST, "wx_no_page")
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
    async def _call(self, plan: _Plan, send: Any, *, first: bool) -> Any:
        """One API request. The first of a row goes in the slot the sender took; a further one (a
        long text's next part, the template after a closed window) takes a slot of its own. The token
        is fetched first (failing there: not sent)."""
        try:
            await self.api.access_token()
        except (WeChatApiError, httpx.HTTPError) as exc:
            raise _NotSent(exc) from exc
        slot = current_slot.get()
        if first or slot is None or slot.budget is None:
            return await send()
        budget = slot.budget
        extra = await budget.acquire(plan.priority)
        try:
            return await send()
        finally:
            budget.release(extra)

    async def _send_custom(self, plan: _Plan) -> Exception | None:
        """The customer-service text(s); the first one's failure is returned (the row's), a later
        part's is logged (the member has the start of the text)."""
        for index, text in enumerate(plan.texts):
            try:
                await self._call(
                    plan, lambda text=text: self.api.send_text(plan.openid, text), first=index == 0
                )
            except (WeChatApiError, httpx.HTTPError, _NotSent) as exc:
                if index == 0:
                    return exc
                logger.warning(
                    "wechat outbox row %s: part %s of %s failed", plan.row_id, index + 1, len(plan.texts)
                )
                break
        return None

    async def _send_template(self, plan: _Plan) -> None:
        assert plan.template is not None
        template_id, url, data = plan.template
        msgid = await self._call(
            plan,
            lambda: self.api.send_template(plan.openid, template_id, url, data),
            first=not plan.texts,
        )
        # Kept on the row at once: WeChat's job-finish report names it (``record_job_finish``).
        async with self.db.session() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == plan.row_id)
                .values(template_msgid=int(msgid))
                .execution_options(synchronize_session=False)
            )
            await session.commit()

    # -- the daily quota ---------------------------------------------------------------------------
    async def _quota(self, code: int) -> DeliveryError:
        """The day's quota is spent: this row and the rest wait until tomorrow; say so once."""
        now = self.clock.now()
        local = now.astimezone(QUOTA_ZONE)
        resume = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0) + QUOTA_RESUME
        first = not self._paused(now)
        self.paused_until, self.pause_reason = resume, f"wx_{code}"
        if first:
            async with self.db.session() as session:
                await self._report_quota(session, code, resume)
                await session.commit()
        metrics.count_send(CHANNEL, "quota")
        return self._quota_error(now)

    def _quota_error(self, now: datetime) -> DeliveryError:
        assert self.paused_until is not None
        wait = (self.paused_until - now).total_seconds()
        return DeliveryError(ErrorKind.QUOTA, self.pause_reason or "wx_quota", retry_after=wait)

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

    # -- early job-finish reports (a delivery hook: ``bot.delivery.hooks``) ------------------------
    async def apply_early_reports(self, session: AsyncSession, now: datetime) -> int:
        """Job-finish events that came before their row was written sent: applied now that it is; events
        no row ever claimed (another account's message) are dropped after a day. Enqueues nothing."""
        early = list(
            await session.execute(
                select(WeChatJobEvent, OutboxMessage)
                .join(OutboxMessage, OutboxMessage.template_msgid == WeChatJobEvent.msgid)
                .where(
                    OutboxMessage.channel == CHANNEL,
                    OutboxMessage.address == WeChatJobEvent.openid,
                    OutboxMessage.status == OutboxStatus.SENT,
                )
            )
        )
        for event, row in early:
            await _apply_job_finish(session, row, event.openid, event.status)
            await session.delete(event)
        if time.monotonic() - self._events_purged >= 3600:
            self._events_purged = time.monotonic()
            await session.execute(delete(WeChatJobEvent).where(WeChatJobEvent.received_at < now - EVENT_KEEP))
        return 0


class WeChatDelivery(Delivery):
    """The sender with the WeChat lane alone (tests and tools; ``branchbot run`` builds one sender with
    every configured channel's adapter, ``app.runner``)."""

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
        if hooks is None:
            from bot.delivery.hooks import default_hooks

            hooks = default_hooks()
        self.adapter = WeChatOutbox(db, clock, api, settings, limits=limits)
        super().__init__(
            db,
            clock,
            [self.adapter],
            hooks=hooks,
            concurrency={CHANNEL: concurrency},
            instance_id=instance_id,
        )

    def state(self) -> str:
        return self.adapter.state()


def _window_closed(error: BaseException) -> bool:
    return isinstance(error, WeChatApiError) and error.errcode in (WINDOW_CLOSED, WINDOW_USED_UP)


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
