"""Every catalogue entry exists in both languages with the same placeholders, and renders."""

from __future__ import annotations

import pytest

from bot.i18n import Catalogue, catalogue, placeholders, resolve_language

CAT = catalogue()


def test_same_keys_in_both_languages() -> None:
    assert CAT.keys("zh") == CAT.keys("en")


@pytest.mark.parametrize("key", sorted(CAT.keys("zh")))
def test_entry_renders_in_both_languages(key: str) -> None:
    zh, en = CAT.raw("zh", key), CAT.raw("en", key)
    assert placeholders(zh) == placeholders(en), key
    values = {name: "X" for name in placeholders(zh)}
    assert CAT.text("zh", key, **values).strip()
    assert CAT.text("en", key, **values).strip()


def test_english_has_no_chinese_by_accident() -> None:
    # The language picker is deliberately bilingual; nothing else in English should be Chinese.
    allowed = {"language.choose"}
    offenders = [
        key
        for key in CAT.keys("en")
        if key not in allowed
        and any("\u4e00" <= ch <= "\u9fff" for ch in CAT.raw("en", key))
        and not key.startswith("btn.")
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("chosen", "client", "expected"),
    [
        (None, None, "zh"),
        (None, "en-US", "en"),
        (None, "zh-hans", "zh"),
        (None, "ru", "zh"),
        ("en", "zh-hans", "en"),
        ("zh", "en", "zh"),
        ("xx", "en", "en"),
    ],
)
def test_resolve_language(chosen: str | None, client: str | None, expected: str) -> None:
    assert resolve_language(chosen, client) == expected


def test_duplicate_key_across_domains_is_refused(tmp_path) -> None:
    for folder in ("zh_Hans", "en"):
        target = tmp_path / folder / "LC_MESSAGES"
        target.mkdir(parents=True)
        entry = 'msgid "a.b"\nmsgstr "x"\n'
        (target / "one.po").write_text(entry)
        (target / "two.po").write_text(entry)
    with pytest.raises(ValueError, match="duplicate"):
        Catalogue(tmp_path)
