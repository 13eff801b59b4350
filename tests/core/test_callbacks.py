"""The callback-data codec: round trips, bounded ids, and forged data decoding to None (stale)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.callbacks import ID_MAX, Callbacks, Id, Int, Word

DEMO = Callbacks("demo")
PAY = DEMO.action("pay", Id)
PAGE = DEMO.action("pg", Word, Int(0, 999))
MENU = DEMO.action("menu")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("demo:pay:42", ("pay", (42,))),
        ("demo:menu", ("menu", ())),
        ("demo:pg:late:3", ("pg", ("late", 3))),
        (f"demo:pay:{ID_MAX}", ("pay", (ID_MAX,))),
    ],
)
def test_decode_known_actions(data, expected):
    press = DEMO.decode(data)
    assert press is not None
    assert (press.action, press.args) == expected


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "demo",
        "demo:",
        "demo:pay",
        "demo:pay:0",
        "demo:pay:-1",
        f"demo:pay:{ID_MAX + 1}",
        "demo:pay:99999999999999999999999",
        "demo:pay:4x",
        "demo:pay:42:extra",
        "demo:pg:late:1000",
        "demo:pg:LATE:1",
        "demo:nope:1",
        "other:pay:1",
        "demo:menu:" + "x" * 80,
    ],
)
def test_forged_or_out_of_range_data_is_stale(data):
    assert DEMO.decode(data) is None


def test_encode_refuses_what_it_could_not_read_back():
    with pytest.raises(ValueError):
        PAY.data(0)
    with pytest.raises(ValueError):
        PAGE.data("Bad Word", 1)
    with pytest.raises(ValueError):
        PAY.data()
    with pytest.raises(ValueError):
        DEMO.action("pay", Id)  # declared twice


@given(st.integers(min_value=1, max_value=ID_MAX), st.from_regex(r"[a-z0-9_]{1,12}", fullmatch=True))
def test_round_trip(number, word):
    assert DEMO.decode(PAY.data(number)).args == (number,)
    assert DEMO.decode(PAGE.data(word, number % 1000)).args == (word, number % 1000)


@given(st.text(max_size=70))
def test_any_text_decodes_or_is_none(text):
    press = DEMO.decode(text)
    assert press is None or press.action in DEMO.actions
