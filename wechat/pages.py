"""H5 pages for messages the bot starts: the full text of one outbox row and its buttons, by a signed link.

A template message (WeChat's only way to reach a member outside the 48-hour window) holds a few short
fields; its link opens ``GET /m/<token>``: the row's whole text (a notice, a reminder, a notification)
and its buttons as real buttons (收到, 参加/请假 ...). A press POSTs to the same address and is handled by
the conversation core as the person the row was sent to (``Conversation.handle`` with
``Inbound(data=...)``); the page then shows the core's answer. Plain HTML, mobile first, no script.

Decisions:

* **The token is signed, not stored**: ``base64url(row id | expiry | HMAC-SHA256 truncated to 128 bits)``,
  the HMAC keyed by ``Keyring.derived_keys("message-page")`` (a key derived from ENCRYPTION_KEY; the first
  key signs, every listed key verifies, so links survive a key rotation while the old key stays listed).
  No table, nothing to clean up; a link lives ``PAGE_TTL`` (30 days) or until retention blanks the row's
  text. A token that does not verify is 404, an expired one (or a withdrawn or blanked row) is 410; both
  pages say so in Chinese and English.
* **One row, one person.** The token names one row; the page shows that row only, acts only as its
  person, and accepts only the row's own button data, or the data of a button on an answer this page
  showed (signed for this token, ``sig``), so a link cannot be turned into a press of anything else.
  The core re-checks every press against the database as always.
* **A page press is not a WeChat message**: it does not open the customer-service window. The core
  touches ``account.last_inbound_at`` for any event, so the page puts the account's previous value back.
* Usable for any channel's row (the web channel later): the person is found through the row's
  ``person_id`` and one of their accounts (the row's channel first).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from sqlalchemy import case, select, update
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from bot.clock import Clock
from bot.conversation import Conversation, Sender
from bot.dialog import Button, Inbound, Reply
from bot.i18n import t
from bot.services.identity import language_of
from storage import crypto
from storage.db import Database
from storage.models import Account, OutboxMessage, OutboxStatus, Person

logger = logging.getLogger(__name__)

PATH = "/m/"
TOKEN_PURPOSE = "message-page"
BUTTON_PURPOSE = "message-page-button"
PAGE_TTL = timedelta(days=30)
MAC_BYTES = 16
SIG_BYTES = 12
_TOKEN = struct.Struct(">QI")  # row id, expiry (unix seconds)
TOKEN_LENGTH = len(base64.urlsafe_b64encode(b"\0" * (_TOKEN.size + MAC_BYTES)).rstrip(b"="))
FORM_MAX_BYTES = 2048
DATA_MAX = 64  # Telegram's limit for button data; the core's buttons fit in it

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the address: never hand it on
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'",
}


# -- tokens ---------------------------------------------------------------------------------------------
def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        return None


def make_token(row_id: int, expires_at: datetime) -> str:
    """The link token of outbox row ``row_id``, valid until ``expires_at``."""
    head = _TOKEN.pack(row_id, int(expires_at.timestamp()))
    key = crypto.keyring().derived_keys(TOKEN_PURPOSE)[0]
    return _b64(head + hmac.new(key, head, hashlib.sha256).digest()[:MAC_BYTES])


@dataclass(frozen=True)
class TokenCheck:
    row_id: int | None  # None: forged or malformed
    expired: bool = False


def read_token(token: str, now: datetime) -> TokenCheck:
    """Which row a token names, whether it is still valid; a forged or malformed one names none."""
    if len(token) != TOKEN_LENGTH:
        return TokenCheck(None)
    raw = _unb64(token)
    if raw is None or len(raw) != _TOKEN.size + MAC_BYTES:
        return TokenCheck(None)
    head, mac = raw[: _TOKEN.size], raw[_TOKEN.size :]
    keys = crypto.keyring().derived_keys(TOKEN_PURPOSE)
    macs = (hmac.new(k, head, hashlib.sha256).digest()[:MAC_BYTES] for k in keys)
    if not any(hmac.compare_digest(m, mac) for m in macs):
        return TokenCheck(None)
    row_id, expires = _TOKEN.unpack(head)
    return TokenCheck(row_id, expired=expires <= now.timestamp())


def page_path(row_id: int, now: datetime) -> str:
    return PATH + make_token(row_id, now + PAGE_TTL)


def page_url(public_base_url: str, row_id: int, now: datetime) -> str:
    """The address a phone opens for row ``row_id`` (PUBLIC_BASE_URL + /m/<token>)."""
    return public_base_url.rstrip("/") + page_path(row_id, now)


def button_sig(token: str, data: str) -> str:
    """Lets a button shown on an answer page be pressed through this token (and only that button)."""
    key = crypto.keyring().derived_keys(BUTTON_PURPOSE)[0]
    return _b64(hmac.new(key, f"{token}\n{data}".encode(), hashlib.sha256).digest()[:SIG_BYTES])


def _sig_ok(token: str, data: str, sig: str) -> bool:
    message = f"{token}\n{data}".encode()
    return any(
        hmac.compare_digest(_b64(hmac.new(k, message, hashlib.sha256).digest()[:SIG_BYTES]), sig)
        for k in crypto.keyring().derived_keys(BUTTON_PURPOSE)
    )


# -- the pages --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Loaded:
    row_id: int
    person_id: int
    channel: str
    language: str
    text: str
    buttons: tuple[tuple[Button, ...], ...]
    has_media: bool


class MessagePages:
    """Shows outbox rows by their signed links and hands presses to the conversation core."""

    def __init__(self, conversation: Conversation, db: Database, clock: Clock) -> None:
        self.conversation = conversation
        self.db = db
        self.clock = clock

    def routes(self) -> list[BaseRoute]:
        return [Route(PATH + "{token}", self.endpoint, methods=["GET", "POST"], name="message_page")]

    async def endpoint(self, request: Request) -> Response:
        token = request.path_params["token"]
        if request.method == "POST":
            body = await _read_form(request)
            return await self.press(token, body.get("data", ""), body.get("sig", ""))
        return await self.show(token)

    async def show(self, token: str) -> Response:
        loaded = await self._load(token)
        if isinstance(loaded, Response):
            return loaded
        lang = loaded.language
        parts = [f'<div class="text">{_escape(loaded.text)}</div>']
        if loaded.has_media:
            parts.append(f'<p class="note">{_escape(t(lang, "wxout.page.attachment"))}</p>')
        parts.append(_buttons_html(loaded.buttons, token, signed=False))
        parts.append(f'<p class="hint">{_escape(t(lang, "wxout.page.hint"))}</p>')
        return _page(lang, t(lang, "wxout.page.title"), "".join(parts))

    async def press(self, token: str, data: str, sig: str) -> Response:
        loaded = await self._load(token)
        if isinstance(loaded, Response):
            return loaded
        lang = loaded.language
        own = {b.data for row in loaded.buttons for b in row if b.data}
        if not data or len(data) > DATA_MAX or (data not in own and not (sig and _sig_ok(token, data, sig))):
            return _page(lang, t(lang, "wxout.page.title"), _stale_html(lang, token), status=400)
        sender, account = await self._sender(loaded.person_id, loaded.channel)
        if sender is None:
            return _gone()
        before = account.last_inbound_at if account is not None else None
        started = self.clock.now()
        reply = await self.conversation.handle(sender, Inbound(data=data))
        if account is not None and account.channel == "wechat":
            await self._keep_window(account.id, before, started)
        return _page(lang, t(lang, "wxout.page.done_title"), _reply_html(lang, token, reply))

    # -- data ---------------------------------------------------------------------------------------------
    async def _load(self, token: str) -> Loaded | Response:
        check = read_token(token, self.clock.now())
        if check.row_id is None:
            return _not_found()
        if check.expired:
            return _gone()
        async with self.db.session() as session:
            row = await session.get(OutboxMessage, check.row_id)
            if row is None or row.person_id is None or row.status == OutboxStatus.CANCELLED:
                return _gone()
            payload = row.payload
            person = await session.get(Person, row.person_id)
            if payload is None or person is None:
                return _gone()  # retention blanked the text, or the person erased their data
            lines = [line for line in payload.get("buttons", []) if isinstance(line, list)]
            buttons = tuple(tuple(Button(**b) for b in line) for line in lines)
            return Loaded(
                row_id=row.id,
                person_id=person.id,
                channel=row.channel,
                language=language_of(person),
                text=str(payload.get("text") or ""),
                buttons=buttons,
                has_media=bool(payload.get("media_kind")),
            )

    async def _sender(self, person_id: int, channel: str) -> tuple[Sender | None, Account | None]:
        """Who presses: the row's person, through one of their accounts (the row's channel first)."""
        async with self.db.session() as session:
            account = await session.scalar(
                select(Account)
                .where(Account.person_id == person_id)
                .order_by(
                    case((Account.channel == channel, 0), else_=1),
                    Account.preferred.desc(),
                    Account.id,
                )
                .limit(1)
            )
            if account is not None:
                return Sender(account.channel, account.external_id, None, None), account
        return None, None

    async def _keep_window(self, account_id: int, before: datetime | None, started: datetime) -> None:
        """Undo the core's touch of ``last_inbound_at``: a page is not a message in the chat."""
        async with self.db.session() as session:
            await session.execute(
                update(Account)
                .where(Account.id == account_id, Account.last_inbound_at >= started)
                .values(last_inbound_at=before)
            )
            await session.commit()


