"""What the dues screens and forms of members and secretaries share: amounts, months, the rule's
explanation, the category buttons and the typed base, refusals as the step engine's answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal

from bot.conversation import Turn
from bot.dialog import Button, Reply, Screen
from bot.rules.dues import DuesCategory, DuesResult
from bot.rules.errors import DuesInputError, RuleInputError
from bot.services import dues
from bot.steps import Ask, Invalid, Option

CATEGORIES = list(DuesCategory)
CATEGORY_VALUES = frozenset(c.value for c in CATEGORIES)

Rows = tuple[tuple[Button, ...], ...]


def rows_of(buttons: Sequence[Button], width: int) -> Rows:
    return tuple(tuple(buttons[i : i + width]) for i in range(0, len(buttons), width))


def screen(text: str, rows: Rows = (), *, edit: bool = True) -> Reply:
    """One screen; on a button press it replaces the pressed message (a channel may send it anew)."""
    return Reply(screens=(Screen(text, buttons=rows),), edit=edit)


def money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def month(turn: Turn, value: date) -> str:
    return dues.month_label(turn.language, value)


def months(turn: Turn, values: Sequence[date]) -> str:
    return dues.months_label(turn.language, values)


def mon(turn: Turn, value: date) -> str:
    return turn.text(f"dues.mon.{value.month}")


def codes(values: Sequence[date]) -> list[str]:
    return [dues.month_code(m) for m in values]


def from_codes(values: Sequence[str]) -> list[date]:
    return [m for m in (dues.parse_month_code(c) for c in values) if m is not None]


def total_of(amounts: dict[date, Decimal | None], chosen: Sequence[date] | set[date]) -> Decimal:
    return sum((amounts.get(m) or Decimal("0") for m in chosen), Decimal("0.00"))


def refusal(error: Exception) -> Invalid:
    """A dues refusal or a typed value a rule turned down, as the step engine's invalid answer."""
    if isinstance(error, dues.DuesRefused):
        return Invalid(error.key, **error.params)
    if isinstance(error, DuesInputError):
        return Invalid(error.key)
    if isinstance(error, RuleInputError):
        return Invalid(f"dues.{error.key}")
    raise error


@contextmanager
def refused() -> Iterator[None]:
    """Inside: a dues refusal, or typed text a rule turned down, becomes the engine's invalid answer."""
    try:
        yield
    except (dues.DuesRefused, RuleInputError) as error:
        raise refusal(error) from None


def typed(parse: Callable[[str], object]) -> Callable[[Ask, str], str]:
    """A step's parser from a rule's parser of typed text (the value kept as text in the draft)."""

    def run(ask: Ask, text: str) -> str:
        with refused():
            return str(parse(text))

    return run


def error_text(turn: Turn, error: Exception) -> str:
    """The catalogue message of a refusal or of a typed value a rule turned down."""
    why = refusal(error)
    return turn.text(why.key, **why.params)


# --- what the member's declaration and the secretary's override both ask ------------------------------


def category_options(ask: Ask) -> list[Option]:
    return [Option(c.value, ask.text(f"dues.btn.cat.{c.value}")) for c in CATEGORIES]


def base_prompt(ask: Ask) -> str:
    """The base question of the category chosen (wages, annual salary, income or pension)."""
    return ask.text(f"dues.ask_base.{ask.data['category']}")


def parse_base(ask: Ask, text: str) -> str:
    """A typed base for the chosen category, or the rule's reason it is refused."""
    with refused():
        return str(dues.parse_base(ask.data["category"], text))


def base_of(data: dict[str, object]) -> Decimal | None:
    base = data.get("base")
    return Decimal(str(base)) if base else None


# --- months chosen by toggles (the member's report, the secretary's record in person) -----------------


def chosen(data: dict[str, object], amounts: dict[date, Decimal | None]) -> set[date]:
    """The months ticked in a draft that can still be paid."""
    return set(from_codes(data.get("months") or [])) & set(amounts)  # type: ignore[arg-type]


def toggle(data: dict[str, object], amounts: dict[date, Decimal | None], code: int) -> None:
    """Tick or untick one month; a month that cannot be paid (any more) is a stale button."""
    month_ = dues.month_of_code(code)
    if month_ is None or month_ not in amounts:
        raise Invalid("error.stale_button")
    data["months"] = codes(sorted(chosen(data, amounts) ^ {month_}))


def chosen_text(ask: Ask, question: str, amounts: dict[date, Decimal | None]) -> str:
    """The months question, with what is ticked so far and its total."""
    picked = chosen(ask.data, amounts)
    if not picked:
        return question
    total = money(total_of(amounts, picked))
    return question + "\n" + ask.text("dues.chosen", months=months(ask.turn, sorted(picked)), total=total)


def explain(turn: Turn, result: DuesResult | None) -> str:
    """The amount and the line of the rule that produced it."""
    if result is None:
        return turn.text("dues.no_declaration")
    category = turn.text(f"dues.cat.{result.category.value}")
    if result.rate is not None:
        basis = turn.text(
            "dues.basis.rate",
            base=money(result.base),
            rate=dues.rate_label(result.rate),
            bracket=turn.text(f"dues.bracket.{result.bracket.value}"),
        )
    else:
        basis = turn.text(f"dues.basis.{result.bracket.value}")
    text = turn.text("dues.explain", category=category, basis=basis, amount=money(result.amount))
    if result.exempt:
        text += "\n" + turn.text("dues.explain_exempt")
    elif result.reduced:
        text += "\n" + turn.text("dues.explain_reduced", standard=money(result.standard_amount))
    return text


def month_buttons(
    turn: Turn, choices: Sequence[date], chosen: set[date], data: object, *args: object
) -> list[Button]:
    """Month toggles: ✓ on the chosen ones; ``data`` is the action building each button's data."""
    return [
        Button(
            turn.text("dues.btn.month_on" if m in chosen else "dues.btn.month_off", mon=mon(turn, m)),
            data=data.data(*args, int(dues.month_code(m))),  # type: ignore[attr-defined]
        )
        for m in choices
    ]
