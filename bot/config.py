"""Typed settings, read once from the environment and an optional `.env` file."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/branchbot.sqlite3"
TELEGRAM_BOT_API = "https://api.telegram.org/bot"
# Telegram allows about 30 messages/s overall; staying below leaves room for replies and clock skew.
MAX_GLOBAL_RATE = 30.0
WECHAT_API = "https://api.weixin.qq.com"
WECHAT_AES_KEY_LENGTH = 43


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line naming the variable."""


class Settings(BaseSettings):
    """Everything the bot reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = None
    database_url: str = DEFAULT_DATABASE_URL
    bot_api_base_url: str = TELEGRAM_BOT_API
    timezone: str = "Asia/Shanghai"
    encryption_key: SecretStr | None = None
    data_dir: Path = DEFAULT_DATA_DIR
    admin_chat_id: int | None = None
    bot_username: str | None = None

    # The one HTTP host (health, metrics, the webhook, web pages); port 0 takes any free port.
    http_listen: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    http_max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    # Older names of HTTP_LISTEN / HTTP_PORT, still honoured when the new ones are not set.
    webhook_listen: str | None = None
    webhook_port: int | None = Field(default=None, ge=0, le=65535)

    global_rate: float = Field(default=25.0, gt=0, le=MAX_GLOBAL_RATE)
    quiet_hours_start: time | None = time(22, 0)
    quiet_hours_end: time | None = time(7, 0)
    # Retention (the reminder tick prunes once a day): handled update ids, the text of finished outbox
    # rows (status and times stay for the reports), and reminder occurrences no query can select again.
    retention_updates_days: int = Field(default=7, ge=1)
    retention_outbox_text_days: int = Field(default=30, ge=1)
    retention_occurrence_days: int = Field(default=90, ge=1)
    log_level: str = "INFO"
    log_format: str = "text"

    # A second messaging channel (an official account), enabled when its app id, secret and token are set.
    wechat_app_id: str | None = None
    wechat_app_secret: SecretStr | None = None
    wechat_token: SecretStr | None = None  # the callback token (signatures)
    wechat_aes_key: SecretStr | None = None  # EncodingAESKey, 43 characters: safe (encrypted) mode
    wechat_api_base_url: str = WECHAT_API
    public_base_url: str | None = None  # where phones reach the H5 pages
    wechat_template_notice: str | None = None
    wechat_template_reminder: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        raw = value.get_secret_value().strip()
        head, sep, tail = raw.partition(":")
        if not sep or not head.isdecimal() or not tail:
            raise ValueError("expected the form 123456:ABC... given by @BotFather")
        return SecretStr(raw)

    @field_validator("database_url")
    @classmethod
    def _database_kind(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite://") and not value.startswith("sqlite+aiosqlite://"):
            value = "sqlite+aiosqlite://" + value.split("://", 1)[1]
        if not (value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db")
        return value

    @field_validator("bot_api_base_url", "wechat_api_base_url")
    @classmethod
    def _http_url(cls, value: str, info: ValidationInfo) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        # The Bot API's base has the token appended as is; the other API's paths start with a slash.
        return value if info.field_name == "bot_api_base_url" else value.rstrip("/")

    @field_validator("public_base_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (the address phones open)")
        return value.rstrip("/")

    @field_validator("wechat_app_id", "wechat_template_notice", "wechat_template_reminder", mode="before")
    @classmethod
    def _plain_id(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip() or None
            if value is not None and not all(c.isalnum() or c in "-_" for c in value):
                raise ValueError("letters, digits, - and _ only (copy it from the account's console)")
        return value

    @field_validator("wechat_app_secret", "wechat_token")
    @classmethod
    def _secret_text(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        raw = value.get_secret_value().strip()
        if not raw.isascii() or not raw.isalnum():
            raise ValueError("letters and digits only (copy it from the account's console)")
        return SecretStr(raw)

    @field_validator("wechat_aes_key")
    @classmethod
    def _aes_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        raw = value.get_secret_value().strip()
        if len(raw) != WECHAT_AES_KEY_LENGTH or not raw.isascii() or not raw.isalnum():
            raise ValueError(f"must be the {WECHAT_AES_KEY_LENGTH} letters and digits of the EncodingAESKey")
        return SecretStr(raw)

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value.strip().lower() not in ("text", "json"):
            raise ValueError("use text or json")
        return value.strip().lower()

    @model_validator(mode="after")
    def _webhook_secret_needed(self) -> Settings:
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError("WEBHOOK_SECRET must be set when WEBHOOK_URL is set")
        return self

    @model_validator(mode="after")
    def _old_listen_names(self) -> Settings:
        if "http_listen" not in self.model_fields_set and self.webhook_listen:
            self.http_listen = self.webhook_listen
        if "http_port" not in self.model_fields_set and self.webhook_port is not None:
            self.http_port = self.webhook_port
        return self

    @model_validator(mode="after")
    def _wechat_complete(self) -> Settings:
        names = ("wechat_app_id", "wechat_app_secret", "wechat_token")
        given = [name for name in names if getattr(self, name) is not None]
        if given and len(given) < len(names):
            missing = ", ".join(n.upper() for n in names if n not in given)
            raise ValueError(f"{missing}: must be set too when {given[0].upper()} is set")
        if self.wechat_aes_key is not None and not given:
            raise ValueError("WECHAT_AES_KEY: set WECHAT_APP_ID, WECHAT_APP_SECRET and WECHAT_TOKEN too")
        return self

    @property
    def wechat_enabled(self) -> bool:
        """The official-account channel runs when its app id, secret and callback token are set."""
        return (
            self.wechat_app_id is not None
            and self.wechat_app_secret is not None
            and self.wechat_token is not None
        )

    def wechat_missing(self) -> list[str]:
        """The settings the official-account channel still needs (empty when it can run)."""
        names = ("wechat_app_id", "wechat_app_secret", "wechat_token")
        return [name.upper() for name in names if getattr(self, name) is None]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def token(self) -> str:
        if self.bot_token is None:
            raise ConfigError(
                "BOT_TOKEN is not set: get a token from @BotFather, then run "
                "`BOT_TOKEN=123456:ABC... branchbot run`"
            )
        return self.bot_token.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    """Read the settings once; a bad value becomes one ConfigError line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:  # a rule across settings names its variables itself
            raise ConfigError(message) from None
        raise ConfigError(f"{str(first['loc'][0]).upper()}: {message}") from None
