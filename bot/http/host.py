"""The one HTTP host: Starlette routes served by uvicorn inside the bot's own event loop.

Every mode of `branchbot run` starts it; features add their routes before `start()`. It installs no
signal handlers (the runner owns SIGINT/SIGTERM), caps request bodies before they are read, and answers
bad requests with a 4xx and a short text, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
STOP_TIMEOUT_S = 1.5


class BodyTooLarge(Exception):
    """The request body passed the host's cap while it was being read."""


class BodyLimit:
    """ASGI middleware: refuse a body over `max_bytes` by its Content-Length, and cap it while streaming.

    The streaming cap covers chunked requests and a Content-Length that lies; either way the client
    gets 413 and the application never holds more than `max_bytes` of it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and (declared < 0 or declared > self.max_bytes):
            await _plain(413, "request body too large")(scope, receive, send)
            return
        if declared is None and _has_header(scope, b"content-length"):
            await _plain(400, "bad Content-Length")(scope, receive, send)
            return
        seen = 0
        started = False

        async def capped_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, capped_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _plain(413, "request body too large")(scope, receive, send)
        except Exception:
            # Starlette re-raises after its 500 handler has answered and logged; only answer if nobody did.
            if not started:
                logger.exception("HTTP %s %s failed", scope.get("method"), scope.get("path"))
                await _plain(500, "internal error")(scope, receive, send)


def _has_header(scope: Scope, name: bytes) -> bool:
    return any(key.lower() == name for key, _ in scope.get("headers", []))


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _plain(status: int, text: str) -> Response:
    return PlainTextResponse(text, status_code=status)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _plain(exc.status_code, exc.detail or "error")


async def _body_too_large(request: Request, exc: Exception) -> Response:
    return _plain(413, "request body too large")


async def _server_error(request: Request, exc: Exception) -> Response:
    # Logged without the request body or query (they may carry personal data); the client sees no traceback.
    logger.error("HTTP %s %s failed: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
    return _plain(500, "internal error")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `max_bytes` (a route's own, tighter cap)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdecimal() and int(declared) > max_bytes:
        raise HTTPException(413, "request body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPException(413, "request body too large")
        chunks.append(chunk)
    return b"".join(chunks)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the runner decides when the process stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpHost:
    """Serve the routes added before `start()` on HTTP_LISTEN:HTTP_PORT until `stop()`."""

    def __init__(self, settings: Any, *, max_body_bytes: int | None = None) -> None:
        self.listen: str = getattr(settings, "http_listen", "127.0.0.1")
        self.requested_port: int = int(getattr(settings, "http_port", 8080))
        self.max_body_bytes = max_body_bytes or int(
            getattr(settings, "http_max_body_bytes", DEFAULT_MAX_BODY_BYTES)
        )
        self._routes: list[BaseRoute] = []
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self._port: int | None = None

    def add_routes(self, routes: list[BaseRoute]) -> None:
        if self._server is not None:
            raise RuntimeError("add routes before HttpHost.start()")
        self._routes.extend(routes)

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("HttpHost is not listening")
        return self._port

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def build_app(self) -> ASGIApp:
        app = Starlette(
            routes=list(self._routes),
            exception_handlers={
                HTTPException: _http_exception,
                BodyTooLarge: _body_too_large,
                Exception: _server_error,
            },
        )
        return BodyLimit(app, self.max_body_bytes)

    async def start(self) -> None:
        """Bind (an OSError here names the address), then serve in a task; returns once listening."""
        if self._server is not None:
            raise RuntimeError("HttpHost already started")
        family = socket.AF_INET6 if ":" in self.listen else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.listen, self.requested_port))
        except OSError as exc:
            sock.close()
            raise OSError(
                exc.errno, f"cannot listen on {self.listen}:{self.requested_port}: {exc.strerror}"
            ) from None
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.build_app(),
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=1,
            timeout_keep_alive=5,
            limit_concurrency=200,
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server._serve(sockets=[sock]), name="http-host")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError("the HTTP host stopped while starting")
            await asyncio.sleep(0.01)
        logger.info("HTTP host listening on %s:%s", self.listen, self._port)

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish for about a second, then cut the rest."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT_S)
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        except Exception:
            logger.exception("the HTTP host failed while stopping")
        finally:
            if self._socket is not None:
                self._socket.close()
            self._server = None
            self._task = None
            self._socket = None
