"""The callback WeChat calls at ``/wechat`` on the HTTP host (interfaces.md).

    GET  /wechat?signature&timestamp&nonce&echostr     -> echostr when the signature is right, else 403
    POST /wechat?signature&timestamp&nonce[&encrypt_type=aes&msg_signature]   the message XML

Signatures are compared in constant time (``hmac.compare_digest``) before anything is parsed further;
in safe mode (WECHAT_AES_KEY set) ``msg_signature`` is checked too, the body decrypted by wechatpy (which
also checks the app id inside), and the answer encrypted; a plain body is then refused. A wrong
signature, a stale timestamp or a body that is not a message is refused and nothing happens.

WeChat waits 5 seconds, then retries. The work runs in a task: when it ends within `PASSIVE_BUDGET_S`
the first text is the passive answer (reply XML) and any further texts follow as customer-service
messages once the answer is out; otherwise the answer is "success" and every text follows as a
customer-service message when the work ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any

import xmltodict
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply

from bot.config import Settings
from bot.http.host import read_body
from bot.i18n import t
from wechat.channel import Received, WeChatChannel

logger = logging.getLogger(__name__)

PATH = "/wechat"
MAX_BODY_BYTES = 256 * 1024  # a message is a few hundred bytes
PASSIVE_BUDGET_S = 4.0  # WeChat gives up (and retries) after 5 s
TIMESTAMP_SKEW_S = 24 * 3600  # older callbacks are refused; newer retries are caught by the MsgId record


def signature(*parts: str) -> str:
    """WeChat's signature: sha1 of the sorted parts, joined."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _forbidden() -> Response:
    return PlainTextResponse("forbidden", status_code=403)


def wechat_routes(
    channel: WeChatChannel,
    settings: Settings,
    *,
    path: str = PATH,
    passive_budget_s: float = PASSIVE_BUDGET_S,
) -> list[Route]:
    """The GET handshake and the POST callback for one official account."""
    assert settings.wechat_token is not None and settings.wechat_app_id is not None
    token = settings.wechat_token.get_secret_value()
    crypto = (
        WeChatCrypto(token, settings.wechat_aes_key.get_secret_value(), settings.wechat_app_id)
        if settings.wechat_aes_key is not None
        else None
    )

    def signed(request: Request) -> bool:
        query = request.query_params
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not timestamp.isdecimal() or not nonce:
            return False
        return _same(query.get("signature"), signature(token, timestamp, nonce))

    async def handshake(request: Request) -> Response:
        if not signed(request):
            return _forbidden()
        return PlainTextResponse(request.query_params.get("echostr", ""))

    async def callback(request: Request) -> Response:
        query = request.query_params
        if not signed(request):
            return _forbidden()
        timestamp, nonce = query["timestamp"], query["nonce"]
        if abs(channel.clock.now().timestamp() - int(timestamp)) > TIMESTAMP_SKEW_S:
            return _forbidden()
        body = await read_body(request, MAX_BODY_BYTES)
        safe = query.get("encrypt_type", "raw").lower() == "aes"
        if safe != (crypto is not None):
            return _forbidden()  # a plain body in safe mode, or an encrypted one we cannot read
        xml: Any = body
        if crypto is not None:
            try:
                outer = xmltodict.parse(body)["xml"]
                encrypted = str(outer["Encrypt"])
            except Exception:
                return PlainTextResponse("not a message", status_code=400)
            if not _same(query.get("msg_signature"), signature(token, timestamp, nonce, encrypted)):
                return _forbidden()
            try:
                xml = crypto.decrypt_message({"Encrypt": encrypted}, query["msg_signature"], timestamp, nonce)
            except (InvalidSignatureException, InvalidAppIdException):
                return _forbidden()
            except Exception:
                return PlainTextResponse("not a message", status_code=400)
        try:
            message = parse_message(xml)
        except Exception:
            message = None
        if message is None or not getattr(message, "source", None):
            return PlainTextResponse("not a message", status_code=400)

        work = asyncio.ensure_future(channel.receive(message))
        try:
            done, _ = await asyncio.wait({work}, timeout=passive_budget_s)
        except asyncio.CancelledError:  # WeChat hung up (or the host stops): the texts follow as messages
            channel.later(message.source, work)
            raise
        if not done:
            channel.later(message.source, work)  # answered below; the texts follow when the work ends
            return PlainTextResponse("success")
        try:
            received = work.result()
        except Exception:
            logger.exception("wechat message failed")
            received = Received([t(None, "error.try_again")], message.source)
        if received is None or not received.texts:
            return PlainTextResponse("success")
        first, rest = received.texts[0], received.texts[1:]
        answer = TextReply(
            source=message.target,
            target=message.source,
            time=int(channel.clock.now().timestamp()),
            content=_cdata_safe(first),
        ).render()
        if crypto is not None:
            answer = crypto.encrypt_message(answer, nonce, timestamp)
        background = BackgroundTask(channel.send_texts, message.source, rest) if rest else None
        return Response(answer, media_type="application/xml", background=background)

    return [
        Route(path, handshake, methods=["GET"]),
        Route(path, callback, methods=["POST"]),
    ]


def _cdata_safe(text: str) -> str:
    """Text that cannot close the CDATA section it is put in (a person's own words may be echoed)."""
    return text.replace("]]>", "]]]]><![CDATA[>")
