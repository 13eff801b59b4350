"""Screens as numbered text, and the choices remembered per account."""

from __future__ import annotations

from bot.clock import FakeClock
from bot.dialog import Button, Screen
from storage.db import Database
from storage.models import Account, Person
from wechat.render import TEXT_CHOICE, choice_number, recall, remember, render


def test_buttons_become_numbered_choices_on_one_line_when_short() -> None:
    screen = Screen(
        "周六党员活动日", buttons=((Button("参加", data="act:y:1"), Button("请假", data="act:n:1")),)
    )
    text, choices = render(screen, language="zh")
    assert text == "周六党员活动日\n\n回复 1 参加 / 2 请假"
    assert choices == ["act:y:1", "act:n:1"]


def test_long_choices_go_one_per_line_and_links_are_lines() -> None:
    rows = tuple((Button(f"一个相当长的选项名称第{i}个", data=f"x:{i}"),) for i in range(1, 5))
    screen = Screen("请选择", buttons=(*rows, (Button("打开页面", url="https://h5.example.cn/n/1"),)))
    text, choices = render(screen, language="zh")
    assert choices == ["x:1", "x:2", "x:3", "x:4"]
    assert "打开页面：https://h5.example.cn/n/1" in text
    assert text.endswith(
        "请回复编号：\n1 一个相当长的选项名称第1个\n2 一个相当长的选项名称第2个\n"
        "3 一个相当长的选项名称第3个\n4 一个相当长的选项名称第4个"
    )


def test_a_contact_screen_offers_back_and_cancel_as_typed_labels() -> None:
    text, choices = render(Screen("请输入手机号", contact=("分享号码", "返回", "取消")), language="zh")
    assert choices == [TEXT_CHOICE + "返回", TEXT_CHOICE + "取消"]
    assert text.endswith("回复 1 返回 / 2 取消") and "分享号码" not in text
    assert "在微信里请直接输入11位手机号" in text  # the core's text may point at Telegram's keyboard


def test_english() -> None:
    text, _ = render(
        Screen("Sat", buttons=((Button("Join", data="a"), Button("Excuse", data="b")),)), language="en"
    )
    assert text.endswith("Reply 1 Join / 2 Excuse")


def test_numbers_in_any_width_and_spacing() -> None:
    assert choice_number("1") == choice_number("１") == choice_number(" 1 ") == 1
    assert choice_number("12") == 12
    assert choice_number("1 2") is None and choice_number("一") is None and choice_number("") is None


async def test_the_last_screens_choices_are_remembered(db: Database, clock: FakeClock) -> None:
    async with db.session() as session:
        person = Person(created_at=clock.now())
        session.add(person)
        await session.flush()
        account = Account(person_id=person.id, channel="wechat", external_id="o1", address="o1")
        session.add(account)
        await session.flush()
        await remember(session, account.id, ["a:1", "a:2"], clock.now())
        await session.commit()
    async with db.session() as session:
        assert await recall(session, account.id, 2) == "a:2"
        assert await recall(session, account.id, 3) is None
        await remember(session, account.id, [], clock.now())
        await session.commit()
    async with db.session() as session:
        assert await recall(session, account.id, 1) is None


def test_many_short_choices_share_lines_and_a_number_label_is_shown_once() -> None:
    days = tuple((Button(str(day), data=f"d:{day}"),) for day in range(1, 32))
    text, choices = render(Screen("几日？", buttons=(*days, (Button("返回", data="b"),))), language="zh")
    assert choices[0] == "d:1" and choices[31] == "b"
    lines = text.split("\n")
    assert lines[2] == "请回复编号："
    assert lines[3].startswith("1 / 2 / 3 / ") and lines[-1].endswith("31 / 32 返回")
