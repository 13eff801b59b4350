"""Encryption at rest: Fernet-encrypted column types and a keyed blind index for look-ups."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class KeyError_(Exception):
    """The encryption key is missing or malformed."""


class Keyring:
    """The Fernet keys in use: the first encrypts, all decrypt; each also derives a blind-index key."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise KeyError_("ENCRYPTION_KEY: no key given")
        try:
            self._fernets = [Fernet(k.strip().encode()) for k in keys]
        except (ValueError, TypeError) as exc:
            raise KeyError_(
                "ENCRYPTION_KEY: each key must be a Fernet key (make one with `branchbot keys new`)"
            ) from exc
        self.multi = MultiFernet(self._fernets)
        # The index key is derived, not the encryption key itself, so one leak does not give the other.
        self._index_keys = [
            hmac.new(k.strip().encode(), b"branchbot-blind-index-v1", hashlib.sha256).digest() for k in keys
        ]
        self._raw = [k.strip().encode() for k in keys]

    def derived_keys(self, purpose: str) -> list[bytes]:
        """A signing key per configured key for ``purpose`` (e.g. signed page links): the first signs, all
        verify, so links made before a key rotation keep working while the old key is still listed."""
        label = f"branchbot-derived-v1:{purpose}".encode()
        return [hmac.new(raw, label, hashlib.sha256).digest() for raw in self._raw]

    @classmethod
    def from_setting(cls, value: str) -> Keyring:
        return cls([k for k in value.split(",") if k.strip()])

    def encrypt(self, text: str) -> str:
        return self.multi.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self.multi.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise KeyError_("a stored value cannot be decrypted with the configured keys") from exc

    def rotate(self, token: str) -> str:
        return self.multi.rotate(token.encode("ascii")).decode("ascii")

    def blind_index(self, normalized: str) -> str:
        """The primary key's index of a normalised value (phone in E.164)."""
        return hmac.new(self._index_keys[0], normalized.encode("utf-8"), hashlib.sha256).hexdigest()

    def blind_indexes(self, normalized: str) -> list[str]:
        """The value's index under every key, so look-ups still work in the middle of a rotation."""
        return [hmac.new(k, normalized.encode("utf-8"), hashlib.sha256).hexdigest() for k in self._index_keys]


_keyring: Keyring | None = None


def configure(keyring: Keyring) -> None:
    global _keyring
    _keyring = keyring


def keyring() -> Keyring:
    if _keyring is None:
        raise KeyError_("encryption is not configured (storage.crypto.configure was not called)")
    return _keyring


def load_or_create_key_file(path: Path) -> str:
    """The embedded default: a key kept beside the SQLite file, created with owner-only rights."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


class EncryptedString(TypeDecorator[str]):
    """A text column stored as a Fernet token; reads give back the plain text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring().decrypt(value)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON document stored as one Fernet token (drafts and outgoing texts that name people)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring().encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(keyring().decrypt(value))
