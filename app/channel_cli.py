"""The channels' own commands of `branchbot` (app.cli adds them to its parser).

branchbot invite --branch X --channel wechat   the branch's invite as a WeChat QR code (its URL)
branchbot wechat menu                          the official account's custom menu
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from bot.config import Settings, load_settings

INVITE_CHANNELS = ("telegram", "wechat")


def add_channel_commands(sub: Any) -> None:
    wechat = sub.add_parser("wechat", help="the WeChat official account (its custom menu)")
    actions = wechat.add_subparsers(dest="action", required=True)
    actions.add_parser("menu", help="create the custom menu: 报到/我的, 党费, 活动, 办事")
    wechat.set_defaults(func=cmd_wechat)


def wechat_settings() -> Settings:
    from app.cli import CliError

    settings = load_settings()
    missing = settings.wechat_missing()
    if missing:
        raise CliError(
            f"{', '.join(missing)} not set: the WeChat official account needs them (README, WeChat)"
        )
    return settings


def with_wechat_api(settings: Settings, work: Callable[[Any, Any], Awaitable[Any]]) -> Any:
    """Run `work(api, db)` against the configured database (migrated; the token is kept there)."""
    import httpx

    from app.cli import CliError
    from bot.clock import SystemClock
    from bot.services.keys import configure_encryption
    from storage import migrate
    from storage.db import Database
    from wechat.api import WeChatApi, WeChatApiError

    configure_encryption(settings)

    async def main() -> Any:
        await migrate.upgrade(settings.database_url)
        db = Database(settings.database_url)
        api = WeChatApi(settings, db, SystemClock())
        try:
            return await work(api, db)
        finally:
            await api.aclose()
            await db.dispose()

    try:
        return asyncio.run(main())
    except WeChatApiError as exc:
        raise CliError(f"WeChat refused: errcode {exc.errcode} {exc.errmsg}") from None
    except httpx.HTTPError as exc:
        raise CliError(
            f"could not reach the WeChat API ({type(exc).__name__}); check WECHAT_API_BASE_URL"
        ) from None


def cmd_wechat(args: argparse.Namespace) -> None:
    from wechat.channel import menu

    settings = wechat_settings()
    layout = menu("zh")
    with_wechat_api(settings, lambda api, db: api.create_menu(layout))
    print("menu created: " + ", ".join(button["name"] for button in layout["button"]))


def channel_invite(channel: str, branch: str) -> str:
    """A branch's invite on a channel other than Telegram (app.cli prints Telegram's deep link)."""
    if channel == "wechat":
        return wechat_invite(branch)
    raise ValueError(f"no invite for channel {channel!r}")


def wechat_invite(branch: str) -> str:
    """The URL of the QR code whose scene is the branch's invite code (following it starts 报到)."""
    from bot.services import admin

    settings = wechat_settings()

    async def work(api: Any, db: Any) -> str:
        async with db.session() as session:
            found = await admin.find_branch(session, branch)
        return await api.create_qr(found.invite_code)

    return with_wechat_api(settings, work)
