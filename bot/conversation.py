"""The channel-neutral conversation core: one inbound event in, one `Reply` out, in one transaction.

A channel adapter (Telegram today; the web chat and WeChat next) turns what it receives into a
`Sender` (who, on which channel) and an `Inbound` (what), calls `Conversation.handle`, and renders
the `Reply`. The core never knows which channel it serves.

Features plug in as `Feature` objects (one list, built by the composition root in ``app/``): their
commands, button prefixes, form flows (typed input for an open `Draft`), reminder kinds, export
sheets, broadcast audiences, the /mydata section and the eraser. Routing:

* a command goes to the feature that declares it; an unknown one gets a pointer to /help;
* a button press goes by its data's prefix (``prefix:action:...``); an unknown one is stale;
* anything else (text, a shared contact, a photo or file, a sticker ...) goes to the person's most
  recently touched open form; with no form open, a pointer to /help.

One session and at most one commit per event: the person is found or created, their roles loaded,
the flow runs, the redelivery record is written last (so a read-only event takes no write lock until
its very end), then one commit. A redelivered event rolls the whole transaction back and answers
nothing. The last-seen touch is written at most once a minute per person.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.dialog import Inbound, Media, Reply, Screen
from bot.i18n import Catalogue, catalogue, resolve_language
from bot.logging import set_person
from bot.services import drafts
from bot.services.identity import Actor, actor_for
from storage.db import Database
from storage.dialect import built_once, dialect_insert
from storage.models import Account, Draft, HandledUpdate, Member, Person, RoleGrant

logger = logging.getLogger(__name__)

TOUCH_EVERY = timedelta(minutes=1)
UNREAD = object()  # the open form was not read with the person (route reads it)
TELEGRAM = "telegram"

# The statements every event runs, built once: building a select costs more than running it on SQLite.
# They run on the session's connection (same transaction), skipping the ORM's per-statement set-up.
_ACTOR_COLUMNS = (
    Person.id,
    Person.language,
    Person.client_language,
    Person.chat_id,
    Person.unreachable,
    Person.last_seen_at,
    Account.id,
    Account.address,
    Account.unreachable,
    Member.id,
    Member.branch_id,
    Member.state,
    RoleGrant.role,
    RoleGrant.branch_id,
    RoleGrant.township_id,
)


def _actor_select(handled_before: Any) -> Any:
    """The person, account, member row and roles of a sender, after a first column saying whether the
    event was handled before."""
    return (
        select(handled_before, *_ACTOR_COLUMNS)
        .join(Account, Account.person_id == Person.id)
        .outerjoin(Member, Member.person_id == Person.id)
        .outerjoin(RoleGrant, RoleGrant.person_id == Person.id)
        .where(Account.channel == bindparam("channel"), Account.external_id == bindparam("external_id"))
    )


# SQLite: asks whether the redelivery record exists; the record is written at the end of the event, so
# a read-only event takes the database's write lock only for its last statement. NULL matches nothing.
_ACTOR = _actor_select(exists().where(HandledUpdate.update_id == bindparam("event_id")))
# PostgreSQL: writes the record in the same statement (a row lock on one key, no database lock), one
# round trip less per event; "handled before" when the insert found the key taken. A second worker
# handling the same event waits on that key until the first commits, then finds it taken.
_CLAIMED = (
    postgresql.insert(HandledUpdate)
    .values(update_id=bindparam("event_id"), handled_at=bindparam("now"))
    .on_conflict_do_nothing(index_elements=["update_id"])
    .returning(HandledUpdate.update_id)
    .cte("claimed")
)
_ACTOR_CLAIMING = _actor_select(~exists(select(_CLAIMED.c.update_id)))
# The redelivery record's INSERT ... ON CONFLICT DO NOTHING.
_HANDLED = built_once(
    lambda dialect: dialect_insert(dialect, HandledUpdate).on_conflict_do_nothing(
        index_elements=["update_id"]
    )
)
_TOUCH_PERSON = update(Person).where(Person.id == bindparam("person")).values(last_seen_at=bindparam("now"))
_TOUCH_ACCOUNT = (
    update(Account).where(Account.id == bindparam("account")).values(last_inbound_at=bindparam("now"))
)


def _both(person: Any, account: Any) -> Any:
    """PostgreSQL: a person's and an account's UPDATE as one statement (the account's a data-modifying
    CTE of the person's), one round trip instead of two."""
    return person.add_cte(account.returning(Account.id).cte("account_written"))


_TOUCH_BOTH = _both(_TOUCH_PERSON, _TOUCH_ACCOUNT)


@dataclass(frozen=True)
class Sender:
    """Who an inbound event comes from, as the channel knows them."""

    channel: str  # "telegram" | "web" | "wechat"
    external_id: str  # the channel's id of the person (a Telegram user id as text, an openid ...)
    address: str | None = None  # where replies to this person go on that channel (a private chat id)
    client_language: str | None = None  # what the person's app says their language is


@dataclass
class Turn:
    """One inbound event as a flow sees it: the open session, the acting person, the event, the time."""

    session: AsyncSession
    actor: Actor
    inbound: Inbound
    now: datetime
    settings: Settings
    catalogue: Catalogue
    sender: Sender
    draft: drafts.OpenDraft | None = None  # the open form this input belongs to (form handlers only)

    @property
    def language(self) -> str:
        return self.actor.language

    def text(self, key: str, /, **params: object) -> str:
        """A catalogue text in the acting person's language."""
        return self.catalogue.text(self.actor.language, key, **params)

    def say(self, key: str, /, **params: object) -> Reply:
        return Reply.say(self.text(key, **params))


Handler = Callable[[Turn], Awaitable[Reply]]


@dataclass(frozen=True)
class Uploader:
    """The person an upload is kept for, and the language to refuse it in (too large)."""

    person_id: int
    language: str


@dataclass(frozen=True)
class Feature:
    """What one feature plugs into the bot. Everything is optional but the name."""

    name: str
    commands: Mapping[str, Handler] = field(default_factory=dict)
    buttons: Mapping[str, Handler] = field(default_factory=dict)  # callback-data prefix -> handler
    forms: Mapping[str, Handler] = field(default_factory=dict)  # Draft.flow -> typed-input handler
    reminder_kinds: Sequence[Any] = ()
    export_sheets: Sequence[Any] = ()
    audiences: Sequence[Any] = ()
    # /mydata: async (session, person_id, language) -> {section title: rows}; /deleteme: async
    # (session, person_id, now) -> None. Every personal column is covered by one of them (a test checks).
    data_section: Callable[..., Awaitable[Any]] | None = None
    eraser: Callable[..., Awaitable[None]] | None = None
    personal_columns: Sequence[Any] = ()  # the columns its data_section and eraser cover


class Conversation:
    """Routes inbound events to the features' handlers, one transaction each."""

    def __init__(
        self,
        features: Sequence[Feature],
        *,
        db: Database,
        clock: Clock,
        settings: Settings,
        texts: Catalogue | None = None,
    ) -> None:
        self.features = tuple(features)
        self.db = db
        self.clock = clock
        self.settings = settings
        self.catalogue = texts or catalogue()
        self.commands: dict[str, Handler] = {}
        self.buttons: dict[str, Handler] = {}
        self.forms: dict[str, Handler] = {}
        self._postgresql = db.dialect == "postgresql"
        for feature in self.features:
            for table, plugged in (
                (self.commands, feature.commands),
                (self.buttons, feature.buttons),
                (self.forms, feature.forms),
            ):
                for key, handler in plugged.items():
                    if key in table:
                        raise ValueError(f"{feature.name}: {key!r} is plugged in twice")
                    table[key] = handler
        # The person's most recently touched open form, built once for these forms.
        self._active_draft = drafts.latest_statement(sorted(self.forms))
        # For typed input (text, a contact, a file: no command, no button) that form comes with the person
        # in the first select, one statement less for every answer typed into a form.
        latest = (
            select(Draft.id)
            .where(Draft.person_id == Person.id, Draft.flow.in_(sorted(self.forms)))
            .order_by(Draft.updated_at.desc(), Draft.id.desc())
            .limit(1)
            .correlate(Person)
            .scalar_subquery()
        )
        self._actor_statements = {
            (claiming, typed): (
                base.add_columns(*drafts.COLUMNS).outerjoin(Draft, Draft.id == latest) if typed else base
            )
            for claiming, base in ((False, _ACTOR), (True, _ACTOR_CLAIMING))
            for typed in (False, True)
        }

    async def handle(self, sender: Sender, inbound: Inbound, *, event_id: int | None = None) -> Reply | None:
        """Handle one event; None when it was handled before (a redelivery) and must do nothing."""
        now = self.clock.now()
        async with self.db.session() as session:
            typed = inbound.command is None and inbound.data is None
            found = await self._actor(session, sender, now, event_id, typed)
            if found is None:
                logger.info("event %s already handled, skipped", event_id)
                return None
            touch, actor, claimed, draft = found
            set_person(actor.person_id)  # the log lines of this event carry who it was (an id, never a name)
            turn = Turn(session, actor, inbound, now, self.settings, self.catalogue, sender)
            reply = await self.route(turn, draft)
            if event_id is not None and not claimed:
                connection = await session.connection()
                result = await connection.execute(
                    _HANDLED(session), {"update_id": event_id, "handled_at": now}
                )
                if (result.rowcount or 0) < 1:  # the same event handled meanwhile by another worker
                    await session.rollback()
                    logger.info("event %s already handled, skipped", event_id)
                    return None
            if touch is not None:
                connection = await session.connection()
                values = {"person": touch[0], "account": touch[1], "now": now}
                if self._postgresql:
                    await connection.execute(_TOUCH_BOTH, values)
                else:
                    await connection.execute(_TOUCH_PERSON, values)
                    await connection.execute(_TOUCH_ACCOUNT, values)
            await session.commit()
        return reply

    async def uploader(self, sender: Sender, *, event_id: int | None = None) -> Uploader | None:
        """Who a photo or file from ``sender`` would be kept for: a known person with a form open (the
        core hands media only to an open form), unless the event was handled before. A channel asks
        this before it fetches the bytes, so a stray picture is never downloaded."""
        query = (
            select(Person.id, Person.language, Person.client_language)
            .join(Account, Account.person_id == Person.id)
            .where(Account.channel == sender.channel, Account.external_id == sender.external_id)
        )
        query = query.where(exists().where(Draft.person_id == Person.id, Draft.flow.in_(set(self.forms))))
        if event_id is not None:
            query = query.where(~exists().where(HandledUpdate.update_id == event_id))
        async with self.db.session() as session:
            row = (await session.execute(query.limit(1))).first()
        if row is None:
            return None
        return Uploader(row[0], resolve_language(row[1], row[2] or sender.client_language))

    async def keep_upload(
        self,
        uploader: Uploader,
        media: Media,
        content: bytes,
        *,
        cache: Mapping[str, str] | None = None,
    ) -> Media:
        """Keep an upload's bytes (encrypted, `bot.services.materials`) for the person a channel fetched
        them for, and give the flows its ``material:<id>`` reference; the type comes from the bytes, never
        from the name. ``cache``: the channel's own file id, kept beside it only to send it again."""
        from bot.services.materials import material_ref, sniff, store_material

        _, mime = sniff(content, media.filename)
        filename = (media.filename or "")[:200] or None
        async with self.db.session() as session:
            material = await store_material(
                session,
                uploader.person_id,
                media.kind,
                filename,
                mime,
                content,
                uploaded=True,
                now=self.clock.now(),
                cache=dict(cache or {}),
            )
            await session.commit()
        return replace(media, ref=material_ref(material.id), mime_type=mime, size=len(content))

    async def route(self, turn: Turn, draft: Any = UNREAD) -> Reply:
        """The handler's reply. ``draft``: typed input's open form when the caller read it already."""
        inbound = turn.inbound
        if inbound.command is not None:
            handler = self.commands.get(inbound.command)
            return await handler(turn) if handler is not None else turn.say("error.unknown_command")
        if inbound.data is not None:
            handler = self.buttons.get(inbound.data.partition(":")[0])
            if handler is None:
                return Reply(toast=turn.text("error.stale_button"))
            return await handler(turn)
        if draft is UNREAD:
            draft = await drafts.fetch(turn.session, self._active_draft, {"person": turn.actor.person_id})
        if not isinstance(draft, drafts.OpenDraft):
            key = "forms.nothing_open" if inbound.text is not None else "error.unknown_input"
            return turn.say(key)
        return await self.forms[draft.flow](replace(turn, draft=draft))

    async def _actor(
        self, session: AsyncSession, sender: Sender, now: datetime, event_id: int | None, typed: bool = False
    ) -> tuple[tuple[int, int] | None, Actor, bool, Any] | None:
        """Find (or create) the person with their member row and roles, in one query that also asks
        whether this event was handled before (on PostgreSQL: records it); None for a redelivered event.
        With the actor come the (person id, account id) whose last-seen touch is due at the end of the
        event, if one is, whether the redelivery record is written already, and for ``typed`` input the
        open form it goes to (None: no form open; ``UNREAD`` when it was not read here)."""
        # A person is found by their account on the sender's channel (one unique index); the columns are
        # read as plain values (no ORM objects, no decryption of the member's personal fields), one row
        # per role (a person has at most one member row).
        connection = await session.connection()
        parameters = {"event_id": event_id, "channel": sender.channel, "external_id": sender.external_id}
        claiming = self._postgresql and event_id is not None
        if claiming:
            parameters["now"] = now
        rows = (await connection.execute(self._actor_statements[claiming, typed], parameters)).all()
        if not rows:
            if claiming:
                await session.rollback()  # a first event: the record is written at its end, as on SQLite
            found = await self._new_person(session, sender, now, event_id)
            return None if found is None else (*found, False, UNREAD)
        first = rows[0]
        if first[0]:
            return None
        (_, person_id, chosen, client, chat_id, unreachable, last_seen, account_id, address, account_off) = (
            first[:10]
        )
        person_values: dict[str, Any] = {}
        account_values: dict[str, Any] = {}
        pending: tuple[int, int] | None = None
        language = (sender.client_language or "")[:16] or None
        if client != language:
            person_values["client_language"] = client = language
        if sender.address is not None and (address != sender.address or account_off):
            account_values.update(address=sender.address, unreachable=False)  # they wrote, so reachable
            if sender.channel == TELEGRAM and int(sender.address) > 0:
                if chat_id != int(sender.address) or unreachable:
                    person_values.update(chat_id=int(sender.address), unreachable=False)
        touch = last_seen is None or now - last_seen >= TOUCH_EVERY
        if person_values or account_values:  # rare, and a flow may read them: written now
            if touch:
                person_values["last_seen_at"] = account_values["last_inbound_at"] = now
            await self._write_person(session, person_id, person_values, account_id, account_values)
        elif touch:  # the once-a-minute touch waits for the end, so a read-only event writes late
            pending = (person_id, account_id)
        actor = Actor(
            person_id=person_id,
            language=resolve_language(chosen, client),
            grants=frozenset((str(r[13]), r[14], r[15]) for r in rows if r[13] is not None),
            member_id=first[10],
            member_branch_id=first[11],
            member_state=first[12],
        )
        draft = UNREAD
        if typed:
            draft = None if first[16] is None else drafts.OpenDraft(*first[16:22])
        return pending, actor, claiming, draft

    async def _write_person(
        self,
        session: AsyncSession,
        person_id: int,
        person_values: dict[str, Any],
        account_id: int,
        account_values: dict[str, Any],
    ) -> None:
        connection = await session.connection()
        person = account = None
        if person_values:
            person = update(Person).where(Person.id == person_id).values(**person_values)
        if account_values:
            account = update(Account).where(Account.id == account_id).values(**account_values)
        if person is not None and account is not None and self._postgresql:
            await connection.execute(_both(person, account))
            return
        for statement in (person, account):
            if statement is not None:
                await connection.execute(statement)

    async def _new_person(
        self, session: AsyncSession, sender: Sender, now: datetime, event_id: int | None
    ) -> tuple[None, Actor] | None:
        """The first event from an account: a person for it, or the account added to its person."""
        if event_id is not None and await session.get(HandledUpdate, event_id) is not None:
            return None
        # A new person is committed at once, so a refusal that rolls back cannot lose them.
        person = Person(created_at=now, last_seen_at=now)
        person.client_language = (sender.client_language or "")[:16] or None
        session.add(person)
        await session.flush()
        account = Account(
            person_id=person.id,
            channel=sender.channel,
            external_id=sender.external_id,
            preferred=True,  # a person's first account is where their messages go
            last_inbound_at=now,
        )
        if sender.address is not None:
            account.address = sender.address
            account.unreachable = False
            if sender.channel == TELEGRAM and int(sender.address) > 0:
                person.chat_id = int(sender.address)
                person.unreachable = False
        session.add(account)
        await session.commit()
        return None, await actor_for(session, person, None)


def screens(*texts: str) -> Reply:
    """Several plain messages in a row (rarely needed: most answers are one screen)."""
    return Reply(screens=tuple(Screen(text) for text in texts))
