"""Materials kept by the project: the bytes of every photo or file a person sends (and of documents the
bot makes for a channel that cannot take them otherwise), encrypted at rest in the database.

A flow sees a material only by its reference, ``material:<id>``. A channel that holds its own copy
(Telegram's file id) keeps that id in ``Material.channel_cache`` under a key naming the channel and
the account that owns the copy (``telegram:<bot id>``): only a cache, so a new bot token, or an agent
on another channel, still opens every material from the bytes.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Material

UPLOAD_MAX_BYTES = 20 * 1024 * 1024  # Telegram's bots cannot download more either
UPLOAD_MAX_MB = UPLOAD_MAX_BYTES // (1024 * 1024)
REF_PREFIX = "material:"
PNG, JPEG, PDF = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"%PDF-"
ZIP = b"PK\x03\x04"


def sniff(content: bytes, filename: str | None) -> tuple[str, str]:
    """(kind, mime type) from the bytes, never from the name: a picture is a photo, the rest a document."""
    if content.startswith(PNG):
        return "photo", "image/png"
    if content.startswith(JPEG):
        return "photo", "image/jpeg"
    if content.startswith(PDF):
        return "document", "application/pdf"
    if content.startswith(ZIP):
        name = (filename or "").lower()
        if name.endswith(".xlsx"):
            return "document", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if name.endswith(".docx"):
            return "document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        return "document", "application/zip"
    try:
        content.decode("utf-8")
        return "document", "text/plain"
    except UnicodeDecodeError:
        return "document", "application/octet-stream"


def material_ref(material_id: int) -> str:
    return f"{REF_PREFIX}{material_id}"


def material_id_of(ref: str | None) -> int | None:
    """The material a media reference names; None for anything else (an older channel file id)."""
    if not ref or not ref.startswith(REF_PREFIX):
        return None
    rest = ref[len(REF_PREFIX) :]
    return int(rest) if rest.isdecimal() else None


async def store_material(
    session: AsyncSession,
    person_id: int | None,
    kind: str,
    filename: str | None,
    mime: str,
    content: bytes,
    *,
    uploaded: bool,
    now: Any,
    cache: dict[str, str] | None = None,
) -> Material:
    """Keep one file (flushed, so its id is known); ``cache`` names copies a channel already holds."""
    material = Material(
        person_id=person_id,
        kind=kind,
        filename=filename,
        mime_type=mime,
        size=len(content),
        content=base64.b64encode(content).decode("ascii"),
        uploaded=uploaded,
        channel_cache=dict(cache) if cache else None,
        created_at=now,
    )
    session.add(material)
    await session.flush()
    return material


def material_bytes(material: Material) -> bytes:
    return base64.b64decode(material.content)


def cached_ref(material: Material, key: str) -> str | None:
    """A channel's own reference to this material (``key``: channel and account), if it has one."""
    return (material.channel_cache or {}).get(key)


def remember_ref(material: Material, key: str, ref: str) -> None:
    """Note a channel's own reference to this material, to send it again without the bytes."""
    material.channel_cache = {**(material.channel_cache or {}), key: ref}  # a new dict: a visible change
