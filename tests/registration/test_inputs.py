"""Every kind of bad input at every step: a clear message and the same question again, nothing lost."""

from __future__ import annotations

import pytest

from bot.i18n import catalogue
from bot.rules.errors import DateInputError, InputError, PhoneInputError
from bot.services.drafts import get_draft
from bot.services.registration import (
    FLOW,
    CardInputError,
    ContactNotYours,
    JoinedInputError,
    read_card,
    read_contact,
)
from storage.models import Person
from tests import factories
from tests.factories import TgUser, telegram_user
from tests.registration.helpers import make_world, member_row, play, report_in_steps

USER = TgUser(7101, "小李")

# Where each step of report_in_steps leaves the user (index of the last step played) -> its question.
AT_NAME, AT_PHONE, AT_TOWNSHIP, AT_STATUS, AT_YEAR, AT_DAY, AT_CARD, AT_SUMMARY = 3, 4, 5, 7, 8, 10, 11, 14


async def _draft(harness, user=USER):
    from sqlalchemy import select

    async with harness.session() as session:
        person_id = await session.scalar(select(Person.id).where(telegram_user(user.id)))
        return await get_draft(session, person_id, FLOW)


async def _at(harness, world, upto: int) -> None:
    await play(harness, USER, report_in_steps(world.invite_a)[:upto])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("   ", None),  # Telegram never sends blank text, but a space-only one can arrive
        ("12345", "至少要有一个汉字或字母"),
        ("王" * 41, "太长了"),
        ("王\u202e五", "不能使用的字符"),
    ],
)
async def test_bad_names_are_refused_and_asked_again(harness, text, message) -> None:
    world = await make_world(harness)
    await _at(harness, world, AT_NAME)
    calls = await harness.send(USER, text)
    reply = calls[-1].text
    assert "请输入您的姓名" in reply
    assert message is None or message in reply
    assert (await _draft(harness)).step == "name"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("+86 138 0013 8000", "+8613800138000"),
        ("13800138000", "+8613800138000"),
        ("１３８００１３８０００", "+8613800138000"),  # full-width digits from a Chinese keyboard
        ("0086-138-0013-8000", "+8613800138000"),
    ],
)
async def test_valid_mobiles_are_normalised_to_one_form(harness, typed, expected) -> None:
    world = await make_world(harness)
    await _at(harness, world, AT_PHONE)
    calls = await harness.send(USER, typed)
    assert "手机号已记录：138 0013 8000" in calls[0].text
    assert calls[0].params["reply_markup"] == {"remove_keyboard": True} or "remove_keyboard" in str(
        calls[0].params["reply_markup"]
    )
    draft = await _draft(harness)
    assert draft.step == "township" and draft.data["phone"] == expected


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("010-12345678", "不能用座机号"),  # a Beijing landline
        ("12345", "这个号码无效"),
        ("1380013800", "这个号码无效"),
        ("+1 650 253 0000", "只支持中国大陆手机号"),
        ("call me", "这不像手机号"),
    ],
)
async def test_other_phone_inputs_are_refused_with_a_clear_message(harness, typed, message) -> None:
    world = await make_world(harness)
    await _at(harness, world, AT_PHONE)
    calls = await harness.send(USER, typed)
    assert message in calls[-1].text and "分享号码" in calls[-1].text
    keyboard = calls[-1].params["reply_markup"]
    assert "request_contact" in str(keyboard)  # the same question, with the share button again
    draft = await _draft(harness)
    assert draft.step == "phone" and "phone" not in draft.data


async def test_sharing_ones_own_contact_is_accepted(harness) -> None:
    world = await make_world(harness)
    await _at(harness, world, AT_PHONE)
    calls = await harness.share_contact(USER, "8613800138000", contact_user_id=USER.id)
    assert "手机号已记录" in calls[0].text
    assert (await _draft(harness)).data["phone"] == "+8613800138000"


@pytest.mark.parametrize("contact_user_id", [7999, None])
async def test_someone_elses_contact_is_refused(harness, contact_user_id) -> None:
    world = await make_world(harness)
    await _at(harness, world, AT_PHONE)
    calls = await harness.share_contact(USER, "+8613900139000", contact_user_id=contact_user_id)
    assert "只能分享您自己的号码" in calls[-1].text
    draft = await _draft(harness)
    assert draft.step == "phone" and "phone" not in draft.data


async def test_ones_own_foreign_number_is_refused(harness) -> None:
    world = await make_world(harness)
    await _at(harness, world, AT_PHONE)
    calls = await harness.share_contact(USER, "16502530000", contact_user_id=USER.id)
    assert "只支持中国大陆手机号" in calls[-1].text


@pytest.mark.parametrize("upto", [AT_TOWNSHIP, AT_STATUS, AT_SUMMARY, 1, 2])
async def test_typing_where_a_button_is_wanted_repeats_the_question(harness, upto) -> None:
    world = await make_world(harness)
    await _at(harness, world, upto)
    before = (await _draft(harness)).step
    question = harness.fake.last(USER.id).text
    calls = await harness.send(USER, "随便写点什么")
    assert calls[-1].text.startswith("请点按钮选择")
    assert question.split("\n")[-1] in calls[-1].text
    assert calls[-1].buttons  # the buttons are there again
    assert (await _draft(harness)).step == before


