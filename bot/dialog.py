"""The conversation core's one result vocabulary: what a flow answers to one inbound event.

A flow (a service function) takes plain values and returns a `Reply`: screens of text, button rows and
optional media, with an "update the previous screen" hint (`Reply.edit`) that a channel may honour
(Telegram edits the pressed message) or degrade (a new message). Nothing here knows a channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.i18n import t


@dataclass(frozen=True)
class Button:
    """A channel-neutral button: a callback (``data``) or a link (``url``)."""

    text: str
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Screen:
    """One message: text, buttons, and optionally a request for the phone contact or a file."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    contact: tuple[str, str, str] | None = None  # labels: share my number, back, cancel
    remove_keyboard: bool = False  # take away the contact keyboard shown earlier
    document: tuple[str, bytes] | None = None  # (file name, content) sent as a file
    photo: bytes | None = None  # a picture (PNG) sent with the text as its caption
    media: Media | None = None  # a photo or file the channel holds (by its reference), text as caption


@dataclass(frozen=True)
class Reply:
    """The answer to one input: screens to send (or to update the pressed one into), or a short toast."""

    screens: tuple[Screen, ...] = ()
    toast: str | None = None
    alert: bool = False
    edit: bool = True

    @classmethod
    def say(cls, text: str, **kwargs: Any) -> Reply:
        return cls(screens=(Screen(text, **kwargs),))


# -- the one refusal family ---------------------------------------------------------------------------
def stale(language: str | None) -> Reply:
    """A button that no longer fits (old keyboard, another person's, forged, out of range)."""
    return Reply(toast=t(language, "error.stale_button"), alert=True)


def denied(language: str | None) -> Reply:
    return Reply(toast=t(language, "error.not_allowed"), alert=True)


def already_done(language: str | None) -> Reply:
    # A double tap on a slow phone is normal: a light toast, not a dialog to dismiss.
    return Reply(toast=t(language, "common.already_done"))


# -- what a flow receives -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Media:
    """A photo or file a person sent: its reference (``material:<id>`` once the project keeps it, see
    ``bot.services.materials``), its name and type."""

    kind: str  # "photo" | "document"
    ref: str
    filename: str | None = None
    mime_type: str | None = None
    size: int | None = None
    caption: str | None = None  # the text sent with it


@dataclass(frozen=True)
class Inbound:
    """One plain inbound event from any channel, already attributed to a person by the adapter.

    Exactly one of the content fields is set: ``command`` (with ``args``), ``text``, ``data`` (a
    button press), ``contact_phone`` (a shared phone contact; ``contact_is_own`` says whether the
    channel vouched that it is the sender's own), ``media``, or none (a sticker, location, voice ...).
    """

    command: str | None = None
    args: tuple[str, ...] = ()
    text: str | None = None
    data: str | None = None
    contact_phone: str | None = None
    contact_is_own: bool = False
    media: Media | None = None
    # A button press: the channel's id of the message the button is on (Telegram's message_id), so a
    # flow can have that message updated later through the outbox (a notice's progress). None elsewhere.
    message_id: int | None = None
