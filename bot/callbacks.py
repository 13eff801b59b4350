"""One callback-data codec: a feature declares its button actions once, and the same declaration
builds the data, parses a press and gives the pattern a channel's router matches.

Button data is ``prefix:action[:field...]`` (Telegram allows 64 bytes). Fields are typed: ``Id`` is a
positive database id that fits a signed 32-bit INTEGER column (a larger or malformed number is a stale button,
never an OverflowError in the driver); ``Int`` a bounded small integer; ``Word`` a short token of
lower-case letters, digits and ``_-.``. A press that does not match any action decodes to ``None``:
the caller answers it as stale.

    DUES = Callbacks("dues")
    PAY = DUES.action("pay", Id)          # PAY.data(42) == "dues:pay:42"
    match DUES.decode(data):              # -> Press(action="pay", args=(42,)) | None
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Ids in buttons name rows of tables whose ids are INTEGER on PostgreSQL (32-bit): a larger number is
# no row of ours, so it decodes as a stale button instead of reaching the driver.
ID_MAX = 2**31 - 1
DATA_MAX_BYTES = 64
_WORD = re.compile(r"[a-z0-9_.\-]{1,24}")
_DIGITS = re.compile(r"-?\d{1,19}")


@dataclass(frozen=True)
class Field:
    """A typed field of button data: how to write it and how to read it back (None: not this type)."""

    name: str
    low: int = 0
    high: int = ID_MAX

    def write(self, value: Any) -> str:
        if self.name == "word":
            text = str(value)
            if not _WORD.fullmatch(text):
                raise ValueError(f"not a callback word: {text!r}")
            return text
        number = int(value)
        if not self.low <= number <= self.high:
            raise ValueError(f"{number} out of range {self.low}..{self.high}")
        return str(number)

    def read(self, text: str) -> Any:
        if self.name == "word":
            return text if _WORD.fullmatch(text) else None
        if not _DIGITS.fullmatch(text):
            return None
        number = int(text)
        return number if self.low <= number <= self.high else None


Id = Field("id", 1, ID_MAX)
Word = Field("word")


def Int(low: int, high: int) -> Field:
    return Field("int", low, high)


@dataclass(frozen=True)
class Press:
    """A decoded button press: the action's name and its typed fields."""

    action: str
    args: tuple[Any, ...]

    def __getitem__(self, index: int) -> Any:
        return self.args[index]


@dataclass(frozen=True)
class Action:
    """One kind of button of a feature: its name and the types of its fields."""

    prefix: str
    name: str
    fields: tuple[Field, ...]

    def data(self, *values: Any) -> str:
        if len(values) != len(self.fields):
            raise ValueError(f"{self.prefix}:{self.name} takes {len(self.fields)} fields")
        parts = [self.prefix, self.name, *(f.write(v) for f, v in zip(self.fields, values, strict=True))]
        encoded = ":".join(parts)
        if len(encoded.encode()) > DATA_MAX_BYTES:
            raise ValueError(f"callback data longer than {DATA_MAX_BYTES} bytes: {encoded!r}")
        return encoded

    def read(self, parts: list[str]) -> Press | None:
        if len(parts) != len(self.fields):
            return None
        values = []
        for field, text in zip(self.fields, parts, strict=True):
            value = field.read(text)
            if value is None:
                return None
            values.append(value)
        return Press(self.name, tuple(values))


class Callbacks:
    """The button actions of one feature, under one prefix."""

    def __init__(self, prefix: str) -> None:
        if not _WORD.fullmatch(prefix):
            raise ValueError(f"bad callback prefix {prefix!r}")
        self.prefix = prefix
        self.actions: dict[str, Action] = {}

    def action(self, name: str, *fields: Field) -> Action:
        if name in self.actions:
            raise ValueError(f"{self.prefix}:{name} declared twice")
        declared = Action(self.prefix, name, tuple(fields))
        self.actions[name] = declared
        return declared

    @property
    def pattern(self) -> str:
        """The regular expression a router uses to send this feature's presses here."""
        return rf"^{re.escape(self.prefix)}:"

    def owns(self, data: str | None) -> bool:
        return bool(data) and data.startswith(self.prefix + ":")

    def decode(self, data: str | None) -> Press | None:
        """The press this data stands for, or None when it is no button of this feature (stale)."""
        if not data or len(data.encode()) > DATA_MAX_BYTES:
            return None
        prefix, _, rest = data.partition(":")
        if prefix != self.prefix or not rest:
            return None
        name, *parts = rest.split(":")
        action = self.actions.get(name)
        return action.read(parts) if action is not None else None
