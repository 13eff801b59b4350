"""`branchbot`: the administration command line (database, branches, townships, roles, invites, run)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from bot.config import ConfigError, Settings, load_settings
from bot.logging import setup_logging


class CliError(Exception):
    """One line for the operator; the command exits non-zero."""


class OneLineParser(argparse.ArgumentParser):
    """A bad argument prints one line (what is wrong, and where --help is), not the whole usage."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def user_ref(text: str) -> str:
    """--user: a Telegram user id (123 or tg:123), a WeChat openid (wx:...) or a web id (web:...)."""
    from bot.services.accounts import UserRefError, parse_user_ref

    try:
        return str(parse_user_ref(text))
    except UserRefError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _settings() -> Settings:
    return load_settings()


def _with_session(work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run `work(session)` against the configured database (migrated to head) and commit."""
    from bot.services.keys import configure_encryption
    from storage import migrate
    from storage.db import Database

    settings = _settings()
    configure_encryption(settings)

    async def main() -> Any:
        await migrate.upgrade(settings.database_url)
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await db.dispose()

    return asyncio.run(main())


def cmd_db(args: argparse.Namespace) -> None:
    from storage import migrate

    settings = _settings()
    if args.action == "upgrade":
        asyncio.run(migrate.upgrade(settings.database_url, args.revision or "head"))
        print(f"database at revision {migrate.head_revision() if not args.revision else args.revision}")
    elif args.action == "downgrade":
        if not args.revision:
            raise CliError("db downgrade needs a revision, e.g. `branchbot db downgrade -1`")
        asyncio.run(migrate.downgrade(settings.database_url, args.revision))
        print(f"database downgraded to {args.revision}")
    else:
        current = asyncio.run(migrate.current_revision(settings.database_url))
        head = migrate.head_revision()
        print(f"current={current or 'empty'} head={head}")


def cmd_branch(args: argparse.Namespace) -> None:
    from bot.services import admin

    if args.action == "create":
        settings = _settings()
        info = _with_session(
            lambda s: admin.create_branch(
                s, name=args.name, city=args.city, timezone=args.timezone or settings.timezone
            )
        )
        print(f"branch {info.id} created: {info.name} ({info.city}, {info.timezone})")
        print(f"invite code: {info.invite_code}  (get the link with `branchbot invite --branch {info.id}`)")
    else:
        for info in _with_session(admin.list_branches):
            print(f"{info.id}\t{info.name}\t{info.city}\t{info.timezone}")


def cmd_township(args: argparse.Namespace) -> None:
    from bot.services import admin

    if args.action == "add":
        villages = [v for chunk in args.village or [] for v in chunk.replace("，", ",").split(",")]
        township_id, added = _with_session(lambda s: admin.add_township(s, name=args.name, villages=villages))
        print(f"township {township_id}: {args.name}; villages added: {', '.join(added) or 'none'}")
    else:
        for township_id, name, villages in _with_session(admin.list_townships):
            print(f"{township_id}\t{name}\t{', '.join(villages)}")


def cmd_catalogue(args: argparse.Namespace) -> None:
    """A township's service catalogue (办事目录): add an item, or list the items."""
    from bot.i18n import t
    from bot.services import admin, relay

    async def work(session: Any) -> list[tuple[str, list[Any]]]:
        if args.action == "add":
            township = await admin.find_township(session, args.township)
            materials = [m for chunk in args.material or [] for m in chunk.replace("，", ",").split(",")]
            item = await relay.add_item(
                session,
                township_id=township.id,
                name=args.name,
                kind=args.kind,
                materials=[m for m in materials if m.strip()],
                promised_days=args.days,
                actor_person_id=None,
            )
            return [(township.name, [item])]
        if args.township:
            township = await admin.find_township(session, args.township)
            townships = [(township.id, township.name)]
        else:
            townships = [(tid, name) for tid, name, _ in await admin.list_townships(session)]
        return [(name, await relay.list_items(session, tid, active_only=False)) for tid, name in townships]

    try:
        result = _with_session(work)
    except relay.RelayError as exc:
        raise CliError(t("en", exc.key, **exc.params)) from None
    if args.action == "add":
        township, (item,) = result[0]
        print(f"item {item.id} added to {township}: {item.name} ({item.kind}, {item.promised_days} days)")
        return
    for township, items in result:
        for item in items:
            state = "on" if item.active else "off"
            materials = ", ".join(item.materials)
            print(
                f"{item.id}\t{township}\t{item.name}\t{item.kind}\t{item.promised_days}d\t{state}\t{materials}"
            )


def cmd_grant(args: argparse.Namespace, revoke: bool = False) -> None:
    from bot.services import admin
    from storage.models import Role

    role = Role(args.role)
    action = admin.revoke if revoke else admin.grant
    changed = _with_session(
        lambda s: action(s, user=args.user, role=role, branch=args.branch, township=args.township)
    )
    verb = "revoked" if revoke else "granted"
    print(
        f"{role} {verb} for user {args.user}"
        if changed
        else f"nothing to do: user {args.user} {'did not have' if revoke else 'already has'} that role"
    )


def cmd_person(args: argparse.Namespace) -> None:
    """People on several channels: merge the person behind one account into the person behind another."""
    from bot.services.merge import merge_people

    merged = _with_session(lambda s: merge_people(s, source=args.source, into=args.into))
    member = f"member record {merged.member_id} ({merged.branch})" if merged.member_id else "no member record"
    print(
        f"person {merged.removed_person_id} merged into person {merged.person_id}: "
        f"accounts {', '.join(merged.accounts)}; {member}"
    )


def cmd_invite(args: argparse.Namespace) -> None:
    from bot.services import admin

    if args.channel != "telegram":  # another channel's invite (a QR code ...): the composition root's
        from app.channel_cli import channel_invite

        print(channel_invite(args.channel, args.branch))
        return
    settings = _settings()
    branch = _with_session(lambda s: admin.find_branch(s, args.branch))
    if not settings.bot_username and settings.bot_token is None:
        raise CliError("set BOT_USERNAME (the bot's @name) or BOT_TOKEN to print a Telegram invite link")
    username = settings.bot_username or _fetch_username(settings)
    print(admin.invite_link(username, branch.invite_code))


def _fetch_username(settings: Settings) -> str:
    from telegram import Bot
    from telegram.error import TelegramError

    async def get_me() -> str:
        async with Bot(settings.token(), base_url=settings.bot_api_base_url) as bot:
            return bot.username

    try:
        return asyncio.run(get_me())
    except TelegramError as exc:
        raise CliError(
            f"could not ask Telegram for the bot's username ({type(exc).__name__}); set BOT_USERNAME"
        ) from None


def cmd_keys(args: argparse.Namespace) -> None:
    from cryptography.fernet import Fernet

    if args.action == "new":
        print(Fernet.generate_key().decode())
        return
    from bot.services.keys import rotate_all

    count = _with_session(rotate_all)
    print(f"re-encrypted {count} rows with the first key of ENCRYPTION_KEY")


def cmd_status(args: argparse.Namespace) -> int:
    """The health figures, the running bot's answer and each branch's backlog, on one screen."""
    from datetime import UTC, datetime

    from bot import status
    from storage import migrate
    from storage.db import Database

    settings = _settings()
    language = status.language_from_env()

    async def main() -> status.Report:
        current = await migrate.current_revision(settings.database_url)
        if current is None:
            raise CliError(
                f"no branchbot database at {settings.database_url.split('@')[-1]} (branchbot db upgrade)"
            )
        if current != migrate.head_revision():
            raise CliError(
                f"database schema is {current}, this version reads {migrate.head_revision()}: "
                "start the bot or run `branchbot db upgrade`"
            )
        live = await asyncio.to_thread(status.ask_live, settings)
        db = Database(settings.database_url)
        try:
            return await status.collect(db, settings, datetime.now(UTC), live)
        finally:
            await db.dispose()

    report = asyncio.run(main())
    where = f"{settings.http_listen}:{settings.http_port}"
    print(status.render(report, language, timezone=settings.timezone, where=where))
    return 1 if args.check and not report.health.ok else 0


def cmd_backup(args: argparse.Namespace) -> int:
    """SQLite: a consistent copy while the bot runs. PostgreSQL: check the connection, point to pg_dump."""
    from pathlib import Path

    from bot import backup, status
    from bot.i18n import t

    settings = _settings()
    language = status.language_from_env()
    db_file = backup.sqlite_path(settings.database_url)
    if db_file is None:
        version, revision, _ = _postgres_check(settings)
        print(
            t(
                language,
                "ops.backup.postgres",
                version=version,
                revision=revision or "-",
                file=args.file,
                target=backup.postgres_target(settings.database_url),
            )
        )
        return 3  # nothing written: a script must not take this for a backup
    try:
        report = backup.backup_sqlite(db_file, Path(args.file), overwrite=args.force)
    except backup.BackupError as exc:
        raise CliError(str(exc)) from None
    print(
        t(language, "ops.backup.written", path=report.path, size=report.size, revision=report.revision or "-")
    )
    print(t(language, "ops.backup.key_reminder"))
    if settings.encryption_key is None:
        print(t(language, "ops.backup.key_file", path=Path(settings.data_dir) / "encryption.key"))
    else:
        print(t(language, "ops.backup.key_setting"))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """SQLite: replace the database by a checked backup, never under a running bot."""
    from pathlib import Path

    from bot import backup, status
    from bot.i18n import t

    settings = _settings()
    language = status.language_from_env()
    db_file = backup.sqlite_path(settings.database_url)
    if db_file is None:
        version, revision, others = _postgres_check(settings)
        print(
            t(
                language,
                "ops.restore.postgres",
                version=version,
                revision=revision or "-",
                others=others,
                file=args.file,
                target=backup.postgres_target(settings.database_url),
            )
        )
        return 3
    try:
        report, kept = backup.restore_sqlite(Path(args.file), db_file, force=args.force)
    except backup.BackupError as exc:
        raise CliError(str(exc)) from None
    print(t(language, "ops.restore.done", path=report.path, revision=report.revision or "-"))
    if kept is not None:
        print(t(language, "ops.restore.kept", path=kept))
    print(t(language, "ops.restore.key_reminder"))
    return 0


def _postgres_check(settings: Settings) -> tuple[str, str | None, int]:
    from bot import backup

    try:
        return asyncio.run(backup.postgres_check(settings.database_url))
    except Exception as exc:
        raise CliError(f"cannot connect to PostgreSQL ({type(exc).__name__}); check DATABASE_URL") from None


def cmd_run(args: argparse.Namespace) -> None:
    from app.runner import run

    run(_settings(), webhook=args.webhook)


def cmd_demo(args: argparse.Namespace) -> None:
    from app.demo import run_demo

    run_demo(port=args.port, listen=args.listen, data=args.data, browser=not args.no_browser)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="branchbot", description="Mobile Branch (流动党员之家) bot administration.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)

    db = sub.add_parser("db", help="apply or inspect database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade", "current"])
    db.add_argument("revision", nargs="?", help="target revision (default head for upgrade)")
    db.set_defaults(func=cmd_db)

    branch = sub.add_parser("branch", help="create or list host-city branches")
    branch_sub = branch.add_subparsers(dest="action", required=True)
    create = branch_sub.add_parser("create", help="create a branch")
    create.add_argument("--name", required=True)
    create.add_argument("--city", required=True)
    create.add_argument("--timezone", help="IANA time zone (default: TIMEZONE setting)")
    branch_sub.add_parser("list", help="list branches")
    branch.set_defaults(func=cmd_branch)

    township = sub.add_parser("township", help="add or list home townships and their village branches")
    township_sub = township.add_subparsers(dest="action", required=True)
    add = township_sub.add_parser("add", help="add a township, or villages to it")
    add.add_argument("name")
    add.add_argument("--village", action="append", help="a village branch (repeat, or comma-separated)")
    township_sub.add_parser("list", help="list townships")
    township.set_defaults(func=cmd_township)

    catalogue = sub.add_parser("catalogue", help="add or list the items a township's agents can handle")
    catalogue_sub = catalogue.add_subparsers(dest="action", required=True)
    item = catalogue_sub.add_parser("add", help="add an item to a township's catalogue")
    item.add_argument("--township", required=True, help="township id or name")
    item.add_argument("--name", required=True, help="the item, e.g. 户口迁移")
    item.add_argument("--kind", required=True, choices=["full", "consult"], help="full agency or consult")
    item.add_argument("--material", action="append", help="a required material (repeat, or comma-separated)")
    item.add_argument("--days", type=int, required=True, help="promised days to complete (0 = same day)")
    listing = catalogue_sub.add_parser("list", help="list the items (of one township, or of all)")
    listing.add_argument("--township", help="township id or name")
    catalogue.set_defaults(func=cmd_catalogue)

    for name, revoke in (("grant", False), ("revoke", True)):
        p = sub.add_parser(name, help=f"{name} a role to a person")
        p.add_argument(
            "--user",
            type=user_ref,
            required=True,
            help="Telegram user id (123 or tg:123), wx:<openid>, web:<id>",
        )
        p.add_argument("--role", required=True, choices=["admin", "secretary", "committee", "agent"])
        p.add_argument("--branch", help="branch id or name (secretary, committee)")
        p.add_argument("--township", help="township id or name (agent)")
        p.set_defaults(func=lambda a, r=revoke: cmd_grant(a, revoke=r))

    person = sub.add_parser("person", help="people on several channels")
    person_sub = person.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    merge = person_sub.add_parser(
        "merge",
        help="join two people into one (a member who moved from Telegram to WeChat keeps their history)",
    )
    merge.add_argument(
        "--from", dest="source", type=user_ref, required=True, help="an account of the person who goes away"
    )
    merge.add_argument("--into", type=user_ref, required=True, help="an account of the person who stays")
    person.set_defaults(func=cmd_person)

    from app.channel_cli import INVITE_CHANNELS, add_channel_commands

    invite = sub.add_parser("invite", help="print a branch's invite deep link (or QR code URL)")
    invite.add_argument("--branch", required=True, help="branch id or name")
    invite.add_argument(
        "--channel", choices=INVITE_CHANNELS, default=INVITE_CHANNELS[0], help="default telegram"
    )
    invite.set_defaults(func=cmd_invite)
    add_channel_commands(sub)

    keys = sub.add_parser("keys", help="encryption keys")
    keys.add_argument(
        "action", choices=["new", "rotate"], help="new: print a fresh key; rotate: re-encrypt all data"
    )
    keys.set_defaults(func=cmd_keys)

    demo = sub.add_parser("demo", help="try the bot in a browser: no token, no network, a seeded demo world")
    demo.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080; 0 = any free port)")
    demo.add_argument("--listen", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    demo.add_argument("--data", help="keep the demo's data in this folder (default: a new temporary one)")
    demo.add_argument("--no-browser", action="store_true", help="do not open a browser")
    demo.set_defaults(func=cmd_demo)

    status = sub.add_parser("status", help="health, outbox, reminder tick and each branch's backlog")
    status.add_argument("--check", action="store_true", help="exit 1 when the health is degraded")
    status.set_defaults(func=cmd_status)

    backup = sub.add_parser("backup", help="a consistent copy of the SQLite database, while the bot runs")
    backup.add_argument("file", help="where to write the copy")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    backup.set_defaults(func=cmd_backup)

    restore = sub.add_parser(
        "restore", help="replace the SQLite database by a backup (the bot must be stopped)"
    )
    restore.add_argument("file", help="a file written by `branchbot backup`")
    restore.add_argument("--force", action="store_true", help="replace an existing database (a copy is kept)")
    restore.set_defaults(func=cmd_restore)

    run = sub.add_parser("run", help="run the bot (long polling, or --webhook)")
    run.add_argument("--webhook", action="store_true", help="serve a webhook instead of polling")
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"branchbot: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings)
    try:
        code = args.func(args)
    except (ConfigError, CliError) as exc:
        print(f"branchbot: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from bot.services.admin import AdminError
        from storage.crypto import KeyError_

        if isinstance(exc, AdminError | KeyError_):
            print(f"branchbot: {exc}", file=sys.stderr)
            return 2
        logging.getLogger("branchbot").exception("command failed")
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
