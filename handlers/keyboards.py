"""Turn the core's channel-neutral buttons into Telegram inline keyboards."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.dialog import Button


def inline_keyboard(rows: Iterable[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    keyboard = [
        [
            InlineKeyboardButton(b.text, url=b.url)
            if b.url
            else InlineKeyboardButton(b.text, callback_data=b.data)
            for b in row
        ]
        for row in rows
    ]
    keyboard = [row for row in keyboard if row]
    return InlineKeyboardMarkup(keyboard) if keyboard else None
