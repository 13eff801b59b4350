"""Message catalogues (gettext .po files read with Babel): Simplified Chinese first, English second.

Every user-facing text is a named entry (the msgid is a dotted key such as ``start.welcome``) with
named placeholders. Each feature keeps its own domain file in ``bot/locale/<lang>/LC_MESSAGES/``.
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LANGUAGE = "zh"
LANGUAGES = ("zh", "en")
_LOCALE_FOLDERS = {"zh": "zh_Hans", "en": "en"}


class MissingMessage(KeyError):
    """A key that is in no catalogue: a programming error, caught by the catalogue test."""


class Catalogue:
    """All messages of all domains, per language."""

    def __init__(self, locale_dir: Path = LOCALE_DIR) -> None:
        self._messages: dict[str, dict[str, str]] = {}
        for language in LANGUAGES:
            merged: dict[str, str] = {}
            for po_file in sorted((locale_dir / _LOCALE_FOLDERS[language] / "LC_MESSAGES").glob("*.po")):
                with po_file.open("rb") as handle:
                    catalog = read_po(handle, locale=_LOCALE_FOLDERS[language])
                for message in catalog:
                    if message.id and message.string:
                        if message.id in merged:
                            raise ValueError(f"{po_file.name}: duplicate message {message.id!r}")
                        merged[str(message.id)] = str(message.string)
            self._messages[language] = merged

    def keys(self, language: str = DEFAULT_LANGUAGE) -> set[str]:
        return set(self._messages[language])

    def raw(self, language: str, key: str) -> str:
        try:
            return self._messages[language][key]
        except KeyError:
            try:
                return self._messages[DEFAULT_LANGUAGE][key]
            except KeyError:
                raise MissingMessage(key) from None

    def text(self, language: str | None, key: str, /, **params: object) -> str:
        """The message ``key`` in ``language`` with its named placeholders filled in."""
        template = self.raw(language if language in self._messages else DEFAULT_LANGUAGE, key)
        return template.format_map(params) if params or "{" in template else template

    def has(self, key: str) -> bool:
        return key in self._messages[DEFAULT_LANGUAGE]


def placeholders(template: str) -> set[str]:
    """The named fields of a message template."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


@cache
def catalogue() -> Catalogue:
    return Catalogue()


def t(language: str | None, key: str, /, **params: object) -> str:
    return catalogue().text(language, key, **params)


def resolve_language(chosen: str | None, client_code: str | None) -> str:
    """The user's own choice, else their Telegram client's language, else Chinese."""
    if chosen in LANGUAGES:
        return chosen
    if client_code and client_code.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE
