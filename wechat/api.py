"""The official account's HTTP API, called with an async client of our own (wechatpy's is synchronous).

One access token per app id is kept in the database (encrypted) and shared by every instance: it comes
from ``cgi-bin/stable_token``, which hands every caller the same token until it expires, so instances do
not invalidate each other. It is renewed a few minutes before it expires; when WeChat says it is no longer
valid (40001/42001/40014) it is renewed once with ``force_refresh`` (WeChat allows only a few forced
renewals a day, so not when another instance already renewed it) and the call is tried once more.

The token travels as a query parameter, so nothing here logs a URL, and errors carry WeChat's code and
message only. An error answer raises `WeChatApiError`; a timeout raises httpx's exception unchanged (the
caller decides: a send that timed out may have been delivered).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy.dialects import postgresql, sqlite

from bot.clock import Clock
from bot.config import Settings
from storage.db import Database
from storage.models import WeChatToken

SHOW_QR_URL = "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket="
REFRESH_BEFORE = timedelta(minutes=5)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MEDIA_MAX_BYTES = 20 * 1024 * 1024

# The error codes a caller acts on (the channel's error matrix).
TOKEN_INVALID = frozenset({40001, 40014, 42001})
WINDOW_CLOSED = 45015  # no customer-service message outside 48 h of the member's last message
NOT_FOLLOWING = 43004  # the person unfollowed: unreachable
QUOTA = frozenset({45009, 45047})  # the day's API quota, or too many messages to one person
BUSY = -1


class WeChatApiError(Exception):
    """WeChat answered with a non-zero ``errcode`` (or not with JSON at all)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"wechat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg

    @property
    def kind(self) -> str:
        """token | window_closed | unreachable | quota | busy | other"""
        if self.errcode in TOKEN_INVALID:
            return "token"
        if self.errcode == WINDOW_CLOSED:
            return "window_closed"
        if self.errcode == NOT_FOLLOWING:
            return "unreachable"
        if self.errcode in QUOTA:
            return "quota"
        if self.errcode == BUSY:
            return "busy"
        return "other"


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: datetime


