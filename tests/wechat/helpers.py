"""WeChat's side of the callback, built in the tests as wechatpy's own tests do: message XML signed with
the callback token (and encrypted with the AES key in safe mode), posted to the real routes."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import httpx
import xmltodict
from wechatpy.crypto import WeChatCrypto

from bot.clock import FakeClock
from tests.wechat.fake_server import AES_KEY, APP_ID, CALLBACK_TOKEN, FakeWeChat
from wechat.callback import signature

ACCOUNT = "gh_0123456789ab"  # the official account's own id (ToUserName)


def openid(n: int) -> str:
    """A 28-character openid, as WeChat gives them."""
    return f"oWx{n:025d}"


def message_xml(sender: str, created: int, kind: str, **fields: Any) -> str:
    nodes = [
        f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>",
        f"<FromUserName><![CDATA[{sender}]]></FromUserName>",
        f"<CreateTime>{created}</CreateTime>",
        f"<MsgType><![CDATA[{kind}]]></MsgType>",
    ]
    for name, value in fields.items():
        nodes.append(
            f"<{name}>{value}</{name}>" if isinstance(value, int) else f"<{name}>{escape(value)}</{name}>"
        )
    return "<xml>" + "".join(nodes) + "</xml>"


@dataclass
class WeChatServer:
    """Posts to /wechat as WeChat's server does, and reads what the person's phone shows."""

    client: httpx.AsyncClient
    clock: FakeClock
    fake: FakeWeChat
    safe: bool = False
    token: str = CALLBACK_TOKEN
    app_id: str = APP_ID
    msgids: Any = field(default_factory=lambda: itertools.count(24_000_000_000_000_001))
    nonces: Any = field(default_factory=lambda: itertools.count(1))
    sent_seen: dict[str, int] = field(default_factory=dict)

    @property
    def crypto(self) -> WeChatCrypto:
        return WeChatCrypto(self.token, AES_KEY, self.app_id)

    def query(self, *, encrypted: str | None = None, bad: bool = False) -> dict[str, str]:
        timestamp, nonce = str(int(self.clock.now().timestamp())), f"nonce{next(self.nonces)}"
        sign = signature(self.token, timestamp, nonce)
        values = {"signature": sign if not bad else "0" * 40, "timestamp": timestamp, "nonce": nonce}
        values["openid"] = "ignored"
        if encrypted is not None:
            values["encrypt_type"] = "aes"
            msg_sign = signature(self.token, timestamp, nonce, encrypted)
            values["msg_signature"] = msg_sign if not bad else "0" * 40
        return values

    async def post(self, xml: str, *, bad: bool = False) -> httpx.Response:
        if not self.safe:
            return await self.client.post("/wechat?" + urlencode(self.query(bad=bad)), content=xml.encode())
        # Encrypt as WeChat does (wechatpy's encrypt_message makes the whole envelope); post its Encrypt.
        envelope = xmltodict.parse(self.crypto.encrypt_message(xml, "n", "1"))["xml"]
        encrypted = envelope["Encrypt"]
        body = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        )
        return await self.client.post(
            "/wechat?" + urlencode(self.query(encrypted=encrypted, bad=bad)), content=body.encode()
        )

    def passive_text(self, response: httpx.Response) -> str | None:
        """The text of a passive reply (decrypted in safe mode); None for "success"."""
        assert response.status_code == 200, response.text
        if response.text in ("success", ""):
            return None
        xml = response.text
        if self.safe:
            envelope = xmltodict.parse(xml)["xml"]
            xml = self.crypto.decrypt_message(
                xml, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
            )
        reply = xmltodict.parse(xml)["xml"]
        assert reply["MsgType"] == "text" and reply["ToUserName"]
        return str(reply["Content"])

    def new_sends(self, who: str) -> list[str]:
        texts = self.fake.texts_to(who)
        seen = self.sent_seen.get(who, 0)
        self.sent_seen[who] = len(texts)
        return texts[seen:]

    async def phone_shows(self, who: str, response: httpx.Response) -> list[str]:
        """Everything the person's phone shows after one post: the passive reply, then the rest."""
        first = self.passive_text(response)
        return ([first] if first else []) + self.new_sends(who)

    # -- what a person does ---------------------------------------------------------------------------------
    def text_xml(self, who: str, content: str, msgid: int | None = None) -> str:
        msgid = msgid if msgid is not None else next(self.msgids)
        return message_xml(who, self.created(), "text", Content=content, MsgId=msgid)

    def event_xml(self, who: str, event: str, key: str | None = None, **extra: Any) -> str:
        fields: dict[str, Any] = {"Event": event}
        if key is not None:
            fields["EventKey"] = key
        fields.update(extra)
        return message_xml(who, self.created(), "event", **fields)

    def image_xml(self, who: str, media_id: str) -> str:
        return message_xml(
            who,
            self.created(),
            "image",
            PicUrl="http://mmbiz.qpic.cn/x",
            MediaId=media_id,
            MsgId=next(self.msgids),
        )

    def created(self) -> int:
        return int(self.clock.now().timestamp())

    async def say(self, who: str, content: str) -> list[str]:
        self.clock.advance(seconds=1)
        return await self.phone_shows(who, await self.post(self.text_xml(who, content)))

    async def event(self, who: str, event: str, key: str | None = None) -> list[str]:
        self.clock.advance(seconds=1)
        return await self.phone_shows(who, await self.post(self.event_xml(who, event, key)))
