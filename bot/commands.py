"""The bot's commands and who may see them: one list that /help and the command menu are built from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    audience: str  # everyone | member | secretary | agent | admin
    # The catalogue key of the one-line description is always "cmd.<name>".

    @property
    def description_key(self) -> str:
        return f"cmd.{self.name}"


# Order is the order /help shows them in: the member's daily commands first.
COMMANDS: list[Command] = [
    Command("start", "everyone"),
    Command("help", "everyone"),
    Command("language", "everyone"),
]


def commands_for(audiences: set[str]) -> list[Command]:
    return [command for command in COMMANDS if command.audience in audiences]
