"""Checks for free text typed by users (names, short answers) and the minimum age rule."""

from __future__ import annotations

import unicodedata
from datetime import date

from bot.rules.errors import InputError

NAME_MAX_LEN = 40
ADULT_AGE = 18


def _has_control(text: str, keep: str = "") -> bool:
    # Category C covers control, format (zero-width, bidi overrides), surrogate, private-use and
    # unassigned code points: none belong in a name, and bidi overrides can disguise one on screen.
    return any(unicodedata.category(ch).startswith("C") and ch not in keep for ch in text)


def clean_name(text: str) -> str:
    """A person's name, trimmed and with inner whitespace collapsed; 1-40 characters, at least one letter.

    Any script's letters count (Han characters are letters too), and "·" is allowed because many
    minority and transliterated names use it.
    """
    if not isinstance(text, str):
        raise InputError("empty")
    # split() also breaks on the ideographic space U+3000 that Chinese keyboards insert.
    name = " ".join(text.split())
    if not name:
        raise InputError("empty")
    if _has_control(name):
        raise InputError("control_chars")
    if len(name) > NAME_MAX_LEN:
        raise InputError("too_long")
    if not any(unicodedata.category(ch).startswith("L") for ch in name):
        raise InputError("no_letters")
    return name


def clean_short_text(text: str, max_len: int, *, multiline: bool = False) -> str:
    """Free text up to `max_len` characters, trimmed.

    Single-line text has all whitespace collapsed; with `multiline` (a reflection, a reason for leave) line
    breaks are kept but runs of blank lines are squeezed to one.
    """
    if max_len < 1:
        raise ValueError("max_len must be positive")
    if not isinstance(text, str):
        raise InputError("empty")
    if multiline:
        lines = [
            " ".join(line.split()) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        ]
        kept: list[str] = []
        for line in lines:
            if line or (kept and kept[-1]):
                kept.append(line)
        cleaned = "\n".join(kept).strip()
    else:
        cleaned = " ".join(text.split())
    if not cleaned:
        raise InputError("empty")
    if _has_control(cleaned, keep="\n" if multiline else ""):
        raise InputError("control_chars")
    if len(cleaned) > max_len:
        raise InputError("too_long")
    return cleaned


def age_on(birth: date, today: date) -> int:
    """Completed years on `today` (negative if `birth` is later)."""
    # Comparing (month, day) makes a 29 February birthday complete its year on 1 March in a common
    # year: nobody is counted as having reached an age before living the full years.
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def check_age_at_least(birth: date, today: date, years: int = ADULT_AGE) -> bool:
    """Whether someone born on `birth` is at least `years` old on `today` (18 to apply to join)."""
    return age_on(birth, today) >= years