@pytest.mark.parametrize("upto", [AT_NAME, AT_PHONE, AT_YEAR, AT_CARD, AT_SUMMARY])
async def test_a_photo_or_file_gets_a_clear_message(harness, upto) -> None:
    world = await make_world(harness)
    await _at(harness, world, upto)
    before = (await _draft(harness)).step
    for update in (factories.photo_update(USER), factories.document_update(USER)):
        calls = await harness.feed(update)
        assert calls and ("请输入文字" in calls[-1].text or "请点按钮" in calls[-1].text)
    assert (await _draft(harness)).step == before


async def test_a_contact_at_another_step_is_not_taken(harness) -> None:
    world = await make_world(harness)
    await _at(harness, world, AT_NAME)
    calls = await harness.share_contact(USER, "8613800138000", contact_user_id=USER.id)
    assert "请输入文字" in calls[-1].text and "请输入您的姓名" in calls[-1].text
    assert (await _draft(harness)).step == "name"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("明年", "看不懂这个日期"),
        ("2015-02-30", "没有这一天"),
        ("2099-01-01", "不能晚于今天"),
        ("1900-01-01", "不能早于1921年7月1日"),
        ("2099", "不能晚于今天"),
        ("1800", "不能早于1921年7月1日"),
    ],
)
async def test_bad_dates_are_refused_and_asked_again(harness, typed, message) -> None:
    world = await make_world(harness)
    await _at(harness, world, AT_YEAR)
    calls = await harness.send(USER, typed)
    assert message in calls[-1].text and "哪一年入党" in calls[-1].text
    assert (await _draft(harness)).step == "year"


@pytest.mark.parametrize(
    ("typed", "joined"),
    [("2015年7月1日", "2015-07-01"), ("2015/7/1", "2015-07-01"), ("２０１５０７０１", "2015-07-01")],
)
async def test_a_typed_date_skips_the_pickers(harness, typed, joined) -> None:
    world = await make_world(harness)
    await _at(harness, world, AT_YEAR)
    calls = await harness.send(USER, typed)
    assert "活动证" in calls[-1].text
    assert (await _draft(harness)).data["joined"] == joined


async def test_typed_year_month_and_day_work_at_their_steps(harness) -> None:
    world = await make_world(harness)
    await _at(harness, world, AT_YEAR)
    await play(
        harness,
        USER,
        [
            ("2015", "几月"),
            ("13", "月份应在1到12之间"),
            ("2月", "几日"),
            ("30", "没有这一天"),
            ("28日", "活动证"),
        ],
    )
    assert (await _draft(harness)).data["joined"] == "2015-02-28"


async def test_joining_date_must_fit_the_membership_status(harness) -> None:
    world = await make_world(harness)
    steps = report_in_steps(world.invite_a)
    await play(harness, USER, steps[:7])
    await play(
        harness,
        USER,
        [
            (("press", "预备党员"), "哪一年"),
            ("2015-07-01", ["入党两年以上应为正式党员", "哪一年"]),
            ("2025-07-01", "活动证"),
        ],
    )
    # Changing the status on the summary re-checks the date.
    await play(
        harness,
        USER,
        [(("press", "跳过"), "哪个区"), (("press", "跳过"), "工作单位"), (("press", "跳过"), "请核对")],
    )
    await play(
        harness,
        USER,
        [
            (("press", "改类别"), "正式党员还是预备党员"),
            (("press", "正式党员"), ["入党未满一年应为预备党员", "哪一年"]),
        ],
    )
    await play(harness, USER, [("2020-01-01", "请核对"), (("press", "提交"), "已提交")])
    member = await member_row(harness, USER)
    assert member.party_status == "full" and str(member.joined_party_on) == "2020-01-01"


@pytest.mark.parametrize(("typed", "stored"), [("ab-1234", "AB-1234"), ("ＡＢ１２３４", "AB1234")])
async def test_activity_card_numbers(harness, typed, stored) -> None:
    world = await make_world(harness)
    await _at(harness, world, AT_CARD)
    await harness.send(USER, typed)
    assert (await _draft(harness)).data["card"] == stored


async def test_a_bad_card_number_is_refused(harness) -> None:
    world = await make_world(harness)
    await _at(harness, world, AT_CARD)
    calls = await harness.send(USER, "证号是123")
    assert "4到32位" in calls[-1].text and "活动证" in calls[-1].text
    assert (await _draft(harness)).step == "card"


def test_every_refusal_has_a_message_in_both_languages() -> None:
    cat = catalogue()
    errors = [PhoneInputError, InputError, ContactNotYours, CardInputError, JoinedInputError]
    keys = [f"reg.err.{cls(code).key}" for cls in errors for code in cls.CODES]
    keys += [
        f"reg.err.date.{code}" for code in ("bad_format", "no_such_day", "in_future", "too_old", "bad_month")
    ]
    assert all(DateInputError(k.rsplit(".", 1)[1]) for k in keys if k.startswith("reg.err.date."))
    for key in keys:
        assert cat.text("zh", key) and cat.text("en", key), key


def test_read_contact_and_card_rules() -> None:
    assert read_contact("+86 138 0013 8000", True) == "+8613800138000"
    assert read_contact("8613800138000", True) == "+8613800138000"
    assert read_contact("13800138000", True) == "+8613800138000"
    with pytest.raises(ContactNotYours):
        read_contact("8613800138000", False)
    with pytest.raises(CardInputError):
        read_card("abc")
