"""The catalogue per township: from the command line, and by the township's agent in the bot."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from app import cli
from bot.services.relay import RelayError, parse_days, parse_list
from storage.models import ServiceItem
from tests.harness import BotHarness
from tests.relay.factory import AGENT_A, MEMBER_A, make_world
from tests.relay.helpers import tap, texts


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path, migrated_template) -> dict:
    from tests.conftest import on_postgres
    from tests.harness import _test_key

    if on_postgres():
        pytest.skip("uses its own SQLite file; the PostgreSQL path is covered by the harness tests")
    monkeypatch.chdir(tmp_path)
    values = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}",
        "ENCRYPTION_KEY": _test_key(),
        "BOT_USERNAME": "branch_test_bot",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    return values


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_catalogue_from_the_command_line(env, capsys) -> None:
    assert run(capsys, "township", "add", "青山镇")[0] == 0
    assert run(capsys, "township", "add", "绿水镇")[0] == 0
    code, out, _ = run(
        capsys,
        "catalogue", "add", "--township", "青山镇", "--name", "户口迁移", "--kind", "full",
        "--material", "身份证，户口本", "--material", "迁移证明", "--days", "5",
    )  # fmt: skip
    assert code == 0 and "item 1 added to 青山镇: 户口迁移 (full, 5 days)" in out
    code, out, _ = run(
        capsys,
        "catalogue",
        "add",
        "--township",
        "2",
        "--name",
        "低保咨询",
        "--kind",
        "consult",
        "--days",
        "0",
    )
    assert code == 0
    code, out, _ = run(capsys, "catalogue", "list")
    assert "1\t青山镇\t户口迁移\tfull\t5d\ton\t身份证, 户口本, 迁移证明" in out
    assert "2\t绿水镇\t低保咨询\tconsult\t0d\ton\t" in out
    code, out, _ = run(capsys, "catalogue", "list", "--township", "绿水镇")
    assert "户口迁移" not in out and "低保咨询" in out
    # Refusals are one clear line and a non-zero exit.
    code, _, err = run(
        capsys,
        "catalogue",
        "add",
        "--township",
        "青山镇",
        "--name",
        "户口迁移",
        "--kind",
        "full",
        "--days",
        "1",
    )
    assert code == 2 and 'An item named "户口迁移" exists already' in err
    code, _, err = run(
        capsys,
        "catalogue",
        "add",
        "--township",
        "青山镇",
        "--name",
        "新事项",
        "--kind",
        "full",
        "--days",
        "999",
    )
    assert code == 2 and "from 0 to 365" in err
    code, _, err = run(
        capsys, "catalogue", "add", "--township", "无此镇", "--name", "x", "--kind", "full", "--days", "1"
    )
    assert code == 2 and "no township" in err


async def test_the_agent_manages_the_catalogue_in_the_bot(harness: BotHarness) -> None:
    async with harness.session() as session:
        await make_world(session, harness.clock.now())
    await harness.transcript(
        AGENT_A,
        [
            (
                "/catalogue",
                ["青山镇办事目录", "1. 户口迁移（全程代理，5 天）", "材料：身份证、户口本", "养老保险咨询"],
            ),
            (("press", "新增"), "新事项的名称"),
            ("新农合报销", "全程代理，还是咨询服务"),
            ("全程代理", "请点按钮选择"),
            (("press", "全程代理"), "需要哪些材料"),
            ("医保卡\n住院发票、出院小结", "承诺几天"),
            ("十天", ["0 到 365"]),
            ("１０", ["请核对新事项", "新农合报销", "医保卡、住院发票、出院小结", "10 天"]),
            (("press", "提交"), ["已添加「新农合报销」", "10 天"]),
        ],
    )
    async with harness.session() as session:
        item = await session.scalar(select(ServiceItem).where(ServiceItem.name == "新农合报销"))
    assert (item.kind, item.materials, item.promised_days) == ("full", ["医保卡", "住院发票", "出院小结"], 10)
    # Members see it; switched off, they do not.
    await harness.send(MEMBER_A, "/services")
    assert "新农合报销" in str(harness.fake.last(MEMBER_A.id).buttons)
    await harness.send(AGENT_A, "/catalogue")
    assert "已停用" in texts(await tap(harness, AGENT_A, "停用4"))
    assert "已经处理过了" in texts(await harness.press(AGENT_A, f"rl:cat:off:{item.id}"))
    await harness.send(MEMBER_A, "/services")
    assert "新农合报销" not in str(harness.fake.last(MEMBER_A.id).buttons)
    # An item with no materials, by the button.
    await harness.transcript(
        AGENT_A,
        [
            ("/catalogue", "【已停用】"),
            (("press", "新增"), "名称"),
            ("户口迁移", "全程代理"),
            (("press", "咨询服务"), "材料"),
            (("press", "不需要"), "几天"),
            ("0", ["请核对", "无需材料"]),
            (("press", "提交"), ["同名事项", "请核对"]),
        ],
    )


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=8))
def test_a_typed_list_keeps_its_items_in_order(items: list[str]) -> None:
    text = "\n".join(items)
    try:
        parsed = parse_list(text)
    except RelayError as error:
        assert error.code in {"list_empty", "list_too_long", "list_item_bad"}
        return
    assert parsed and len(parsed) == len(set(parsed))
    for entry in parsed:
        assert entry == entry.strip() and 0 < len(entry) <= 60
        assert not set(entry) & set("\n\r、，；;,")  # separators split, never stay inside an item
        assert set(entry) <= set(text) | {" "}


@pytest.mark.parametrize(("text", "days"), [("0", 0), ("5", 5), (" 7 天", 7), ("３６５", 365), ("3 days", 3)])
def test_promised_days(text: str, days: int) -> None:
    assert parse_days(text) == days


@pytest.mark.parametrize("text", ["", "-1", "366", "五", "1.5", "1e3"])
def test_bad_promised_days(text: str) -> None:
    with pytest.raises(RelayError):
        parse_days(text)
