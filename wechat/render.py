"""Screens as WeChat text: no inline buttons, so every button becomes a numbered choice.

``render`` gives the text of a screen with its choices appended ("回复 1 参加 / 2 请假", one per line when
they are long) and the list of what each number means: choice i is ``choices[i-1]``, a button's data.
Link buttons become a link line (not numbered). On a screen that asks for the phone contact (Telegram's
"share my number" keyboard) the person types the number; its back and cancel labels become choices that
send the label as text (``TEXT_CHOICE`` + label), as a Telegram reply keyboard does.

The choices of the last screen sent to an account are kept in SQL (`remember` / `recall`), so a reply
"1" (also "１", " 1 ") means that button's data.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialog import Button, Screen
from bot.i18n import t
from storage.dialect import insert_ignore_stmt
from storage.models import WeChatChoice

TEXT_CHOICE = "="  # a choice that sends its label as typed text (never a button-data prefix)
INLINE_MAX = 40  # choices longer than this together go on several lines
SHORT_ITEM = 8  # choices up to this long share a line with others
MAX_CHOICES = 99


def render(screen: Screen, *, language: str, start: int = 1) -> tuple[str, list[str | None]]:
    """The screen's text with numbered choices, and the data of choice i at index i-1.

    ``start`` numbers the choices on from an earlier screen of the same reply (choices of several
    screens sent together are numbered in one run, so every number means one thing).
    """
    offset = start - 1
    choices: list[str | None] = []
    labels: list[str] = []
    links: list[str] = []
    for button in _buttons(screen):
        if button.url and not button.data:
            links.append(t(language, "text.choice.link", label=button.text, url=button.url))
            continue
        if offset + len(choices) >= MAX_CHOICES:
            break
        choices.append(button.data)
        labels.append(_item(language, offset + len(choices), button.text))
    if screen.contact is not None:
        _share, back, cancel = screen.contact
        for label in (back, cancel):
            choices.append(TEXT_CHOICE + label)
            labels.append(_item(language, offset + len(choices), label))
    parts = [screen.text] if screen.text else []
    if screen.contact is not None:  # the core's text may point at Telegram's share-number keyboard
        parts.append(t(language, "text.choice.type_phone"))
    if links:
        parts.append("\n".join(links))
    if labels:
        inline = t(language, "text.choice.separator").join(labels)
        if len(inline) <= INLINE_MAX and "\n" not in inline:
            parts.append(t(language, "text.choice.reply", choices=inline))
        else:
            parts.append(t(language, "text.choice.reply_lines") + "\n" + "\n".join(_lines(labels, language)))
    return "\n\n".join(parts), choices


def _item(language: str, number: int, label: str) -> str:
    # A choice whose label is its own number (a day of the month) is shown once: "7", not "7 7".
    if label.strip() == str(number):
        return str(number)
    return t(language, "text.choice.item", number=number, label=label)


def _lines(labels: list[str], language: str) -> list[str]:
    """Many short choices (years, months, days) share lines; a long one has a line of its own."""
    separator = t(language, "text.choice.separator")
    lines: list[str] = []
    for label in labels:
        if lines and len(label) <= SHORT_ITEM and len(lines[-1]) + len(separator) + len(label) <= INLINE_MAX:
            if all(len(part) <= SHORT_ITEM for part in lines[-1].split(separator)):
                lines[-1] += separator + label
                continue
        lines.append(label)
    return lines


def _buttons(screen: Screen) -> list[Button]:
    return [button for row in screen.buttons for button in row]


def choice_number(text: str) -> int | None:
    """The number a reply names ("1", "１", " 12 "), or None when it is not just a number."""
    stripped = unicodedata.normalize("NFKC", text).strip()
    if not stripped.isdecimal() or len(stripped) > 3:
        return None
    return int(stripped)


async def remember(
    session: AsyncSession, account_id: int, choices: Sequence[str | None], now: datetime
) -> None:
    """Keep the choices of the screen just sent to this account (none: forget the older ones).

    A screen without choices replaces them too: a "1" after it would otherwise answer an older screen.
    """
    await session.execute(delete(WeChatChoice).where(WeChatChoice.account_id == account_id))
    if choices:
        await session.execute(
            insert_ignore_stmt(session, WeChatChoice, ["account_id"]).values(
                account_id=account_id, choices=list(choices), updated_at=now
            )
        )


async def recall(session: AsyncSession, account_id: int, number: int) -> str | None:
    """What choice ``number`` of the last screen means, or None (no such choice)."""
    row = await session.get(WeChatChoice, account_id, populate_existing=True)
    if row is None or not 1 <= number <= len(row.choices):
        return None
    value = row.choices[number - 1]
    return str(value) if value else None


TEXT_MAX_BYTES = 2048  # a customer-service or passive text message


def split_text(text: str, limit: int = TEXT_MAX_BYTES) -> list[str]:
    """``text`` in parts of at most ``limit`` UTF-8 bytes, cut at line ends where possible."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode("utf-8")) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        current = ""
        while len(line.encode("utf-8")) > limit:  # one line longer than a message: cut by characters
            cut = len(line.encode("utf-8")[:limit].decode("utf-8", errors="ignore"))
            parts.append(line[:cut])
            line = line[cut:]
        current = line
    if current or not parts:
        parts.append(current)
    return parts
