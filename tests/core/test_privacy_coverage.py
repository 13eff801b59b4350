"""Every personal field the bot keeps is covered by some feature's /mydata section and eraser.

The test walks every mapped model: a column that is encrypted, or holds free text, must be named in some
feature's `personal_columns` (its data section exports it, its eraser erases it), or be listed below as
not personal, with the reason. A new column that holds a person's words fails here until a feature
covers it.
"""

from __future__ import annotations

from sqlalchemy import Text

from app.features import build_features
from storage.crypto import EncryptedJSON, EncryptedString
from storage.models import Base

# Free text that is not about a member: the branch's and township's own content, the secretary's
# settings, and the bot's own bookkeeping. Each with why.
NOT_PERSONAL = {
    "study_item.text": "the study material the secretary publishes for everyone",
    "outbox_body.payload": "one text shared by every recipient of a notice or reminder; a person's own copy "
    "is a row's payload (erased per row), and unused bodies are deleted by retention",
    "wechat_token.token": "the official account's own API access token, not about any person",
    "material.channel_cache": "a channel's handle to a kept file (a file id), not its content; the row, and "
    "with it the handle, goes when /deleteme erases the person's materials",
}


def _personal_candidates() -> set[str]:
    found = set()
    for mapper in Base.registry.mappers:
        table = mapper.local_table
        for column in table.columns:
            kind = column.type
            if isinstance(kind, EncryptedString | EncryptedJSON | Text) or type(kind) is Text:
                found.add(f"{table.name}.{column.name}")
    return found


def _covered() -> set[str]:
    covered = set()
    for feature in build_features():
        for column in feature.personal_columns:
            covered.add(f"{column.table.name}.{column.name}")
    return covered


def test_every_personal_column_is_exported_and_erased_by_some_feature() -> None:
    missing = _personal_candidates() - _covered() - set(NOT_PERSONAL)
    assert not missing, f"personal columns no feature covers in /mydata and /deleteme: {sorted(missing)}"


def test_the_not_personal_list_names_real_columns() -> None:
    assert set(NOT_PERSONAL) <= _personal_candidates(), set(NOT_PERSONAL) - _personal_candidates()
