"""The web chat's HTTP side: the page, its static files, and the JSON API it uses (interfaces.md).

    GET  /api/people                      who can be picked on the page
    POST /api/send    {"as", "text"}      a message (or /command) from that person
    POST /api/press   {"as", "message_id", "data"}
    POST /api/upload  multipart as, file  a photo or document from that person
    GET  /api/messages?as=&after=N        the bot's messages to that person after row N
    GET  /api/files/{id}?as=              a document or chart shown to that person
    POST /api/clock   {"advance_minutes"} the demo clock moves on; due reminders fire

The API lets the caller act as anyone: it is mounted only by `branchbot demo`, never by `branchbot run`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.http.host import read_body
from web.channel import UPLOAD_MAX_BYTES, WebChannel, material_bytes

WHO = re.compile(r"[A-Za-z0-9_\-]{1,64}")
JSON_MAX_BYTES = 64 * 1024
ADVANCE_MAX_MINUTES = 60 * 24 * 62  # two months at a time


def static_dir() -> str:
    return str(resources.files("web") / "static")


async def _json(request: Request) -> dict[str, Any]:
    raw = await read_body(request, JSON_MAX_BYTES)
    try:
        value = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise HTTPException(400, "the body is not JSON") from None
    if not isinstance(value, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return value


def _who(value: Any) -> str:
    if not isinstance(value, str) or not WHO.fullmatch(value):
        raise HTTPException(400, "'as' must name a person (letters, digits, - and _)")
    return value


def _language(request: Request, body: dict[str, Any] | None = None) -> str | None:
    """The page may name a language; otherwise Chinese, whatever the browser says, until /language."""
    value = (body or {}).get("language")
    return str(value)[:16] if isinstance(value, str) and value else None


def web_routes(
    channel: WebChannel,
    *,
    people: Callable[[], Awaitable[list[dict[str, str]]]],
    advance: Callable[[int], Awaitable[str]] | None = None,
    settle: Callable[[], Awaitable[None]] | None = None,
) -> list[BaseRoute]:
    """The page and its API over one `WebChannel`. ``advance`` moves the demo clock (and runs what falls
    due); ``settle`` runs after each action (the demo delivers the outbox then, so answers to others show)."""

    async def after_action() -> None:
        if settle is not None:
            await settle()

    async def index(request: Request) -> Response:
        return FileResponse(f"{static_dir()}/index.html", media_type="text/html; charset=utf-8")

    async def list_people(request: Request) -> Response:
        return JSONResponse(await people())

    async def send(request: Request) -> Response:
        body = await _json(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise HTTPException(400, "'text' must be a non-empty string")
        outcome = await channel.send_text(_who(body.get("as")), text, _language(request, body))
        await after_action()
        return JSONResponse({"ok": True, "toast": outcome.toast})

    async def press(request: Request) -> Response:
        body = await _json(request)
        data, message_id = body.get("data"), body.get("message_id")
        if not isinstance(data, str) or not data:
            raise HTTPException(400, "'data' must be a button's data")
        if message_id is not None and (not isinstance(message_id, int) or not 0 < message_id < 2**62):
            raise HTTPException(400, "'message_id' must be a message's id")
        outcome = await channel.press(_who(body.get("as")), message_id, data, _language(request, body))
        await after_action()
        return JSONResponse({"ok": True, "toast": outcome.toast})

    async def upload(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdecimal() and int(declared) > UPLOAD_MAX_BYTES + 64 * 1024:
            raise HTTPException(413, "the file is larger than 20 MB")
        async with request.form(max_files=1, max_fields=4) as form:
            who = _who(form.get("as"))
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise HTTPException(400, "send the file as the 'file' field")
            content = await upload.read(UPLOAD_MAX_BYTES + 1)
            if len(content) > UPLOAD_MAX_BYTES:
                raise HTTPException(413, "the file is larger than 20 MB")
            if not content:
                raise HTTPException(400, "the file is empty")
            outcome = await channel.upload(who, (upload.filename or "")[:200] or None, content)
        await after_action()
        return JSONResponse({"ok": True, "toast": outcome.toast})

    async def messages(request: Request) -> Response:
        who = _who(request.query_params.get("as"))
        after = request.query_params.get("after", "0")
        if not after.isdecimal() or len(after) > 18:
            raise HTTPException(400, "'after' must be a message number")
        return JSONResponse(await channel.messages(who, int(after)))

    async def files(request: Request) -> Response:
        who = _who(request.query_params.get("as"))
        raw = request.path_params["material_id"]
        material = await channel.material(who, raw) if 0 < raw < 2**62 else None
        if material is None:
            raise HTTPException(404, "no such file")
        filename = material.filename or "file"
        disposition = "inline" if material.kind == "photo" else "attachment"
        return Response(
            material_bytes(material),
            media_type=material.mime_type or "application/octet-stream",
            headers={
                "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename)}",
                "Cache-Control": "private, max-age=3600",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def clock(request: Request) -> Response:
        if advance is None:
            raise HTTPException(404, "this server has no demo clock")
        body = await _json(request)
        minutes = body.get("advance_minutes")
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, int)
            or not 0 <= minutes <= ADVANCE_MAX_MINUTES
        ):
            raise HTTPException(
                400, f"'advance_minutes' must be a whole number from 0 to {ADVANCE_MAX_MINUTES}"
            )
        now = await advance(minutes)
        return JSONResponse({"now": now})

    return [
        Route("/", index),
        Route("/api/people", list_people),
        Route("/api/send", send, methods=["POST"]),
        Route("/api/press", press, methods=["POST"]),
        Route("/api/upload", upload, methods=["POST"]),
        Route("/api/messages", messages),
        Route("/api/files/{material_id:int}", files),
        Route("/api/clock", clock, methods=["POST"]),
        Mount("/static", StaticFiles(directory=static_dir()), name="static"),
    ]
