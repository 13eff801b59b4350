"""The channel-adapter interface: how the sender hands one outbox payload to a messaging network.

The sender knows rows, rates and the error matrix; an adapter knows one network's API. It declares:

* ``name``: the channel (``outbox.channel``) whose rows it sends;
* ``limits``: a ``bot.delivery.limits.ChannelLimits`` (overall rate, per-chat gap, group limit, whether
  it can edit a message it sent);
* ``send(address, payload, row=...)``: deliver the payload written by
  ``bot.services.outbox.Outgoing.to_payload`` (text, buttons, an optional photo or document by its
  media reference: ``material:<id>`` for a file the project keeps), or edit an earlier message when
  the payload carries ``edit_message_id``; it returns the new message's id. ``row`` is the claimed
  outbox row (id, source, kind, person) for adapters that need more than the payload;
* ``classify(exc)``: its error matrix, turning whatever its network raised into a ``DeliveryError``
  with a channel-neutral ``ErrorKind`` (``send`` may also raise ``DeliveryError`` itself).

An adapter must not retry on its own, except for the rate limiter's 429 handling, which the budget
coordinates. The adapters: ``bot.delivery.telegram``, ``wechat.delivery``, ``web.channel``.

Editing is a capability (``limits.can_edit``): the sender never hands an adapter that cannot edit a
payload with ``edit_message_id``. A progress edit (``progress``: a running count, followed by a final
report) is dropped, any other edit (a changed screen) goes as a new message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bot.delivery.errors import DeliveryError
    from bot.delivery.limits import ChannelLimits

EDIT_KEY = "edit_message_id"
PROGRESS_KEY = "progress"


class Channel(Protocol):
    name: str
    limits: ChannelLimits

    async def send(self, address: Any, payload: dict[str, Any], *, row: Any = None) -> int | None:
        """Deliver one payload to one address, right now (the caller already holds a rate slot)."""
        ...

    def classify(self, error: Exception) -> DeliveryError:
        """The error matrix: what a failure of this network means for the row."""
        ...


def is_edit(payload: dict[str, Any]) -> bool:
    return payload.get(EDIT_KEY) is not None


def is_progress(payload: dict[str, Any]) -> bool:
    """An edit that only brings a running count up to date (a notice's progress message)."""
    return bool(payload.get(PROGRESS_KEY))


def without_edit(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as a new message."""
    return {k: v for k, v in payload.items() if k not in (EDIT_KEY, PROGRESS_KEY)}
