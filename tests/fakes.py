"""A fake Bot API: a `BaseRequest` subclass that answers like Telegram and records every call."""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

BOT_USER = {
    "id": 777000111,
    "is_bot": True,
    "first_name": "BranchBot",
    "username": "branch_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
SEND_METHODS = {"sendMessage", "sendPhoto", "sendDocument", "copyMessage"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str | None, bytes]] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[list[dict[str, Any]]]:
        markup = self.params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        return (markup or {}).get("inline_keyboard", [])

    def button_data(self) -> list[str]:
        return [b.get("callback_data") for row in self.buttons for b in row if b.get("callback_data")]

    def button(self, text: str) -> str:
        """The callback data of the button whose label contains ``text``."""
        for row in self.buttons:
            for b in row:
                if text in b.get("text", "") and b.get("callback_data"):
                    return b["callback_data"]
        raise AssertionError(f"no button {text!r} in {[b.get('text') for row in self.buttons for b in row]}")


class FakeBotAPI(BaseRequest):
    """Answers the Bot API methods the bot uses with well-formed results, records each call,
    and fails on demand (blocked user, 429, bad request, migrated group, timeouts)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._message_ids = itertools.count(1000)
        self._failures: dict[tuple[str | None, int | None], deque[str]] = defaultdict(deque)
        self.blocked: set[int] = set()
        # Files people sent, by file id, served by getFile and the file download URL; a file id that is
        # not here gets made-up bytes (a JPEG header, or a PDF one for ids starting "doc").
        self.files: dict[str, bytes] = {}
        self.too_big: set[str] = set()  # file ids getFile refuses ("file is too big", as over 20 MB)
        self._uploads = itertools.count(1)

    # -- BaseRequest ------------------------------------------------------------------------
    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    @property
    def read_timeout(self) -> float:
        return 5.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:  # a file download (File.download_as_bytearray)
            self.calls.append(Call("downloadFile", {"file_path": url.partition("/files/")[2]}))
            return 200, self.file_content(url.partition("/files/")[2])
        api_method = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        files: dict[str, tuple[str | None, bytes]] = {}
        if request_data is not None and request_data.contains_files:
            for name, value in request_data.multipart_data.items():
                if isinstance(value, tuple):
                    files[name] = (value[0], value[1] if isinstance(value[1], bytes) else b"")
        call = Call(api_method, params, files)
        chat_id = call.chat_id
        if api_method == "getFile" and params.get("file_id") in self.too_big:
            return self._fail("bad_request:file is too big", call)
        failure = self._next_failure(api_method, chat_id)
        if failure is None and chat_id in self.blocked and api_method in SEND_METHODS:
            failure = "forbidden"
        if failure is not None:
            return self._fail(failure, call)
        self.calls.append(call)
        return 200, json.dumps({"ok": True, "result": self._result(api_method, params)}).encode()

    # -- failures ---------------------------------------------------------------------------
    def fail(
        self, failure: str, *, method: str | None = "sendMessage", chat_id: int | None = None, times: int = 1
    ) -> None:
        """Make the next ``times`` matching calls fail: forbidden, deactivated, retry_after:N,
        bad_request, migrate:NEW_ID, read_timeout (delivered, then timed out), pool_timeout
        (never sent), network."""
        self._failures[(method, chat_id)].extend([failure] * times)

    def _next_failure(self, method: str, chat_id: int | None) -> str | None:
        for key in ((method, chat_id), (method, None), (None, chat_id), (None, None)):
            queue = self._failures.get(key)
            if queue:
                return queue.popleft()
        return None

    def _fail(self, failure: str, call: Call) -> tuple[int, bytes]:
        kind, _, arg = failure.partition(":")
        if kind == "read_timeout":
            self.calls.append(call)  # it reached Telegram; only the answer was lost
            raise TimedOut("Timed out")
        if kind == "pool_timeout":
            raise TimedOut("Pool timeout: All connections in the connection pool are occupied.")
        if kind == "network":
            raise NetworkError("httpx.ConnectError: connection reset")
        if kind == "forbidden":
            return 403, _error(403, "Forbidden: bot was blocked by the user")
        if kind == "deactivated":
            return 403, _error(403, "Forbidden: user is deactivated")
        if kind == "retry_after":
            return 429, _error(429, f"Too Many Requests: retry after {arg or 1}", retry_after=int(arg or 1))
        if kind == "migrate":
            return 400, _error(
                400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=int(arg)
            )
        if kind == "bad_request":
            return 400, _error(400, f"Bad Request: {arg or 'chat not found'}")
        raise ValueError(f"unknown failure {failure!r}")

    # -- answers ----------------------------------------------------------------------------
    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = int(params.get("chat_id", 0))
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup", "title": None},
            "from": BOT_USER,
        }
        if chat_id < 0:
            message["chat"]["title"] = "group"
        else:
            message["chat"].pop("title")
        if "reply_markup" in params:
            markup = params["reply_markup"]
            markup = json.loads(markup) if isinstance(markup, str) else markup
            # Telegram returns only an inline keyboard with the message, never a reply keyboard.
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                message["reply_markup"] = markup
        message.update(extra)
        return message

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "sendMessage":
            return self._message(params, text=params.get("text", ""))
        if method == "sendPhoto":
            file_id = self._sent_file_id(params.get("photo"), "photo")
            photo = [{"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 90, "height": 90}]
            return self._message(params, photo=photo, caption=params.get("caption"))
        if method == "sendDocument":
            file_id = self._sent_file_id(params.get("document"), "doc")
            document = {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_name": "file"}
            return self._message(params, document=document, caption=params.get("caption"))
        if method in ("editMessageText", "editMessageCaption", "editMessageReplyMarkup"):
            if "inline_message_id" in params:
                return True
            message = self._message(params, text=params.get("text", ""))
            message["message_id"] = int(params.get("message_id", message["message_id"]))
            return message
        if method == "getUpdates":
            return []
        if method == "getFile":
            file_id = str(params.get("file_id", "file"))
            size = len(self.file_content(file_id))
            return {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_size": size,
                "file_path": f"files/{file_id}",
            }
        return True

    def file_content(self, file_id: str) -> bytes:
        if file_id in self.files:
            return self.files[file_id]
        header = b"%PDF-1.4 " if file_id.startswith("doc") else b"\xff\xd8\xff\xe0 "
        return header + file_id.encode()

    def _sent_file_id(self, value: Any, kind: str) -> str:
        """A file sent by its id keeps it; an uploaded one (multipart) gets a new one."""
        if isinstance(value, str) and value and not value.startswith("attach://"):
            return value
        return f"uploaded-{kind}-{next(self._uploads)}"

    # -- reading what was sent ---------------------------------------------------------------
    def sent(self, chat_id: int | None = None, method: str | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if (method is None or c.method == method)
            and (chat_id is None or c.chat_id == chat_id)
            and c.method
            not in ("getMe", "setMyCommands", "answerCallbackQuery", "getUpdates", "getFile", "downloadFile")
        ]

    def texts(self, chat_id: int | None = None) -> list[str]:
        return [c.text for c in self.sent(chat_id)]

    def last(self, chat_id: int | None = None) -> Call:
        calls = self.sent(chat_id)
        if not calls:
            raise AssertionError(f"nothing was sent to {chat_id}")
        return calls[-1]

    def clear(self) -> None:
        self.calls.clear()


def _error(code: int, description: str, **parameters: Any) -> bytes:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return json.dumps(body).encode()
