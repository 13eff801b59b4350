"""`branchbot invite --channel wechat`, `branchbot wechat menu` and the WeChat settings, against the fake
WeChat API server; a malformed or missing setting is one line naming it."""

from __future__ import annotations

import logging
from urllib.parse import unquote

import pytest

from app import cli
from bot.config import ConfigError, load_settings
from tests.harness import _test_key
from tests.wechat.fake_server import AES_KEY, APP_ID, APP_SECRET, CALLBACK_TOKEN, FakeWeChat

WECHAT_VARIABLES = (
    "WECHAT_APP_ID",
    "WECHAT_APP_SECRET",
    "WECHAT_TOKEN",
    "WECHAT_AES_KEY",
    "WECHAT_API_BASE_URL",
    "PUBLIC_BASE_URL",
    "WECHAT_TEMPLATE_NOTICE",
    "WECHAT_TEMPLATE_REMINDER",
)


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    for name in (*WECHAT_VARIABLES, "BOT_TOKEN", "WEBHOOK_URL", "WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("ENCRYPTION_KEY", _test_key())
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def wechat_env(monkeypatch: pytest.MonkeyPatch, fake_wechat: FakeWeChat) -> FakeWeChat:
    values = {
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": APP_SECRET,
        "WECHAT_TOKEN": CALLBACK_TOKEN,
        "WECHAT_API_BASE_URL": fake_wechat.base_url,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return fake_wechat


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_wechat_invite_is_a_qr_code_whose_scene_is_the_invite_code(wechat_env: FakeWeChat, capsys) -> None:
    code, out, _ = run(capsys, "branch", "create", "--name", "深圳流动党支部", "--city", "深圳")
    assert code == 0
    invite_code = out.split("invite code: ")[1].split()[0]
    code, out, err = run(capsys, "invite", "--branch", "1", "--channel", "wechat")
    assert code == 0, err
    url = out.strip()
    assert url.startswith("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=")
    (call,) = wechat_env.calls("qrcode/create")
    assert call.body["action_name"] == "QR_LIMIT_STR_SCENE"
    assert call.body["action_info"]["scene"]["scene_str"] == invite_code
    assert invite_code in unquote(url)  # the fake's ticket names its scene
    assert "TOKEN-" not in out + err


def test_the_menu_command_makes_the_custom_menu(wechat_env: FakeWeChat, capsys) -> None:
    code, out, err = run(capsys, "wechat", "menu")
    assert code == 0, err
    assert out.strip() == "menu created: 报到/我的, 党费, 活动, 办事"
    (call,) = wechat_env.calls("menu/create")
    assert [(b["type"], b["key"]) for b in call.body["button"]] == [
        ("click", "START_OR_ME"),
        ("click", "DUES"),
        ("click", "ACTIVITY"),
        ("click", "SERVICES"),
    ]


def test_a_refusal_of_the_api_is_one_line(wechat_env: FakeWeChat, capsys) -> None:
    wechat_env.fail_next("menu/create", 40016, "invalid button size")
    code, _out, err = run(capsys, "wechat", "menu")
    assert code == 2 and "40016" in err and len(err.strip().splitlines()) == 1


def test_missing_wechat_settings_are_named(capsys) -> None:
    code, _out, err = run(capsys, "wechat", "menu")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "WECHAT_APP_ID, WECHAT_APP_SECRET, WECHAT_TOKEN" in err
    code, _out, err = run(capsys, "invite", "--branch", "1", "--channel", "wechat")
    assert code == 2 and "WECHAT_APP_ID" in err


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"WECHAT_APP_ID": APP_ID}, "WECHAT_APP_SECRET, WECHAT_TOKEN"),
        (
            {
                "WECHAT_APP_ID": APP_ID,
                "WECHAT_APP_SECRET": APP_SECRET,
                "WECHAT_TOKEN": "t",
                "WECHAT_AES_KEY": "short",
            },
            "WECHAT_AES_KEY",
        ),
        ({"WECHAT_AES_KEY": AES_KEY}, "WECHAT_AES_KEY"),
        ({"WECHAT_APP_ID": "wx bad id"}, "WECHAT_APP_ID"),
        ({"WECHAT_TOKEN": "两个字"}, "WECHAT_TOKEN"),
        ({"WECHAT_API_BASE_URL": "api.weixin.qq.com"}, "WECHAT_API_BASE_URL"),
        ({"PUBLIC_BASE_URL": "branch.example.cn"}, "PUBLIC_BASE_URL"),
    ],
)
def test_a_malformed_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys, values: dict[str, str], named: str
) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert named in str(caught.value) and "\n" not in str(caught.value)
    code, _out, err = run(capsys, "wechat", "menu")
    assert code == 2 and named in err and len(err.strip().splitlines()) == 1
    for secret in (APP_SECRET, AES_KEY):
        assert secret not in err


def test_settings_enable_wechat_and_safe_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not load_settings().wechat_enabled
    settings = load_settings(
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_token=CALLBACK_TOKEN,
        wechat_aes_key=AES_KEY,
        wechat_api_base_url="http://127.0.0.1:9/",
    )
    assert settings.wechat_enabled and settings.wechat_missing() == []
    assert settings.wechat_api_base_url == "http://127.0.0.1:9"
    assert settings.wechat_aes_key is not None and APP_SECRET not in repr(settings)


def test_run_with_wechat_only_refuses_the_telegram_webhook(wechat_env: FakeWeChat, capsys) -> None:
    code, _out, err = run(capsys, "run", "--webhook")
    assert code == 2 and "BOT_TOKEN" in err and len(err.strip().splitlines()) == 1