class WeChatApi:
    """The calls the channel makes. One instance per process; `aclose()` when done."""

    def __init__(
        self, settings: Settings, db: Database, clock: Clock, *, client: httpx.AsyncClient | None = None
    ) -> None:
        if not settings.wechat_enabled:
            raise ValueError("WeChatApi needs WECHAT_APP_ID, WECHAT_APP_SECRET and WECHAT_TOKEN")
        assert settings.wechat_app_id is not None and settings.wechat_app_secret is not None
        self.base = settings.wechat_api_base_url.rstrip("/")
        self.app_id = settings.wechat_app_id
        self._secret = settings.wechat_app_secret
        self.db = db
        self.clock = clock
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT)
        self._own_client = client is None
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    # -- the calls ------------------------------------------------------------------------------------
    async def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message (only within 48 h of the person's last message)."""
        await self.post(
            "message/custom/send", {"touser": openid, "msgtype": "text", "text": {"content": text}}
        )

    async def send_template(
        self, openid: str, template_id: str, url: str | None, data: dict[str, str]
    ) -> int:
        """A template message (at any time); the msgid its TEMPLATESENDJOBFINISH event will name."""
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if url:
            body["url"] = url
        answer = await self.post("message/template/send", body)
        return int(answer["msgid"])

    async def create_qr(self, scene: str) -> str:
        """A permanent parameterised QR code for ``scene``; the URL of its picture."""
        answer = await self.post(
            "qrcode/create",
            {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}},
        )
        return SHOW_QR_URL + quote(str(answer["ticket"]), safe="")

    async def create_menu(self, menu: dict[str, Any]) -> None:
        await self.post("menu/create", menu)

    async def get_media(self, media_id: str) -> tuple[bytes, str | None]:
        """A temporary media file a person sent (kept 3 days by WeChat): its bytes and content type."""
        for attempt in range(2):
            token = await self.access_token()
            async with self._client.stream(
                "GET", f"{self.base}/cgi-bin/media/get", params={"access_token": token, "media_id": media_id}
            ) as response:
                content_type = response.headers.get("content-type")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MEDIA_MAX_BYTES:
                        raise WeChatApiError(-2, "media larger than 20 MB")
                    chunks.append(chunk)
            content = b"".join(chunks)
            kind = (content_type or "").split(";")[0].strip().lower()
            if response.status_code != 200 or kind in ("application/json", "text/plain"):
                error = _error_of(response.status_code, content)
                if error is None:
                    return content, content_type
                if error.errcode in TOKEN_INVALID and attempt == 0:
                    await self.access_token(failed=token)
                    continue
                raise error
            return content, content_type
        raise AssertionError("unreachable")

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to ``{base}/cgi-bin/{path}`` with the token; the answer, or `WeChatApiError`."""
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        for attempt in range(2):
            token = await self.access_token()
            response = await self._client.post(
                f"{self.base}/cgi-bin/{path}",
                params={"access_token": token},
                content=payload,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
            answer = _answer(response.status_code, response.content)
            errcode = int(answer.get("errcode") or 0)
            if errcode in TOKEN_INVALID and attempt == 0:
                await self.access_token(failed=token)
                continue
            if errcode:
                raise WeChatApiError(errcode, str(answer.get("errmsg") or ""))
            return answer
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    # -- the token ------------------------------------------------------------------------------------
    async def access_token(self, *, failed: str | None = None) -> str:
        """A token valid for a while yet; with ``failed`` (a token WeChat refused), a newer one."""
        now = self.clock.now()
        if failed is None and self._fresh(self._token, now):
            assert self._token is not None
            return self._token.value
        async with self._lock:
            now = self.clock.now()
            if self._fresh(self._token, now) and (self._token and self._token.value != failed):
                return self._token.value
            stored = await self._stored()
            if self._fresh(stored, now) and stored is not None and stored.value != failed:
                self._token = stored  # another instance (or an earlier run) renewed it
                return stored.value
            self._token = await self._fetch(force=failed is not None)
            await self._store(self._token)
            return self._token.value

    @staticmethod
    def _fresh(token: _Token | None, now: datetime) -> bool:
        return token is not None and token.expires_at - REFRESH_BEFORE > now

    async def _stored(self) -> _Token | None:
        async with self.db.session() as session:
            row = await session.get(WeChatToken, self.app_id, populate_existing=True)
            return None if row is None else _Token(row.token, row.expires_at)

    async def _store(self, token: _Token) -> None:
        async with self.db.session() as session:
            module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
            now = self.clock.now()
            values = {"app_id": self.app_id, "token": token.value, "expires_at": token.expires_at}
            stmt = module.insert(WeChatToken).values(**values, updated_at=now)
            stmt = stmt.on_conflict_do_update(
                index_elements=["app_id"],
                set_={
                    "token": stmt.excluded.token,
                    "expires_at": stmt.excluded.expires_at,
                    "updated_at": now,
                },
            )
            await session.execute(stmt)
            await session.commit()

    async def _fetch(self, *, force: bool) -> _Token:
        body = {
            "grant_type": "client_credential",
            "appid": self.app_id,
            "secret": self._secret.get_secret_value(),
            "force_refresh": force,
        }
        response = await self._client.post(f"{self.base}/cgi-bin/stable_token", json=body)
        answer = _answer(response.status_code, response.content)
        if answer.get("errcode"):
            raise WeChatApiError(int(answer["errcode"]), str(answer.get("errmsg") or ""))
        try:
            value, expires_in = str(answer["access_token"]), int(answer["expires_in"])
        except (KeyError, TypeError, ValueError):
            raise WeChatApiError(BUSY, "stable_token answered without a token") from None
        return _Token(value, self.clock.now() + timedelta(seconds=expires_in))


def _answer(status: int, content: bytes) -> dict[str, Any]:
    """The JSON object WeChat answered; a server error or a non-JSON answer is a busy error."""
    try:
        answer = json.loads(content)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise WeChatApiError(BUSY, f"HTTP {status}, not a JSON object")
    if status >= 500 and not answer.get("errcode"):
        raise WeChatApiError(BUSY, f"HTTP {status}")
    return answer


def _error_of(status: int, content: bytes) -> WeChatApiError | None:
    """The error in a media answer that came as JSON (None when it is not an error after all)."""
    try:
        answer = _answer(status, content)
    except WeChatApiError as exc:
        return exc if status != 200 else None
    errcode = int(answer.get("errcode") or 0)
    if not errcode and status == 200:
        return None
    return WeChatApiError(errcode or BUSY, str(answer.get("errmsg") or f"HTTP {status}"))
