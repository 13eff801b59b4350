"""The bot's commands and who may see them: one list that /help and the command menu are built from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    audience: str | tuple[str, ...]  # everyone | nonmember | member | secretary | agent | admin, or several
    # The catalogue key of the one-line description is "cmd.<name>"; a role named here has its own words
    # for the same command ("cmd.<name>.<role>"): a secretary plans the activity day, a member answers it.
    own_words: tuple[str, ...] = ()

    @property
    def audiences(self) -> tuple[str, ...]:
        return (self.audience,) if isinstance(self.audience, str) else self.audience

    @property
    def description_key(self) -> str:
        return f"cmd.{self.name}"

    def description_key_for(self, audiences: set[str]) -> str:
        """The description in the words of this person's role (officers' words first)."""
        for role in self.own_words:
            if role in audiences:
                return f"cmd.{self.name}.{role}"
        return self.description_key


# Order is the order /help shows them in: the member's daily commands first.
COMMANDS: list[Command] = [
    Command("start", "everyone"),
    Command("help", "everyone"),
    Command("language", "everyone"),
    Command("services", "member"),
    Command("requests", "member"),
    Command("apply", "nonmember"),  # a member is one already
    Command("inbox", "agent"),
    Command("catalogue", "agent"),
    Command("servicestats", ("agent", "secretary"), own_words=("secretary",)),
    Command("branchrequests", "secretary"),
    Command("applicants", "secretary"),
    Command("notice", "secretary"),
    Command("me", "member"),
    Command("leave", "member"),
    Command("mydata", "member"),
    Command("deleteme", "member"),
    Command("members", "secretary"),
    Command("export", "secretary"),
    Command("dues", "member"),
    Command("duesadmin", "secretary"),
    Command("activity", ("member", "secretary"), own_words=("secretary",)),
    Command("study", ("member", "secretary"), own_words=("secretary",)),
    Command("report", "secretary"),
    Command("townreport", "agent"),
]


def commands_for(audiences: set[str]) -> list[Command]:
    return [command for command in COMMANDS if audiences.intersection(command.audiences)]
