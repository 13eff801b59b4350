"""A fake Telegram Bot API HTTP server for benchmarks, load tests and reliability tests.

It listens on 127.0.0.1 only, answers the methods the bot uses with well-formed Bot API
results, enforces Telegram's flood limits (HTTP 429 with ``retry_after``) and records every
call with a monotonic timestamp so a benchmark can check what actually "left" the bot.

In-process use (inside a running asyncio loop)::

    api = FakeBotAPI(rate=30)
    base_url = await api.start()          # "http://127.0.0.1:PORT/bot"
    bot = telegram.Bot("123:ABC", base_url=base_url)
    ...
    assert api.max_in_any_window(1.0) <= 30
    await api.stop()

Standalone::

    python -m bench.fake_botapi --port 0 --rate 30

prints the base URL on the first line of stdout and serves until SIGINT/SIGTERM, then prints
``stats()`` as JSON on stderr. A small control API is exposed for other processes:
``GET /_fake/stats``, ``POST /_fake/reset``, ``POST /_fake/updates`` (JSON update),
``POST /_fake/block`` (``{"chat_ids": [...]}``), ``POST /_fake/fail_next``
(``{"chat_id": ..., "kind": ...}``).

Limits (``scale`` multiplies them; the benchmark uses ``scale = configured_rate / 25``):

* global: at most ``rate * scale`` delivered sends in any sliding 1 s window;
* private chat (id > 0): 1 send per second; group (id < 0 or "@name"): 20 per minute.
  The per-chat limits are Telegram's unless ``scale_chat_limits=True``, in which case their
  windows shrink by ``scale`` (1 per ``1/scale`` s, 20 per ``60/scale`` s).

Only the send methods (``SEND_METHODS``) are limited and counted as deliveries. A call over a
limit is not delivered and gets 429. Every call is recorded in ``calls``; deliveries also in
``delivered``.

``retry_after`` is enforced (``enforce_retry_after``, on by default): after a 429 for the global
limit, or an injected 429, every send before its deadline is another 429 (counted in
``count_429`` and ``early_429``); after a 429 for a chat's own limit, every send to that chat.

Latency: every answer is held ``latency ± jitter`` seconds (uniform, at least 0), after the call
is recorded: the recorded time is when the request reached the server, and the hold is the rest of
the round trip (processing and the way back). ``uplink_jitter`` additionally delays the arrival of
each request by uniform(0, uplink_jitter) before it is recorded and counted against the limits,
so that requests sent in order can arrive squeezed together. The benchmark's default is
150 ± 100 ms with no uplink jitter (``--latency``, ``--jitter``, ``--uplink-jitter``).

``exclusive_updates``: each update goes to one ``getUpdates`` caller only, as a load balancer in
front of several webhook instances would hand it out (two real long-polling instances would get
409 Conflict from Telegram); for benchmarks with several bot processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import signal
import sys
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

HOST = "127.0.0.1"

SEND_METHODS = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageReplyMarkup", "copyMessage"}
)
# Methods that put a new message into a chat (used by ``duplicates()``).
NEW_MESSAGE_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "copyMessage"})
FAULT_KINDS = frozenset({"429", "400", "403", "migrate", "hang"})

# Parameters that are plain strings on the wire and must not be JSON-decoded ("123" stays "123").
_RAW_KEYS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "secret_token",
        "url",
        "ip_address",
        "description",
        "short_description",
        "name",
        "title",
        "language_code",
        "emoji",
        "business_connection_id",
        "message_effect_id",
        "query",
        "photo",
        "document",
        "video",
        "audio",
        "voice",
        "animation",
        "sticker",
        "thumbnail",
        "file_id",
    }
)

BOT_USER: dict[str, Any] = {
    "id": 777000111,
    "is_bot": True,
    "first_name": "BranchBot",
    "username": "branch_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
    "can_connect_to_business": False,
    "has_main_web_app": False,
}


@dataclass(slots=True)
class Call:
    """One recorded request. ``t`` is ``time.monotonic()`` at arrival."""

    t: float
    method: str
    chat_id: int | str | None
    params: dict[str, Any]
    status: int
    fault: str | None = None  # injected fault kind, or "blocked" / "limit:global|chat" for 429s


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            out["parameters"] = self.parameters
        return out


def _decode_value(key: str, value: str) -> Any:
    if key in _RAW_KEYS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _chat_type(chat_id: int | str) -> str:
    return "private" if isinstance(chat_id, int) and chat_id > 0 else "group"


def _max_in_window(times: list[float], seconds: float) -> int:
    """Largest number of timestamps within any half-open window (t - seconds, t]."""
    times = sorted(times)
    best = 0
    lo = 0
    for hi, t in enumerate(times):
        while times[lo] <= t - seconds:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


class FakeBotAPI:
    """Fake Bot API server; see the module docstring."""

    def __init__(
        self,
        *,
        rate: float = 30,
        scale: float = 1.0,
        scale_chat_limits: bool = False,
        retry_after: int = 1,
        latency: float = 0.0,
        jitter: float = 0.0,
        uplink_jitter: float = 0.0,
        enforce_retry_after: bool = True,
        exclusive_updates: bool = False,
        hang_seconds: float = 30.0,
        long_poll_cap: float = 1.0,
        port: int = 0,
        seed: int | None = None,
    ) -> None:
        if scale <= 0 or rate <= 0:
            raise ValueError("rate and scale must be positive")
        self.rate = rate
        self.scale = scale
        self.scale_chat_limits = scale_chat_limits
        self.retry_after = retry_after
        self.latency = latency
        self.jitter = jitter
        self.uplink_jitter = uplink_jitter
        self.enforce_retry_after = enforce_retry_after
        self.exclusive_updates = exclusive_updates
        self.hang_seconds = hang_seconds
        self.long_poll_cap = long_poll_cap
        self.requested_port = port
        self.port: int | None = None
        self.base_url: str | None = None

        self.global_limit = rate * scale
        chat_scale = scale if scale_chat_limits else 1.0
        self.private_window = 1.0 / chat_scale  # 1 send per window
        self.private_limit = 1
        self.group_window = 60.0 / chat_scale  # 20 sends per window
        self.group_limit = 20

        self._rng = random.Random(seed)
        self._server: tornado.httpserver.HTTPServer | None = None
        self._stopping = asyncio.Event()
        self._update_event = asyncio.Event()
        self._message_ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self.reset()

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> str:
        """Bind 127.0.0.1 (port 0 → a free port) in the running loop; return the base URL."""
        if self._server is not None:
            assert self.base_url is not None
            return self.base_url
        self._stopping = asyncio.Event()
        self._update_event = asyncio.Event()
        app = tornado.web.Application(
            [
                (r"/bot([^/]+)/([A-Za-z0-9_]+)", _BotApiHandler, {"api": self}),
                (r"/_fake/([a-z_]+)", _ControlHandler, {"api": self}),
            ],
            log_function=lambda _handler: None,
            compress_response=False,
        )
        sockets = tornado.netutil.bind_sockets(self.requested_port, address=HOST)
        self.port = sockets[0].getsockname()[1]
        self._server = tornado.httpserver.HTTPServer(app, idle_connection_timeout=60)
        self._server.add_sockets(sockets)
        self.base_url = f"http://{HOST}:{self.port}/bot"
        return self.base_url

    async def stop(self) -> None:
        """Stop listening, wake long-polls and hanging calls, close all connections."""
        if self._server is None:
            return
        server, self._server = self._server, None
        self._stopping.set()
        self._update_event.set()
        server.stop()
        await asyncio.sleep(0.01)  # let woken handlers answer
        await server.close_all_connections()

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ control
    def reset(self, *, faults: bool = True) -> None:
        """Forget recorded calls, deliveries, 429 counts and rate windows (and faults/updates)."""
        self.calls: list[Call] = []
        self.delivered: list[Call] = []
        self.count_429 = 0
        self.early_429 = 0  # sends before a retry_after deadline
        self._global_until = -1.0
        self._chat_until: dict[int | str, float] = {}
        self._global_window: deque[float] = deque()
        self._chat_windows: defaultdict[int | str, deque[float]] = defaultdict(deque)
        if faults:
            self.blocked: set[int | str] = set()
            self._faults: defaultdict[int | str, deque[tuple[str, dict[str, Any]]]] = defaultdict(deque)
            self.updates: deque[dict[str, Any]] = deque()
            self.webhook_url = ""
            self.commands: list[Any] = []

    def block_chats(self, chat_ids: Iterable[int | str]) -> None:
        """Every later send to these chats gets 403 "bot was blocked by the user"."""
        self.blocked.update(chat_ids)

    def unblock_chats(self, chat_ids: Iterable[int | str] | None = None) -> None:
        if chat_ids is None:
            self.blocked.clear()
        else:
            self.blocked.difference_update(chat_ids)

    def fail_next(
        self,
        chat_id: int | str,
        kind: str,
        *,
        retry_after: int | None = None,
        hang_seconds: float | None = None,
    ) -> None:
        """Make the next send to ``chat_id`` fail (faults queue up per chat).

        kind: "429" (retry_after), "400" (chat not found), "403" (blocked), "migrate"
        (400 with parameters.migrate_to_chat_id), "hang" (recorded as delivered, then the
        answer is held ``hang_seconds`` — longer than the client's read timeout).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        opts: dict[str, Any] = {}
        if retry_after is not None:
            opts["retry_after"] = retry_after
        if hang_seconds is not None:
            opts["hang_seconds"] = hang_seconds
        self._faults[chat_id].append((kind, opts))

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates (``update_id`` assigned if missing); return its id."""
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = next(self._update_ids)
        else:
            self._update_ids = itertools.count(max(int(update["update_id"]) + 1, next(self._update_ids)))
        self.updates.append(update)
        event, self._update_event = self._update_event, asyncio.Event()
        event.set()
        return int(update["update_id"])

    def push_text(self, chat_id: int, text: str, *, user_id: int | None = None) -> int:
        """Queue a text-message update from ``user_id`` (default: ``chat_id``) in ``chat_id``."""
        uid = user_id if user_id is not None else abs(chat_id)
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": {"id": uid, "is_bot": False, "first_name": f"User{uid}"},
            "text": text,
        }
        if text.startswith("/"):
            cmd = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(cmd)}]
        return self.push_update({"message": message})

    # ------------------------------------------------------------------ queries
    def delivered_chat_ids(self) -> list[int | str | None]:
        """Chat ids of delivered sends, in delivery order (with repeats)."""
        return [c.chat_id for c in self.delivered]

    def _delivered(self, methods: Iterable[str] | None) -> list[Call]:
        if methods is None:
            return self.delivered
        wanted = set(methods)
        return [c for c in self.delivered if c.method in wanted]

    def max_in_any_window(self, seconds: float = 1.0, *, methods: Iterable[str] | None = None) -> int:
        """Most delivered sends in any sliding window of ``seconds``."""
        return _max_in_window([c.t for c in self._delivered(methods)], seconds)

    def max_per_chat_in_any_window(
        self, seconds: float = 1.0, *, methods: Iterable[str] | None = None, private_only: bool = False
    ) -> int:
        """Most delivered sends to one chat in any sliding window of ``seconds`` (max over chats)."""
        per_chat: defaultdict[Any, list[float]] = defaultdict(list)
        for c in self._delivered(methods):
            if private_only and not (isinstance(c.chat_id, int) and c.chat_id > 0):
                continue
            per_chat[c.chat_id].append(c.t)
        return max((_max_in_window(ts, seconds) for ts in per_chat.values()), default=0)

    def duplicates(self) -> dict[int | str | None, int]:
        """Chats that received the same content more than once → number of extra copies."""
        seen: Counter[tuple[Any, ...]] = Counter()
        for c in self.delivered:
            if c.method not in NEW_MESSAGE_METHODS:
                continue
            p = c.params
            if c.method == "copyMessage":
                content: Any = ("copy", p.get("from_chat_id"), p.get("message_id"))
            else:
                content = p.get("text") or p.get("caption") or repr(p.get("photo") or p.get("document"))
            seen[(c.chat_id, content)] += 1
        out: dict[int | str | None, int] = defaultdict(int)
        for (chat_id, _content), n in seen.items():
            if n > 1:
                out[chat_id] += n - 1
        return dict(out)

    def status_counts(self) -> Counter[int]:
        return Counter(c.status for c in self.calls)

    def delivered_rate(self, *, methods: Iterable[str] | None = None) -> float:
        """Deliveries per second between the first and the last delivery (0 if fewer than 2)."""
        ds = self._delivered(methods)
        if len(ds) < 2:
            return 0.0
        span = ds[-1].t - ds[0].t
        return (len(ds) - 1) / span if span > 0 else float("inf")

    def stats(self) -> dict[str, Any]:
        return {
            "calls": len(self.calls),
            "delivered": len(self.delivered),
            "count_429": self.count_429,
            "early_429": self.early_429,
            "status_counts": {str(k): v for k, v in sorted(self.status_counts().items())},
            "max_in_any_1s": self.max_in_any_window(1.0),
            "max_per_chat_in_any_1s": self.max_per_chat_in_any_window(1.0),
            "delivered_rate": round(self.delivered_rate(), 3),
            "duplicate_chats": len(self.duplicates()),
            "global_limit_per_s": self.global_limit,
        }

    # ------------------------------------------------------------ request logic
    def _chat(self, chat_id: int | str) -> dict[str, Any]:
        if _chat_type(chat_id) == "private":
            return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
        if isinstance(chat_id, str):
            return {"id": -1001000000000, "type": "group", "title": chat_id, "username": chat_id.lstrip("@")}
        return {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}

    def _message(self, chat_id: int | str, params: dict[str, Any], message_id: int | None = None) -> dict:
        msg: dict[str, Any] = {
            "message_id": message_id if message_id is not None else next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")},
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        return msg

    def _check_limits(self, now: float, chat_id: int | str | None) -> str | None:
        """Return the name of the limit a send now would exceed, or None (and trim windows)."""
        gw = self._global_window
        while gw and gw[0] <= now - 1.0:
            gw.popleft()
        if len(gw) + 1 > self.global_limit:
            return "global"
        if chat_id is None:
            return None
        if _chat_type(chat_id) == "private":
            window, limit = self.private_window, self.private_limit
        else:
            window, limit = self.group_window, self.group_limit
        cw = self._chat_windows.get(chat_id)
        if cw:
            while cw and cw[0] <= now - window:
                cw.popleft()
            if len(cw) >= limit:
                return "chat"
        return None

    def _retry_error(self, retry_after: int) -> _ApiError:
        self.count_429 += 1
        return _ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})

    def _flood_wait(
        self, now: float, chat_id: int | str | None, retry_after: int, *, chat: bool
    ) -> _ApiError:
        """A 429 whose deadline is enforced: for the bot as a whole, or for one chat."""
        if self.enforce_retry_after:
            if chat and chat_id is not None:
                self._chat_until[chat_id] = max(self._chat_until.get(chat_id, -1.0), now + retry_after)
            else:
                self._global_until = max(self._global_until, now + retry_after)
        return self._retry_error(retry_after)

    def _before_deadline(self, now: float, chat_id: int | str | None) -> _ApiError | None:
        until = self._global_until
        if chat_id is not None:
            until = max(until, self._chat_until.get(chat_id, -1.0))
        if now >= until:
            return None
        self.early_429 += 1
        return self._retry_error(max(1, math.ceil(until - now)))

    def _send_result(self, method: str, chat_id: Any, params: dict[str, Any], files: dict) -> Any:
        if method == "sendMessage":
            text = params.get("text")
            if not text:
                raise _ApiError(400, "Bad Request: message text is empty")
            msg = self._message(chat_id, params)
            msg["text"] = text
            if isinstance(params.get("entities"), list):
                msg["entities"] = params["entities"]
            return msg
        if method in ("sendPhoto", "sendDocument"):
            field = "photo" if method == "sendPhoto" else "document"
            if field not in params and field not in files:
                raise _ApiError(400, f"Bad Request: there is no {field} in the request")
            msg = self._message(chat_id, params)
            fid = f"{field}-{msg['message_id']}"
            size = files[field]["size"] if field in files else 1024
            if field == "photo":
                msg["photo"] = [
                    {"file_id": fid + "-s", "file_unique_id": fid + "s", "width": 90, "height": 90},
                    {"file_id": fid, "file_unique_id": fid, "width": 800, "height": 800, "file_size": size},
                ]
            else:
                name = files["document"]["filename"] if "document" in files else "document.bin"
                msg["document"] = {
                    "file_id": fid,
                    "file_unique_id": fid,
                    "file_name": name,
                    "mime_type": "application/octet-stream",
                    "file_size": size,
                }
            if params.get("caption"):
                msg["caption"] = params["caption"]
            return msg
        if method == "copyMessage":
            return {"message_id": next(self._message_ids)}
        # editMessageText / editMessageReplyMarkup
        if params.get("inline_message_id"):
            return True
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        msg = self._message(chat_id, params, message_id=message_id)
        msg["edit_date"] = int(time.time())
        if method == "editMessageText":
            if not params.get("text"):
                raise _ApiError(400, "Bad Request: message text is empty")
            msg["text"] = params["text"]
        else:
            msg["text"] = "…"
        return msg

    async def _handle(self, method: str, params: dict[str, Any], files: dict) -> tuple[int, Any, float]:
        """Return (status, body, extra hold seconds). Records the call."""
        now = time.monotonic()
        chat_id = params.get("chat_id")
        if isinstance(chat_id, float) and chat_id.is_integer():
            chat_id = int(chat_id)
        elif isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        if isinstance(chat_id, (dict, list, bool)):
            chat_id = None
        call = Call(now, method, chat_id, params, 200)
        self.calls.append(call)
        hold = 0.0
        try:
            if method in SEND_METHODS:
                result, hold = self._do_send(call, files)
            else:
                result = await self._do_other(method, params)
        except _ApiError as err:
            call.status = err.status
            return err.status, err.body(), 0.0
        return 200, {"ok": True, "result": result}, hold

    def _do_send(self, call: Call, files: dict) -> tuple[Any, float]:
        chat_id, method, params = call.chat_id, call.method, call.params
        needs_chat = not (method.startswith("edit") and params.get("inline_message_id"))
        if needs_chat and chat_id is None:
            raise _ApiError(400, "Bad Request: chat_id is empty")
        hold = 0.0
        faults = self._faults.get(chat_id) if chat_id is not None else None
        if faults and faults[0][0] != "hang":
            kind, opts = faults.popleft()
            if not faults:
                del self._faults[chat_id]
            call.fault = kind
            if kind == "429":
                raise self._flood_wait(call.t, chat_id, opts.get("retry_after", self.retry_after), chat=False)
            if kind == "400":
                raise _ApiError(400, "Bad Request: chat not found")
            if kind == "403":
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
            # "migrate"
            assert chat_id is not None
            new_id = int(f"-100{abs(int(chat_id))}") if isinstance(chat_id, int) else -1001000000001
            raise _ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": new_id},
            )
        if chat_id is not None and chat_id in self.blocked:
            call.fault = "blocked"
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        early = self._before_deadline(call.t, chat_id)
        if early is not None:
            call.fault = "early"
            raise early
        over = self._check_limits(call.t, chat_id)
        if over is not None:  # a queued "hang" stays queued for the next attempt
            call.fault = f"limit:{over}"
            raise self._flood_wait(call.t, chat_id, self.retry_after, chat=over == "chat")
        result = self._send_result(method, chat_id, params, files)  # may raise 400 (not delivered)
        if faults:  # "hang": delivered, but the answer is held past the client's read timeout
            _kind, opts = faults.popleft()
            if not faults:
                del self._faults[chat_id]
            call.fault = "hang"
            hold = opts.get("hang_seconds", self.hang_seconds)
        self._global_window.append(call.t)
        if chat_id is not None:
            self._chat_windows[chat_id].append(call.t)
        self.delivered.append(call)
        return result, hold

    async def _do_other(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "getUpdates":
            return await self._get_updates(params)
        if method == "setWebhook":
            if not params.get("url"):
                raise _ApiError(400, "Bad Request: bad webhook: URL must not be empty")
            self.webhook_url = str(params["url"])
            return True
        if method == "deleteWebhook":
            self.webhook_url = ""
            if params.get("drop_pending_updates"):
                self.updates.clear()
            return True
        if method == "getWebhookInfo":
            return {
                "url": self.webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self.updates),
            }
        if method == "setMyCommands":
            commands = params.get("commands")
            self.commands = commands if isinstance(commands, list) else []
            return True
        if method == "getMyCommands":
            return self.commands
        if method == "deleteMyCommands":
            self.commands = []
            return True
        return True  # answerCallbackQuery, deleteMessage and anything unknown

    def _pending(self, offset: Any, limit: int) -> list[dict[str, Any]]:
        ups = self.updates
        if self.exclusive_updates:  # handed to this caller only
            return [ups.popleft() for _ in range(min(len(ups), max(1, min(limit, 100))))]
        if isinstance(offset, int) and offset < 0:
            keep = list(ups)[offset:]
            ups.clear()
            ups.extend(keep)
        elif isinstance(offset, int):
            while ups and ups[0]["update_id"] < offset:
                ups.popleft()
        return list(itertools.islice(ups, max(1, min(limit, 100))))

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = params.get("offset")
        limit = params.get("limit") if isinstance(params.get("limit"), int) else 100
        timeout = params.get("timeout") if isinstance(params.get("timeout"), (int, float)) else 0
        result = self._pending(offset, limit)
        if not result and timeout > 0 and not self._stopping.is_set():
            event = self._update_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(float(timeout), self.long_poll_cap))
            result = self._pending(offset, limit)
        return result

    async def _hold(self, seconds: float) -> None:
        if seconds <= 0 or self._stopping.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _delay(self) -> float:
        """The rest of the round trip after arrival: latency ± jitter, never negative."""
        delay = self.latency
        if self.jitter:
            delay += self._rng.uniform(-self.jitter, self.jitter)
        return max(0.0, delay)

    def _uplink(self) -> float:
        return self._rng.uniform(0.0, self.uplink_jitter) if self.uplink_jitter else 0.0


class _BaseHandler(tornado.web.RequestHandler):
    api: FakeBotAPI

    def initialize(self, api: FakeBotAPI) -> None:
        self.api = api

    def compute_etag(self) -> None:
        return None

    def _reply(self, status: int, body: Any) -> None:
        if self.request.connection is None or getattr(self.request.connection, "stream", None) is None:
            return
        if self.request.connection.stream.closed():  # type: ignore[attr-defined]
            return
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body, ensure_ascii=False))

    def _params(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        params: dict[str, Any] = {}
        for source in (self.request.query_arguments, self.request.body_arguments):
            for key, values in source.items():
                if values:
                    params[key] = _decode_value(key, values[-1].decode("utf-8", "replace"))
        ctype = self.request.headers.get("Content-Type", "")
        if ctype.startswith("application/json") and self.request.body:
            try:
                body = json.loads(self.request.body)
            except ValueError:
                body = None
            if isinstance(body, dict):
                params.update(body)
        files: dict[str, dict[str, Any]] = {}
        for key, items in self.request.files.items():
            if items:
                f = items[-1]
                files[key] = {"filename": f.filename, "size": len(f.body), "content_type": f.content_type}
                params[key] = {"file": f.filename, "size": len(f.body)}
        return params, files


class _BotApiHandler(_BaseHandler):
    async def post(self, _token: str, method: str) -> None:
        api = self.api
        params, files = self._params()
        uplink = api._uplink()
        if uplink:
            await api._hold(uplink)
        status, body, hold = await api._handle(method, params, files)
        delay = api._delay()
        if hold or delay:
            await api._hold(hold + delay)
        self._reply(status, body)

    get = post


class _ControlHandler(_BaseHandler):
    async def get(self, action: str) -> None:
        if action == "stats":
            self._reply(200, self.api.stats())
        else:
            self._reply(404, {"ok": False, "description": "unknown control action"})

    async def post(self, action: str) -> None:
        api = self.api
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            self._reply(400, {"ok": False, "description": "body must be JSON"})
            return
        try:
            if action == "reset":
                api.reset(faults=bool(body.get("faults", True)))
                result: Any = True
            elif action == "updates":
                result = api.push_update(body)
            elif action == "block":
                api.block_chats(body.get("chat_ids", []))
                result = True
            elif action == "fail_next":
                api.fail_next(body["chat_id"], str(body["kind"]))
                result = True
            else:
                self._reply(404, {"ok": False, "description": "unknown control action"})
                return
        except (KeyError, ValueError, TypeError) as exc:
            self._reply(400, {"ok": False, "description": str(exc)})
            return
        self._reply(200, {"ok": True, "result": result})


class FakeBotAPIThread:
    """A ``FakeBotAPI`` serving from its own thread and event loop.

    Arrival times are then recorded by a loop that does nothing else: in the benchmark's own loop
    (which also watches the run and queries the database) a stall of that loop would record
    requests that came in during it all at once, as a burst the bot never sent. Attributes and
    queries are read through to the server object (lists grow only by appends); ``push_text``
    runs in the server's loop.
    """

    def __init__(self, *, realtime: bool = True, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="fake-botapi", daemon=True)
        self.realtime = realtime
        self.priority = "normal"
        self.api: FakeBotAPI | None = None

    def _serve(self) -> None:
        if self.realtime:
            # Telegram's servers do not share our CPUs. On a loaded machine a server thread at
            # normal priority is descheduled for 100-200 ms at times and then records every
            # request that came in meanwhile as arriving at once: a burst the bot never sent.
            # The thread that stamps arrivals runs at real-time priority when allowed (it is
            # idle most of the time); the bot's own processes keep normal priority.
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))  # this thread only
                self.priority = "fifo"
            except (AttributeError, OSError):
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -10)
                    self.priority = "nice-10"
        self._loop.run_forever()

    async def _make_and_start(self) -> str:
        self.api = FakeBotAPI(**self._kwargs)
        return await self.api.start()

    async def start(self) -> str:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._make_and_start(), self._loop)
        return await asyncio.wrap_future(future)

    async def stop(self) -> None:
        if self.api is not None and self._thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self.api.stop(), self._loop)
            await asyncio.wrap_future(future)
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join, 5)
        if not self._thread.is_alive():
            self._loop.close()

    def push_text(self, chat_id: int, text: str, *, user_id: int | None = None) -> None:
        assert self.api is not None
        self._loop.call_soon_threadsafe(lambda: self.api.push_text(chat_id, text, user_id=user_id))

    def __getattr__(self, name: str) -> Any:
        api = self.__dict__.get("api")
        if api is None:
            raise AttributeError(name)
        return getattr(api, name)


async def _serve(args: argparse.Namespace) -> None:
    api = FakeBotAPI(
        rate=args.rate,
        scale=args.scale,
        scale_chat_limits=args.scale_chat_limits,
        retry_after=args.retry_after,
        latency=args.latency,
        jitter=args.jitter,
        uplink_jitter=args.uplink_jitter,
        port=args.port,
    )
    print(await api.start(), flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await api.stop()
    print(json.dumps(api.stats()), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API server (127.0.0.1 only).")
    parser.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    parser.add_argument("--rate", type=float, default=30, help="global sends per sliding second")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--scale-chat-limits", action="store_true")
    parser.add_argument("--retry-after", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.15, help="mean round trip, seconds")
    parser.add_argument("--jitter", type=float, default=0.10, help="round trip ± this, seconds")
    parser.add_argument("--uplink-jitter", type=float, default=0.0, help="arrival delayed by 0..this")
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
