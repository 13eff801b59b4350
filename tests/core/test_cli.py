"""The administration CLI: set up a branch and a township, grant roles, print an invite link."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app import cli


@pytest.fixture(autouse=True)
def _restore_logging():
    """cli.main() installs a handler bound to the captured stderr; put the root logger back after."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path, migrated_template) -> dict:
    from tests.conftest import on_postgres
    from tests.harness import _test_key

    monkeypatch.chdir(tmp_path)
    url = migrated_template if on_postgres() else f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    values = {"DATABASE_URL": url, "ENCRYPTION_KEY": _test_key(), "BOT_USERNAME": "branch_test_bot"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    return values


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_set_up_a_branch_from_the_command_line(env, capsys) -> None:
    from tests.conftest import on_postgres

    if on_postgres():
        pytest.skip("uses its own SQLite file; the PostgreSQL path is covered by the harness tests")
    code, out, _ = run(capsys, "branch", "create", "--name", "深圳流动党支部", "--city", "深圳")
    assert code == 0 and "branch 1 created" in out
    code, out, _ = run(capsys, "township", "add", "青山镇", "--village", "东村,西村", "--village", "南村")
    assert code == 0 and "东村, 西村, 南村" in out
    code, out, _ = run(capsys, "township", "list")
    assert "青山镇" in out and "南村" in out
    code, out, _ = run(capsys, "grant", "--user", "42", "--role", "secretary", "--branch", "深圳流动党支部")
    assert code == 0 and "granted" in out
    code, out, _ = run(capsys, "grant", "--user", "42", "--role", "secretary", "--branch", "1")
    assert code == 0 and "already has" in out
    code, out, _ = run(capsys, "grant", "--user", "43", "--role", "agent", "--township", "青山镇")
    assert code == 0
    code, out, _ = run(capsys, "invite", "--branch", "1")
    assert code == 0 and out.startswith("https://t.me/branch_test_bot?start=j_")
    code, out, _ = run(capsys, "revoke", "--user", "42", "--role", "secretary", "--branch", "1")
    assert code == 0 and "revoked" in out
    code, out, _ = run(capsys, "db", "current")
    assert code == 0 and "current=" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grant", "--user", "1", "--role", "secretary"], "needs --branch"),
        (["grant", "--user", "1", "--role", "agent", "--township", "nowhere"], "no township"),
        (["invite", "--branch", "999"], "no branch"),
        (
            ["branch", "create", "--name", "x", "--city", "y", "--timezone", "Nowhere/City"],
            "unknown time zone",
        ),
        (["run"], "BOT_TOKEN is not set"),
    ],
)
def test_bad_arguments_give_one_line_and_a_non_zero_exit(env, capsys, args, message) -> None:
    code, _out, err = run(capsys, *args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_every_command_has_help() -> None:
    for command in (
        ["--help"],
        ["db", "--help"],
        ["branch", "create", "--help"],
        ["township", "add", "--help"],
        ["grant", "--help"],
        ["invite", "--help"],
        ["person", "merge", "--help"],
        ["keys", "--help"],
        ["run", "--help"],
        ["status", "--help"],
        ["backup", "--help"],
        ["restore", "--help"],
    ):
        result = subprocess.run([sys.executable, "-m", "app.cli", *command], capture_output=True, text=True)
        assert result.returncode == 0, command
        assert "usage: branchbot" in result.stdout


def test_argparse_errors_exit_non_zero() -> None:
    for argv in (["grant", "--user", "abc", "--role", "admin"], ["grant", "--user", "x"], ["nosuch"]):
        result = subprocess.run([sys.executable, "-m", "app.cli", *argv], capture_output=True, text=True)
        assert result.returncode == 2, argv
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one line, not the usage
        assert "--help" in result.stderr


def test_user_references_name_a_channel() -> None:
    from bot.services.accounts import UserRef, UserRefError, parse_user_ref

    assert parse_user_ref("123456") == UserRef("telegram", "123456")
    assert parse_user_ref("tg:123456") == UserRef("telegram", "123456")
    assert parse_user_ref("wx:oAbC-12_x") == UserRef("wechat", "oAbC-12_x")
    assert parse_user_ref("web:demo-member") == UserRef("web", "demo-member")
    for bad in ("abc", "tg:-5", "tg:99999999999999999999", "sms:1", "wx:", "wx:has space"):
        with pytest.raises(UserRefError):
            parse_user_ref(bad)


def test_invite_without_a_bot_name_names_the_setting(env, capsys, monkeypatch) -> None:
    from tests.conftest import on_postgres

    if on_postgres():
        pytest.skip("uses its own SQLite file")
    monkeypatch.delenv("BOT_USERNAME")
    assert run(capsys, "branch", "create", "--name", "深圳流动党支部", "--city", "深圳")[0] == 0
    code, _out, err = run(capsys, "invite", "--branch", "1")
    assert code == 2 and "BOT_USERNAME" in err and len(err.strip().splitlines()) == 1


def test_grant_a_role_to_a_wechat_follower(env, capsys) -> None:
    from tests.conftest import on_postgres

    if on_postgres():
        pytest.skip("uses its own SQLite file")
    assert run(capsys, "township", "add", "青山镇", "--village", "东村")[0] == 0
    code, out, _ = run(capsys, "grant", "--user", "wx:oAgent-1", "--role", "agent", "--township", "青山镇")
    assert code == 0 and "granted" in out
    code, out, _ = run(capsys, "grant", "--user", "wx:oAgent-1", "--role", "agent", "--township", "1")
    assert code == 0 and "already has" in out


def test_merge_two_people_from_the_command_line(env, capsys) -> None:
    from tests.conftest import on_postgres

    if on_postgres():
        pytest.skip("uses its own SQLite file")
    assert run(capsys, "township", "add", "青山镇", "--village", "东村")[0] == 0
    assert run(capsys, "grant", "--user", "tg:4242", "--role", "agent", "--township", "1")[0] == 0
    assert run(capsys, "grant", "--user", "wx:oAgent-2", "--role", "agent", "--township", "1")[0] == 0
    code, out, _ = run(capsys, "person", "merge", "--from", "tg:4242", "--into", "wx:oAgent-2")
    assert code == 0 and len(out.strip().splitlines()) == 1
    assert "person 1 merged into person 2" in out and "telegram:4242" in out and "wechat:oAgent-2" in out
    for args, message in (
        (["--from", "4242", "--into", "wx:oAgent-2"], "already the same person"),
        (["--from", "wx:nobody", "--into", "wx:oAgent-2"], "nobody has the account wechat:nobody"),
        (["--from", "sms:1", "--into", "wx:oAgent-2"], "unknown channel"),
        (["--into", "wx:oAgent-2"], "--from"),
    ):
        code, _out, err = run_or_exit(capsys, "person", "merge", *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)


def run_or_exit(capsys, *args: str) -> tuple[int, str, str]:
    """`run`, also for argparse's refusals (which exit)."""
    try:
        return run(capsys, *args)
    except SystemExit as exit_:
        out, err = capsys.readouterr()
        return int(exit_.code or 0), out, err
