"""The one HTTP host, through real HTTP on 127.0.0.1: routes, body caps, bad requests, a bounded stop."""

from __future__ import annotations

import asyncio
import signal
import socket
import time

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from bot.config import Settings
from bot.http.host import HttpHost, read_body


async def echo_size(request: Request) -> PlainTextResponse:
    body = await request.body()
    return PlainTextResponse(str(len(body)))


async def small(request: Request) -> PlainTextResponse:
    body = await read_body(request, 100)
    return PlainTextResponse(str(len(body)))


async def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("secret detail in an exception")


async def slow(request: Request) -> PlainTextResponse:
    await asyncio.sleep(30)
    return PlainTextResponse("late")


def make_host(**overrides) -> HttpHost:
    settings = Settings(http_listen="127.0.0.1", http_port=0, **overrides)
    host = HttpHost(settings, max_body_bytes=overrides.pop("max_body", 4096))
    host.add_routes(
        [
            Route("/echo", echo_size, methods=["POST"]),
            Route("/small", small, methods=["POST"]),
            Route("/boom", boom),
            Route("/slow", slow),
            Route("/json", lambda request: JSONResponse({"ok": True})),
        ]
    )
    return host


async def test_serves_routes_on_any_free_port_without_taking_the_signals() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    host = make_host()
    await host.start()
    try:
        assert host.port > 0
        assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{host.port}") as client:
            ok = await client.get("/json")
            missing = await client.get("/nowhere")
            wrong_method = await client.get("/echo")
        assert ok.status_code == 200 and ok.json() == {"ok": True}
        assert "server" not in ok.headers
        assert missing.status_code == 404
        assert wrong_method.status_code == 405
    finally:
        await host.stop()


async def test_body_cap_by_length_and_while_streaming() -> None:
    host = make_host()
    await host.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{host.port}") as client:
            fits = await client.post("/echo", content=b"x" * 4096)
            declared = await client.post("/echo", content=b"x" * 5000)

            async def chunks():
                for _ in range(10):
                    yield b"y" * 1000

            streamed = await client.post("/echo", content=chunks())  # chunked: no Content-Length
            route_cap = await client.post("/small", content=b"z" * 101)
            route_fits = await client.post("/small", content=b"z" * 100)
        assert (fits.status_code, fits.text) == (200, "4096")
        assert declared.status_code == 413
        assert streamed.status_code == 413
        assert route_cap.status_code == 413
        assert (route_fits.status_code, route_fits.text) == (200, "100")
    finally:
        await host.stop()


async def test_lying_or_malformed_content_length_is_a_4xx() -> None:
    host = make_host()
    await host.start()
    try:
        for header in (b"Content-Length: abc", b"Content-Length: -5", b"Content-Length: 99999999999"):
            reader, writer = await asyncio.open_connection("127.0.0.1", host.port)
            writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n")
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 5)
            writer.close()
            code = int(status.split()[1])
            assert 400 <= code < 500, (header, status)
        # Garbage that is not HTTP at all.
        reader, writer = await asyncio.open_connection("127.0.0.1", host.port)
        writer.write(b"\x16\x03\x01 not http\r\n\r\n")
        await writer.drain()
        status = await asyncio.wait_for(reader.read(200), 5)
        writer.close()
        assert status == b"" or b" 400 " in status
    finally:
        await host.stop()


async def test_a_failing_route_answers_500_without_a_traceback(caplog) -> None:
    host = make_host()
    await host.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{host.port}") as client:
            response = await client.get("/boom")
            after = await client.get("/json")
        assert response.status_code == 500
        assert "Traceback" not in response.text and "secret detail" not in response.text
        assert after.status_code == 200  # the host keeps serving
    finally:
        await host.stop()


async def test_stop_is_bounded_with_a_request_in_flight() -> None:
    host = make_host()
    await host.start()
    port = host.port
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
    pending = asyncio.create_task(client.get("/slow"))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await host.stop()
    assert time.monotonic() - started < 2.0
    try:
        cut = (await pending).status_code
    except httpx.HTTPError:
        cut = None
    assert cut in (None, 500)  # cut off, never answered as if it had finished
    await client.aclose()
    with socket.socket() as probe:  # the port is free again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


async def test_a_taken_port_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        host = HttpHost(Settings(http_listen="127.0.0.1", http_port=taken.getsockname()[1]))
        with pytest.raises(OSError, match=r"cannot listen on 127\.0\.0\.1"):
            await host.start()


def test_http_settings_and_the_older_webhook_names(monkeypatch) -> None:
    for name in ("HTTP_LISTEN", "HTTP_PORT", "WEBHOOK_LISTEN", "WEBHOOK_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert (Settings().http_listen, Settings().http_port) == ("127.0.0.1", 8080)
    monkeypatch.setenv("WEBHOOK_LISTEN", "0.0.0.0")
    monkeypatch.setenv("WEBHOOK_PORT", "8443")
    assert (Settings().http_listen, Settings().http_port) == ("0.0.0.0", 8443)  # still honoured
    monkeypatch.setenv("HTTP_PORT", "9000")
    assert Settings().http_port == 9000  # the new name wins
    from bot.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="HTTP_PORT"):
        load_settings(http_port=70000)
