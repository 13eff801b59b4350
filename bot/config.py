"""Typed settings, read once from the environment and an optional `.env` file."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/branchbot.sqlite3"
TELEGRAM_BOT_API = "https://api.telegram.org/bot"
# Telegram allows about 30 messages/s overall; staying below leaves room for replies and clock skew.
MAX_GLOBAL_RATE = 30.0


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

    @field_validator("bot_api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

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
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None
