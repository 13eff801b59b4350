"""Settings: defaults, one clear line for each bad value, the token never shown."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in (
        "BOT_TOKEN",
        "DATABASE_URL",
        "TIMEZONE",
        "BOT_API_BASE_URL",
        "ENCRYPTION_KEY",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
        "GLOBAL_RATE",
        "ADMIN_CHAT_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./data/branchbot.sqlite3"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.bot_api_base_url == "https://api.telegram.org/bot"
    assert settings.global_rate == 25
    assert settings.bot_token is None


def test_missing_token_says_how_to_set_it() -> None:
    with pytest.raises(ConfigError, match="BOT_TOKEN is not set"):
        load_settings().token()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("BOT_TOKEN", "not-a-token", "BOT_TOKEN"),
        ("TIMEZONE", "Mars/Olympus", "TIMEZONE"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
        ("GLOBAL_RATE", "31", "GLOBAL_RATE"),
        ("GLOBAL_RATE", "fast", "GLOBAL_RATE"),
        ("ADMIN_CHAT_ID", "abc", "ADMIN_CHAT_ID"),
        ("BOT_API_BASE_URL", "ftp://x", "BOT_API_BASE_URL"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_postgres_url_gets_the_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot@db/branch")
    assert load_settings().database_url == "postgresql+asyncpg://bot@db/branch"


def test_token_not_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123456:SECRET-VALUE")
    settings = load_settings()
    assert "SECRET-VALUE" not in repr(settings)
    assert "SECRET-VALUE" not in str(settings.model_dump())
    assert settings.token() == "123456:SECRET-VALUE"


def test_webhook_needs_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_URL", "https://example.org/telegram")
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        load_settings()
