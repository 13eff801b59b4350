"""Factories for Telegram updates (users, messages, commands, button presses, shared contacts), and for
people known on Telegram (a person with their Telegram account)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

_update_ids = itertools.count(1)
_message_ids = itertools.count(1)


@dataclass(frozen=True)
class TgUser:
    id: int
    first_name: str = "测试"
    language_code: str | None = "zh-hans"
    username: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            data["language_code"] = self.language_code
        if self.username:
            data["username"] = self.username
        return data


def telegram_person(user_id: int, **fields: Any) -> Any:
    """A new person who is the Telegram user ``user_id`` (their account comes with them); their private
    chat is the user id unless ``chat_id`` says otherwise."""
    from storage.models import Account, Person

    fields.setdefault("chat_id", user_id)
    chat = fields["chat_id"]
    account = Account(
        channel="telegram",
        external_id=str(user_id),
        address=str(chat) if chat is not None else None,
        preferred=True,
        unreachable=bool(fields.get("unreachable", False)),
    )
    return Person(accounts=[account], **fields)


def telegram_user(*user_ids: int) -> Any:
    """SQL: the person is (one of) the Telegram user(s) ``user_ids``, found by their account."""
    from sqlalchemy import select

    from storage.models import Account, Person

    return Person.id.in_(
        select(Account.person_id).where(
            Account.channel == "telegram", Account.external_id.in_([str(u) for u in user_ids])
        )
    )


def private_chat(user: TgUser) -> dict[str, Any]:
    return {"id": user.id, "type": "private", "first_name": user.first_name}


def message_dict(
    user: TgUser, *, text: str | None = None, chat: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": chat or private_chat(user),
        "from": user.as_dict(),
    }
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    message.update(extra)
    return message


def message_update(user: TgUser, text: str, *, update_id: int | None = None, **extra: Any) -> dict[str, Any]:
    return {"update_id": update_id or next(_update_ids), "message": message_dict(user, text=text, **extra)}


def contact_update(user: TgUser, phone: str, *, contact_user_id: int | None) -> dict[str, Any]:
    contact: dict[str, Any] = {"phone_number": phone, "first_name": user.first_name}
    if contact_user_id is not None:
        contact["user_id"] = contact_user_id
    return {"update_id": next(_update_ids), "message": message_dict(user, contact=contact)}


def photo_update(user: TgUser, file_id: str = "photo-1", caption: str | None = None) -> dict[str, Any]:
    photo = [{"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 800, "height": 600}]
    extra: dict[str, Any] = {"photo": photo}
    if caption:
        extra["caption"] = caption
    return {"update_id": next(_update_ids), "message": message_dict(user, **extra)}


def document_update(
    user: TgUser, file_id: str = "doc-1", file_name: str = "材料.pdf", caption: str | None = None
) -> dict[str, Any]:
    document = {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_name": file_name}
    extra: dict[str, Any] = {"document": document}
    if caption:
        extra["caption"] = caption
    return {"update_id": next(_update_ids), "message": message_dict(user, **extra)}


def callback_update(
    user: TgUser,
    data: str,
    *,
    message_id: int | None = None,
    message_text: str = "…",
    update_id: int | None = None,
) -> dict[str, Any]:
    bot_message = {
        "message_id": message_id or next(_message_ids),
        "date": int(time.time()),
        "chat": private_chat(user),
        "from": {"id": 777000111, "is_bot": True, "first_name": "BranchBot", "username": "branch_test_bot"},
        "text": message_text,
    }
    return {
        "update_id": update_id or next(_update_ids),
        "callback_query": {
            "id": str(next(_update_ids)),
            "from": user.as_dict(),
            "chat_instance": str(user.id),
            "data": data,
            "message": bot_message,
        },
    }
