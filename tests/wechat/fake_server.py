"""A fake WeChat API server on 127.0.0.1 (Starlette + uvicorn in a thread of its own, any free port).

It answers the calls the channel makes, in WeChat's shapes, and records every request:

    POST /cgi-bin/stable_token          {grant_type, appid, secret, force_refresh} -> access_token, expires_in
    POST /cgi-bin/message/custom/send   45015 / 43004 for the openids a test names
    POST /cgi-bin/message/template/send -> msgid (43004 for unfollowed openids)
    POST /cgi-bin/qrcode/create         -> ticket, url
    POST /cgi-bin/menu/create
    GET  /cgi-bin/media/get             the bytes a test added, or errcode 40007

A test can make the current token invalid (`invalidate_token(40001)`, WeChat's answer until a forced
renewal), name openids whose window is closed or who unfollowed, queue an error for a path
(`fail_next`), or make a path slow (`delays`, for timeouts). It runs in its own thread, so it serves both
async tests and code that runs its own event loop (the CLI).

    with FakeWeChat() as wx:
        settings = load_settings(wechat_api_base_url=wx.base_url, ...)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

APP_ID = "wx0123456789abcdef"
APP_SECRET = "fakesecret0123456789abcdef012345"
EXPIRES_IN = 7200
# The account's callback settings, as its console shows them (the fake server does not use them).
CALLBACK_TOKEN = "callbacktoken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str  # e.g. "message/custom/send" (without /cgi-bin/)
    query: dict[str, str]
    body: Any  # the JSON body, or None
    ok: bool = True  # False when the fake answered with an error

    @property
    def token(self) -> str | None:
        return self.query.get("access_token")


@dataclass
class _State:
    current: str | None = None
    issued: set[str] = field(default_factory=set)
    rejected: dict[str, int] = field(default_factory=dict)  # token -> errcode WeChat answers for it
    window_closed: set[str] = field(default_factory=set)
    unfollowed: set[str] = field(default_factory=set)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    failures: dict[str, deque[tuple[int, str]]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)


class FakeWeChat:
    """The fake server; `start()`/`stop()` or use it as a context manager."""

    def __init__(
        self, *, app_id: str = APP_ID, secret: str = APP_SECRET, expires_in: int = EXPIRES_IN
    ) -> None:
        self.app_id = app_id
        self.secret = secret
        self.expires_in = expires_in
        self.requests: list[Recorded] = []
        self._state = _State()
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._msgids = itertools.count(1000)
        self._tickets = itertools.count(1)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    # -- what a test arranges -------------------------------------------------------------------------
    def invalidate_token(self, errcode: int = 40001) -> None:
        """The current token is refused with ``errcode`` from now on; a non-forced stable_token still
        hands it out (as WeChat does until its time is up), a forced one makes a new one."""
        with self._lock:
            if self._state.current is not None:
                self._state.rejected[self._state.current] = errcode

    def close_window(self, openid: str) -> None:
        """Customer-service messages to ``openid`` fail with 45015 (48 hours since they wrote)."""
        with self._lock:
            self._state.window_closed.add(openid)

    def unfollow(self, openid: str) -> None:
        """Messages to ``openid`` fail with 43004 (they no longer follow the account)."""
        with self._lock:
            self._state.unfollowed.add(openid)

    def add_media(self, media_id: str, content: bytes, content_type: str = "image/jpeg") -> None:
        with self._lock:
            self._state.media[media_id] = (content, content_type)

    def fail_next(self, path: str, errcode: int, errmsg: str = "test failure") -> None:
        """The next call of ``path`` (e.g. "message/custom/send") with a valid token answers ``errcode``."""
        with self._lock:
            self._state.failures.setdefault(path, deque()).append((errcode, errmsg))

    def delay(self, path: str, seconds: float) -> None:
        """Calls of ``path`` answer after ``seconds`` (0 to stop)."""
        with self._lock:
            self._state.delays[path] = seconds

    # -- what a test asserts --------------------------------------------------------------------------
    def calls(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def texts_to(self, openid: str) -> list[str]:
        """The customer-service texts delivered to ``openid``, in order."""
        return [
            r.body["text"]["content"]
            for r in self.calls("message/custom/send")
            if r.body.get("touser") == openid and r.body.get("msgtype") == "text" and r.ok
        ]

    def templates_to(self, openid: str) -> list[dict[str, Any]]:
        return [r.body for r in self.calls("message/template/send") if r.body.get("touser") == openid]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- the server -----------------------------------------------------------------------------------
    def start(self) -> FakeWeChat:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self._app(), lifespan="off", log_config=None, access_log=False)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]

        def serve() -> None:
            assert self._server is not None
            asyncio.run(self._server.serve(sockets=[sock]))

        self._thread = threading.Thread(target=serve, name="fake-wechat", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake WeChat server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> FakeWeChat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/cgi-bin/stable_token", self._stable_token, methods=["POST"]),
                Route("/cgi-bin/message/custom/send", self._custom_send, methods=["POST"]),
                Route("/cgi-bin/message/template/send", self._template_send, methods=["POST"]),
                Route("/cgi-bin/qrcode/create", self._qrcode, methods=["POST"]),
                Route("/cgi-bin/menu/create", self._menu, methods=["POST"]),
                Route("/cgi-bin/media/get", self._media, methods=["GET"]),
            ]
        )

    async def _record(self, request: Request) -> Recorded:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = request.url.path.removeprefix("/cgi-bin/")
        recorded = Recorded(request.method, path, dict(request.query_params), body)
        with self._lock:
            self.requests.append(recorded)
            delay = self._state.delays.get(path, 0)
        if delay:
            await asyncio.sleep(delay)
        return recorded

    def _failure(self, recorded: Recorded) -> JSONResponse | None:
        """The error a test queued for this path (taken by the first call that passed the token check)."""
        with self._lock:
            queued = self._state.failures.get(recorded.path)
            failure = queued.popleft() if queued else None
        return None if failure is None else _refuse(recorded, *failure)

    def _token_error(self, recorded: Recorded) -> JSONResponse | None:
        token = recorded.token
        with self._lock:
            if token is None or token not in self._state.issued:
                code = 40001 if token else 41001
            else:
                code = self._state.rejected.get(token, 0)
        if code:
            return _refuse(recorded, code, "invalid credential, access_token is invalid or not latest")
        return None

    async def _stable_token(self, request: Request) -> Response:
        recorded = await self._record(request)
        if (failure := self._failure(recorded)) is not None:
            return failure
        body = recorded.body or {}
        if body.get("appid") != self.app_id or body.get("secret") != self.secret:
            return _error(40125, "invalid appsecret")
        if body.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        with self._lock:
            current = self._state.current
            if current is None or body.get("force_refresh") is True:
                current = f"TOKEN-{next(self._tokens)}"
                if self._state.current is not None:
                    self._state.rejected.setdefault(self._state.current, 40001)
                self._state.current = current
                self._state.issued.add(current)
        return JSONResponse({"access_token": current, "expires_in": self.expires_in})

    async def _custom_send(self, request: Request) -> Response:
        recorded = await self._record(request)
        if (refused := self._token_error(recorded)) is not None:
            return refused
        if (failure := self._failure(recorded)) is not None:
            return failure
        touser = (recorded.body or {}).get("touser")
        with self._lock:
            if touser in self._state.unfollowed:
                return _refuse(recorded, 43004, "require subscribe")
            if touser in self._state.window_closed:
                return _refuse(recorded, 45015, "response out of time limit or subscription is canceled")
        return _error(0, "ok")

    async def _template_send(self, request: Request) -> Response:
        recorded = await self._record(request)
        if (refused := self._token_error(recorded)) is not None:
            return refused
        if (failure := self._failure(recorded)) is not None:
            return failure
        body = recorded.body or {}
        if not body.get("template_id"):
            return _refuse(recorded, 40037, "invalid template_id")
        with self._lock:
            if body.get("touser") in self._state.unfollowed:
                return _refuse(recorded, 43004, "require subscribe")
            msgid = next(self._msgids)
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    async def _qrcode(self, request: Request) -> Response:
        recorded = await self._record(request)
        if (refused := self._token_error(recorded)) is not None:
            return refused
        if (failure := self._failure(recorded)) is not None:
            return failure
        scene = ((recorded.body or {}).get("action_info") or {}).get("scene") or {}
        ticket = f"gQ{next(self._tickets)}=={scene.get('scene_str') or scene.get('scene_id')}"
        return JSONResponse({"ticket": ticket, "url": f"http://weixin.qq.com/q/{ticket}"})

    async def _menu(self, request: Request) -> Response:
        recorded = await self._record(request)
        if (refused := self._token_error(recorded)) is not None:
            return refused
        if (failure := self._failure(recorded)) is not None:
            return failure
        if not isinstance((recorded.body or {}).get("button"), list):
            return _refuse(recorded, 40016, "invalid button size")
        return _error(0, "ok")

    async def _media(self, request: Request) -> Response:
        recorded = await self._record(request)
        if (refused := self._token_error(recorded)) is not None:
            return refused
        if (failure := self._failure(recorded)) is not None:
            return failure
        with self._lock:
            found = self._state.media.get(recorded.query.get("media_id", ""))
        if found is None:
            return _refuse(recorded, 40007, "invalid media_id")
        content, content_type = found
        return Response(content, media_type=content_type)


def _refuse(recorded: Recorded, errcode: int, errmsg: str) -> JSONResponse:
    recorded.ok = False
    return _error(errcode, errmsg)


def _error(errcode: int, errmsg: str) -> JSONResponse:
    return JSONResponse({"errcode": errcode, "errmsg": errmsg})
