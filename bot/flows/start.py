"""/start, /help and /language: greet, follow an invite link, resume an open report-in, list commands."""

from __future__ import annotations

from sqlalchemy import bindparam, update

from bot.callbacks import Callbacks, Word
from bot.commands import commands_for
from bot.conversation import Feature, Turn
from bot.dialog import Button, Reply
from bot.flows import registration
from bot.i18n import LANGUAGES
from storage.models import Person

INVITE_PREFIX = "j_"
LANG = Callbacks("lang")
SET_LANGUAGE = LANG.action("set", Word)
# The chosen language, written by a statement built once, on the connection (no ORM update to set up).
_SET_LANGUAGE = update(Person).where(Person.id == bindparam("person")).values(language=bindparam("language"))


def help_text(turn: Turn) -> str:
    lines = [turn.text("help.intro")]
    audiences = turn.actor.audiences
    for command in commands_for(audiences):
        lines.append(f"/{command.name} — {turn.text(command.description_key_for(audiences))}")
    return "\n".join(lines)


async def start(turn: Turn) -> Reply:
    """Follow an invite link (j_<code>), else resume an open report-in, else greet with the commands."""
    args = turn.inbound.args
    if args and args[0].startswith(INVITE_PREFIX):
        return await registration.open_invite(turn, args[0][len(INVITE_PREFIX) :])
    reply = await registration.start(turn)
    if reply is not None:
        return reply
    return Reply.say(turn.text("start.welcome") + "\n\n" + help_text(turn))


async def show_help(turn: Turn) -> Reply:
    """List the commands this person's roles allow."""
    return Reply.say(help_text(turn))


async def choose_language(turn: Turn) -> Reply:
    """Show the two language buttons."""
    row = tuple(
        Button(turn.catalogue.text(lang, "language.name"), data=SET_LANGUAGE.data(lang)) for lang in LANGUAGES
    )
    return Reply.say(turn.text("language.choose"), buttons=(row,))


async def set_language(turn: Turn) -> Reply:
    """Store the chosen language and confirm in it."""
    press = LANG.decode(turn.inbound.data)
    if press is None or press[0] not in LANGUAGES:
        return Reply(toast=turn.text("error.stale_button"))
    language = press[0]
    connection = await turn.session.connection()
    await connection.execute(_SET_LANGUAGE, {"person": turn.actor.person_id, "language": language})
    return Reply.say(turn.catalogue.text(language, "language.set"))


FEATURE = Feature(
    name="start",
    commands={"start": start, "help": show_help, "language": choose_language},
    buttons={LANG.prefix: set_language},
)