async def _read_form(request: Request) -> dict[str, str]:
    from bot.http.host import read_body

    raw = await read_body(request, FORM_MAX_BYTES)
    try:
        fields = parse_qs(raw.decode("utf-8"), max_num_fields=4)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in fields.items() if v}


# -- HTML -------------------------------------------------------------------------------------------------
STYLE = """
*{box-sizing:border-box}
body{margin:0;background:#f4f4f4;color:#222;
font:17px/1.6 -apple-system,"PingFang SC","Microsoft YaHei",sans-serif}
main{max-width:640px;margin:0 auto;padding:16px}
h1{font-size:20px;margin:8px 0 12px;color:#b71c1c}
.text,.screen{background:#fff;border-radius:8px;padding:14px 16px;white-space:pre-wrap;word-break:break-word}
.screen{margin:12px 0}
.toast{background:#e8f5e9;border-radius:8px;padding:12px 16px;margin:12px 0}
.buttons{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.buttons .b{flex:1 1 40%;margin:0}
.buttons button,.buttons a{display:block;width:100%;min-height:48px;padding:10px;border:0;border-radius:8px;
background:#c62828;color:#fff;font-size:18px;text-align:center;text-decoration:none}
.hint,.note{color:#666;font-size:15px}
a.back{color:#c62828}
"""


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _page(language: str, title: str, body: str, *, status: int = 200) -> HTMLResponse:
    lang = "zh-CN" if language == "zh" else "en"
    document = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{_escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=HEADERS)


