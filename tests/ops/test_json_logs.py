"""LOG_FORMAT=json: a whole journey logs one JSON object a line, tagged, with no personal data."""

from __future__ import annotations

import io
import json
import logging
import re
import sys

from bot.config import Settings
from bot.logging import AddContext, JsonFormatter, RedactToken, setup_logging, update_context
from tests.factories import TgUser
from tests.harness import TEST_TOKEN, BotHarness
from tests.registration.helpers import E164, NAME, PHONE, SECRETARY_A, approve, make_world, report_in

CJK = re.compile(r"[\u3400-\u9fff]")


async def test_the_log_of_a_journey(harness: BotHarness) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(TEST_TOKEN))
    handler.addFilter(RedactToken(TEST_TOKEN))
    handler.addFilter(AddContext())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        world = await make_world(harness)
        member = TgUser(6101, "建国", "zh-hans")
        await report_in(harness, member, world.invite_a)
        await approve(harness, member, SECRETARY_A)
        await harness.send(member, "/me")
        await harness.send(member, "/mydata")
        await harness.deliver()
        logging.getLogger("test").warning("token %s in a message", TEST_TOKEN)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)

    lines = stream.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    handled = [e for e in entries if e["logger"] == "branchbot.updates"]
    assert len(handled) >= 18  # one closing line per update of the journey
    for entry in handled:
        assert entry["channel"] == "telegram"
        assert isinstance(entry["update_id"], int)
        assert isinstance(entry["person_id"], int)
        assert entry["duration_ms"] >= 0
        assert entry["result"] == "ok"
    assert len({e["update_id"] for e in handled}) == len(handled)
    # The member's and the secretary's lines carry their own person ids.
    assert len({e["person_id"] for e in handled}) == 2

    text = stream.getvalue()
    for secret in (NAME, PHONE, E164, member.first_name, SECRETARY_A.first_name, TEST_TOKEN, "报到"):
        assert secret not in text
    assert not CJK.search(text), [line for line in lines if CJK.search(line)][:3]
    assert "<token>" in text


def test_json_lines_outside_an_update_and_with_an_exception() -> None:
    formatter = JsonFormatter("123:SECRET")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed for %s", ("phone 138",), None)
    phone = "1380013" + "8000"
    try:
        raise ValueError(f"{phone} is not valid")
    except ValueError:
        record.exc_info = sys.exc_info()
    AddContext().filter(record)
    entry = json.loads(formatter.format(record))
    assert entry["level"] == "ERROR" and entry["exc_type"] == "ValueError"
    assert "update_id" not in entry
    assert "13800138000" not in json.dumps(entry)  # the exception's message is left out

    with update_context("telegram", 42):
        tagged = logging.LogRecord("x", logging.INFO, __file__, 1, "ok", None, None)
        AddContext().filter(tagged)
    assert json.loads(formatter.format(tagged))["update_id"] == 42


def test_log_format_setting() -> None:
    import pytest

    from bot.config import ConfigError, load_settings

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging(Settings(log_format="json"))
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
        setup_logging(Settings())
        assert not isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        load_settings(log_format="xml")
