"""Route typed input (text, photo, document, shared contact) to the sender's open form.

Forms are not PTB ConversationHandlers: their state is a `Draft` row in SQL, so a half-filled form
survives restarts, several instances and days of silence. Each feature registers one input callback
per flow in `handlers/registry.py`; the callback receives the draft it owns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update

from bot.services.drafts import active_draft
from handlers.context import BotContext, with_session
from storage.models import Draft

FormInput = Callable[[Update, BotContext, Draft], Awaitable[Any]]


class FormRouter:
    """One callback per flow name; the person's most recent draft decides which one runs."""

    def __init__(self, flows: dict[str, FormInput]) -> None:
        self.flows = flows

    async def __call__(self, update: Update, context: BotContext) -> None:
        # with_session wraps a plain (update, context) callable, so it wraps the bound method here.
        await with_session(self._route)(update, context)

    async def _route(self, update: Update, context: BotContext) -> None:
        draft = await active_draft(context.session, context.actor.person_id, set(self.flows))
        if draft is None:
            await update.effective_message.reply_text(context.text("forms.nothing_open"))
            return
        await self.flows[draft.flow](update, context, draft)