def _buttons_html(rows: tuple[tuple[Button, ...], ...], token: str, *, signed: bool) -> str:
    items: list[str] = []
    for row in rows:
        for button in row:
            label = _escape(button.text)
            if button.data:
                sig = ""
                if signed:
                    sig = f'<input type="hidden" name="sig" value="{button_sig(token, button.data)}">'
                items.append(
                    f'<form class="b" method="post">'
                    f'<input type="hidden" name="data" value="{_escape(button.data)}">{sig}'
                    f'<button type="submit">{label}</button></form>'
                )
            elif button.url and button.url.startswith(("https://", "http://")):
                items.append(f'<a class="b" href="{_escape(button.url)}" rel="noopener">{label}</a>')
    return f'<div class="buttons">{"".join(items)}</div>' if items else ""


def _reply_html(language: str, token: str, reply: Reply | None) -> str:
    parts: list[str] = []
    if reply is not None and reply.toast:
        parts.append(f'<div class="toast">{_escape(reply.toast)}</div>')
    for screen in reply.screens if reply is not None else ():
        if screen.text:
            parts.append(f'<div class="screen">{_escape(screen.text)}</div>')
        if screen.contact is not None or screen.document is not None or screen.photo is not None:
            parts.append(f'<p class="note">{_escape(t(language, "wxout.page.in_chat"))}</p>')
        parts.append(_buttons_html(screen.buttons, token, signed=True))
    if not parts:
        parts.append(f'<div class="toast">{_escape(t(language, "wxout.page.done"))}</div>')
    parts.append(f'<p class="hint">{_escape(t(language, "wxout.page.typing"))}</p>')
    parts.append(f'<p><a class="back" href="{PATH}{token}">{_escape(t(language, "wxout.page.back"))}</a></p>')
    return "".join(parts)


def _stale_html(language: str, token: str) -> str:
    back = f'<p><a class="back" href="{PATH}{token}">{_escape(t(language, "wxout.page.back"))}</a></p>'
    return f'<div class="toast">{_escape(t(language, "error.stale_button"))}</div>{back}'


def _both(key: str) -> str:
    """A text in Chinese, then English: nobody is known yet on a page whose link does not hold."""
    return f"<p>{_escape(t('zh', key))}</p><p>{_escape(t('en', key))}</p>"


def _not_found() -> HTMLResponse:
    title = f"{t('zh', 'wxout.page.not_found_title')} · {t('en', 'wxout.page.not_found_title')}"
    return _page("zh", title, _both("wxout.page.not_found"), status=404)


def _gone() -> HTMLResponse:
    title = f"{t('zh', 'wxout.page.gone_title')} · {t('en', 'wxout.page.gone_title')}"
    return _page("zh", title, _both("wxout.page.gone"), status=410)


def page_routes(pages: MessagePages) -> list[BaseRoute]:
    """The message pages' routes, for the HTTP host."""
    return pages.routes()
