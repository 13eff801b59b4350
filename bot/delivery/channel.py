"""The channel-adapter interface: how the sender hands one outbox payload to a messaging network.

The sender knows rows, rates and the error matrix; a channel knows one network's API. A channel
sends the payload written by ``bot.services.outbox.Outgoing.to_payload`` (text, buttons, an
optional photo or document by its media reference: ``material:<id>`` for a file the project
keeps), or edits an earlier message when the payload carries
``edit_message_id``. It returns the new message's id and raises ``DeliveryError`` for every failure
(translated into an ``ErrorKind``). It must not retry on its own, except for the rate limiter's
429 handling, which the budget coordinates. The Telegram adapter is ``bot.delivery.telegram``;
another network (WeChat, SMS, a console) is another class with the same two members.
"""

from __future__ import annotations

from typing import Any, Protocol

EDIT_KEY = "edit_message_id"


class Channel(Protocol):
    name: str

    async def send(self, chat_id: int, payload: dict[str, Any]) -> int | None:
        """Deliver one payload to one chat, right now (the caller already holds a rate slot)."""
        ...


def is_edit(payload: dict[str, Any]) -> bool:
    return payload.get(EDIT_KEY) is not None
