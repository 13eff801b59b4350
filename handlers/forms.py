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

    def __init__(
        self, flows: dict[str, FormInput], core: Callable[[Update, BotContext], Awaitable[Any]]
    ) -> None:
        self.flows = flows
        self.core = core

    async def __call__(self, update: Update, context: BotContext) -> None:
        # with_session wraps a plain (update, context) callable, so it wraps the bound method here.
        if not await with_session(self._route)(update, context):
            await self.core(update, context)

    async def _route(self, update: Update, context: BotContext) -> bool:
        """Run the Telegram-side form whose draft is the person's latest; False: the core's turn."""
        forms = set(self.flows) | set(context.deps.conversation.forms)
        draft = await active_draft(context.session, context.actor.person_id, forms)
        if draft is None or draft.flow not in self.flows:
            await context.session.commit()
            return False
        await self.flows[draft.flow](update, context, draft)
        return True
