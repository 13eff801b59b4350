"""Forms as data: a flow declares its steps, and one engine asks them, keeps the draft in SQL and
handles 返回, 取消, 修改 from the confirmation, stale buttons and expired drafts, in the same words
for every form.

A `Form` is a list of `Step`s and a `Confirm`. A step has a prompt (a catalogue key and a function
giving its placeholders), buttons (`options`, each a value) and/or a typed-input parser (`parse`, or
`receive` for contacts and files) that returns a value or raises `Invalid` with the catalogue key
saying why, the next step (a name, or a function of the value) and its back target. The answers live
in the form's `Draft` row (flow = the form's name), so a form survives restarts and days of silence;
a draft left alone longer than `expires` is dropped with one clear message.

Button data is ``<prefix>:<action>[:<value>]`` in the flow's own codec (`bot.callbacks`): each step's
option buttons have their own action, the engine adds ``back:<step>``, ``ed:<step>`` and the form's
cancel and submit actions. A press that does not fit the draft (another step, an old screen, a value
not offered, no draft at all) is stale: the person is told so and shown where the form is now.

While one answer is changed from the confirmation (修改), answering it returns to the confirmation,
unless the next step belongs to the same answer (`part_of`: the month after the year of a birth date,
the payer's name after "someone else paid"); 返回 also leads back to the confirmation.

A short form may end without a confirmation: a step (or a local button) going to `SUBMIT` submits
the answers at once, as 提交 would (a typed value it refuses asks that step again under the reason).
A form with no `Confirm` at all (or a `Confirm` without a prompt: its `submit` is then the form's) ends
that way on every path: this suits a form of one question whose answer is the whole message (a leave
reason), where a check screen would only repeat what was just typed.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from bot.callbacks import Action, Callbacks, Field, Word
from bot.conversation import Turn
from bot.dialog import Button, Inbound, Reply, Screen, already_done
from bot.i18n import LANGUAGES
from bot.services import drafts
from bot.services.drafts import OpenDraft

CONFIRM = "confirm"  # the confirmation step of every form
EXIT = "<exit>"  # a back target: leave the form for the screen the form was started from
SUBMIT = "<submit>"  # a next target: the answers are complete, submitted at once without a confirmation
EDITING = "_editing"  # draft data: the step the confirmation sent the person back to change
Rows = Sequence[Sequence[Button]]


class Invalid(Exception):
    """An answer the step refuses: a catalogue key (and its placeholders) saying why. The step is asked
    again under that line (a typed answer), or the press is answered with it as a short toast."""

    def __init__(self, key: str, /, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class Closed(Exception):
    """An answer that ends the form (too young to apply, say): the draft is dropped and this is said,
    with ``rows`` of buttons under it when there is a way on (read the notice again, apply instead)."""

    def __init__(self, key: str, /, *, rows: Rows = (), **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params
        self.rows = tuple(tuple(row) for row in rows)


@dataclass
class Ask:
    """What a step's functions see: the turn and the draft's answers so far (``data``; changes made by
    ``store``, ``next`` and local buttons are saved with the step the form moves to)."""

    turn: Turn
    data: dict[str, Any]
    step: str
    memo: dict[str, Any] = field(default_factory=dict)  # one render's or one answer's shared look-ups

    def text(self, key: str, /, **params: object) -> str:
        return self.turn.text(key, **params)

    @property
    def today(self) -> date:
        return self.turn.now.astimezone(self.turn.settings.tz).date()

    async def once(self, key: str, make: Callable[[], Awaitable[Any]]) -> Any:
        """``make()`` awaited once for this ask (a screen's text and buttons often need the same rows)."""
        if key not in self.memo:
            self.memo[key] = await make()
        return self.memo[key]


@dataclass(frozen=True)
class Option:
    """One button of a step: the value it answers with and its label (already in the person's language)."""

    value: Any
    label: str


@dataclass(frozen=True)
class Local:
    """A button of a step that works on the draft without answering it: another page of options, a
    toggle of a multiple choice, "next" after one. ``run(ask, *values)`` changes ``ask.data`` and returns
    None (the step is shown again, updated) or the step to go to; `Invalid` answers with a toast."""

    action: str
    run: Callable[..., Any]
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True)
class Step:
    """One question of a form."""

    name: str
    prompt: str | Callable[[Ask], Any]  # a catalogue key, or a function giving the whole text
    params: Callable[[Ask], Any] | None = None  # the prompt's placeholders
    options: Callable[[Ask], Any] | None = None  # -> the Options offered as buttons
    action: str | None = None  # the option buttons' action in the codec (default: the step's name)
    value: Field = Word  # the type of an option's value in button data
    per_row: int = 1
    rows: Callable[[Ask], Any] | None = None  # more buttons under the options (a pager, "next")
    locals: tuple[Local, ...] = ()
    parse: Callable[[Ask, str], Any] | None = None  # typed text -> value, or raise Invalid
    receive: Callable[[Ask, Inbound], Any] | None = None  # any input (a contact, a photo) -> value
    store: Callable[[Ask, Any], Any] | None = None  # keep the value (default: data[name] = value)
    next: str | Callable[[Ask, Any], Any] = CONFIRM
    back: str | Callable[[Ask], Any] | None = None  # None: the first question, only 取消 leads out
    part_of: str | None = None  # the step whose answer this one completes (see the module's doc)
    field: str | None = None  # a catalogue key naming the answer: a 修改 button on the confirmation
    editable: Callable[[Ask], bool] | None = None  # whether that button is offered for these answers
    edit_label: str | None = None  # its label, when not "修改<field>"
    edit_action: str | None = None  # its own action, when not ``ed:<name>``
    contact: str | None = None  # the label of a "share my number" keyboard button shown with the prompt
    # After an answer to that question: the line that takes the keyboard away (default "好的。"), saying
    # what was kept ("手机号已记录：138 0013 8000").
    saved: Callable[[Ask], str] | None = None


@dataclass(frozen=True)
class Confirm:
    """The last screen: what was entered, 提交, a 修改 button per answer, 返回 and 取消. Without a prompt
    there is no such screen: the form is submitted as soon as its last answer is given (as if it had no
    `Confirm` and ``submit`` were the form's own; see the module's doc)."""

    prompt: str | Callable[[Ask], Any] | None
    submit: Callable[[Ask], Awaitable[Reply]]  # Invalid: incomplete, the check stays; else the draft goes
    params: Callable[[Ask], Any] | None = None
    back: str | Callable[[Ask], Any] | None = None
    # Input sent at the check (a form that is one growing list: materials): change ``ask.data`` or raise
    # Invalid; without it, input there is answered "please use the buttons".
    receive: Callable[[Ask, Inbound], Any] | None = None
    submit_action: str = "sub"
    submit_label: str = "steps.submit"  # the submit button's catalogue key (发布 for what goes to everyone)
    edits_per_row: int = 3


async def _call(function: Callable[..., Any] | None, *args: Any, default: Any = None) -> Any:
    """Call a step's function, sync or async."""
    if function is None:
        return default
    result = function(*args)
    return await result if inspect.isawaitable(result) else result


def _declare(codec: Callbacks, name: str, *fields: Field) -> Action:
    """The codec's action ``name`` (declared here unless the feature declared it already, the same way)."""
    existing = codec.actions.get(name)
    if existing is None:
        return codec.action(name, *fields)
    if existing.fields != tuple(fields):
        raise ValueError(f"{codec.prefix}:{name} is declared with other fields")
    return existing


class Form:
    """A flow's form: its steps as data, run by one engine (see the module's docstring)."""

    def __init__(
        self,
        name: str,
        codec: Callbacks,
        steps: Sequence[Step],
        confirm: Confirm | None,
        *,
        again: str | Callable[[Turn, Mapping[str, Any]], str],
        submit: Callable[[Ask], Awaitable[Reply]] | None = None,
        first: str | None = None,
        expires: timedelta | None = timedelta(days=30),
        exit: Callable[[Turn], Awaitable[Reply]] | None = None,
        back_action: str = "back",
        cancel_action: str = "x",
        edit_action: str = "ed",
    ) -> None:
        self.name = name
        if confirm is not None and confirm.prompt is None:  # no check screen: the last answer submits
            submit, confirm = submit or confirm.submit, None
        self.codec = codec
        self.steps: dict[str, Step] = {}
        self.confirm = confirm
        # what a step going to SUBMIT runs (``ask.step`` names that step): the form's own, or 提交's
        self.finish = submit or (confirm.submit if confirm is not None else None)
        if self.finish is None:
            raise ValueError(f"{name}: a form without a confirmation needs a submit")
        # How to start the form again (a command, or a function of the turn and the draft's answers giving
        # the words), said when it is cancelled or expired.
        self.again = again
        self.first = first or steps[0].name
        self.expires = expires
        self.exit = exit
        self.back = _declare(codec, back_action, Word)
        self.cancel = _declare(codec, cancel_action)
        self.edit = _declare(codec, edit_action, Word)
        self.submit = _declare(codec, confirm.submit_action) if confirm is not None else None
        # action name -> (what it does, the step it belongs to, the local button if one)
        self._routes: dict[str, tuple[str, str | None, Local | None]] = {
            self.back.name: ("back", None, None),
            self.cancel.name: ("cancel", None, None),
            self.edit.name: ("edit", None, None),
        }
        if self.submit is not None:
            self._routes[self.submit.name] = ("submit", None, None)
        self._option_actions: dict[str, Action] = {}
        self._edit_actions: dict[str, Action] = {}
        for step in steps:
            if step.name in self.steps or step.name in (CONFIRM, EXIT, SUBMIT) or len(step.name) > 24:
                raise ValueError(f"{name}: bad or repeated step name {step.name!r}")
            if step.field is not None and confirm is None:
                raise ValueError(f"{name}: {step.name!r} has a 修改 button but the form has no check")
            self.steps[step.name] = step
            routes: list[tuple[str, str, Local | None, tuple[Field, ...]]] = []
            if step.options is not None:
                routes.append((step.action or step.name, "option", None, (step.value,)))
            routes += [(local.action, "local", local, local.fields) for local in step.locals]
            if step.field is not None and step.edit_action is not None:
                routes.append((step.edit_action, "edit_one", None, ()))
            for action_name, kind, local, fields in routes:
                if action_name in self._routes:
                    raise ValueError(f"{name}: action {action_name!r} used twice")
                action = _declare(codec, action_name, *fields)
                self._routes[action_name] = (kind, step.name, local)
                if kind == "option":
                    self._option_actions[step.name] = action
                elif kind == "edit_one":
                    self._edit_actions[step.name] = action

    # -- what a flow calls -----------------------------------------------------------------------------

    def owns(self, data: str | None) -> bool:
        """Whether a press is one of this form's buttons (its other actions belong to the flow)."""
        press = self.codec.decode(data)
        return press is not None and press.action in self._routes

    async def start(
        self,
        turn: Turn,
        data: Mapping[str, Any] | None = None,
        step: str | None = None,
        *,
        edit: bool | None = None,
    ) -> Reply:
        """Open the form (a new draft, replacing any earlier one) and ask its first question, in place of
        the pressed screen unless ``edit`` is False (a notice the form was opened from stays readable)."""
        target = step or self.first
        answers = dict(data or {})
        await self._save(turn, target, answers)
        pressed = turn.inbound.data is not None if edit is None else edit
        return await self._show(turn, target, answers, pressed=pressed)

    async def draft(self, turn: Turn) -> OpenDraft | None:
        return await drafts.get_draft(turn.session, turn.actor.person_id, self.name)

    def is_live(self, turn: Turn, draft: OpenDraft) -> bool:
        """Whether ``resume`` would ask the draft's question again (not expired, a step the form knows)."""
        return not self._expired(turn, draft) and self._known(draft.step)

    async def resume(self, turn: Turn, draft: OpenDraft | None = None) -> Reply | None:
        """Ask the open draft's current question again (it becomes the form typed input goes to); None
        when no draft is open, and the expiry message when it was left too long. ``draft``: the open
        draft when the caller has just read it (``draft(turn)``), so it is not read again."""
        if draft is None:
            draft = await self.draft(turn)
        if draft is None:
            return None
        if not self.is_live(turn, draft):
            return await self._expire(turn, draft)
        await self._save(turn, draft.step, dict(draft.data))
        return await self._show(turn, draft.step, dict(draft.data), pressed=turn.inbound.data is not None)

    async def on_button(self, turn: Turn) -> Reply | None:
        """A press of one of the form's buttons; None when the press is not one (the flow handles it)."""
        press = self.codec.decode(turn.inbound.data)
        if press is None or press.action not in self._routes:
            return None
        kind, step_name, local = self._routes[press.action]
        draft = await self.draft(turn)
        if draft is None:
            # A double tap on 提交 or 取消 is normal; any other button of a closed form is stale.
            return already_done(turn.language) if kind in ("submit", "cancel") else self._stale(turn)
        if self._expired(turn, draft) or not self._known(draft.step):
            return await self._expire(turn, draft)
        if kind == "cancel":
            return await self._cancel(turn, draft)
        if kind == "back":
            if press[0] != draft.step:
                return await self._stale_at(turn, draft)
            return await self._back(turn, draft)
        if kind == "submit":
            if draft.step != CONFIRM:
                return await self._stale_at(turn, draft)
            return await self._submit(turn, draft)
        if kind in ("edit", "edit_one"):
            target = press[0] if kind == "edit" else step_name
            ask = Ask(turn, dict(draft.data), draft.step)
            if draft.step != CONFIRM or target not in await self._editable(ask):
                return await self._stale_at(turn, draft)
            ask.data[EDITING] = target
            await self._save(turn, target, ask.data)
            return await self._show(turn, target, ask.data, pressed=True)
        assert step_name is not None
        if draft.step != step_name:
            return await self._stale_at(turn, draft)
        step = self.steps[step_name]
        ask = Ask(turn, dict(draft.data), step_name)
        if kind == "option":
            offered = await _call(step.options, ask, default=())
            if press[0] not in {option.value for option in offered}:
                return await self._stale_at(turn, draft)
            return await self._answer(turn, draft, step, ask, press[0], pressed=True)
        assert local is not None
        try:
            target = await _call(local.run, ask, *press.args)
        except Invalid as why:
            return Reply(toast=turn.text(why.key, **why.params))
        if target is None:
            await self._save(turn, step_name, ask.data)
            return await self._show(turn, step_name, ask.data, pressed=True)
        return await self._move(turn, step, ask, target, pressed=True)

    async def on_input(self, turn: Turn) -> Reply:
        """Typed text, a shared contact, a photo or file sent while this form is the open one."""
        draft = (
            turn.draft if turn.draft is not None and turn.draft.flow == self.name else await self.draft(turn)
        )
        if draft is None:
            return turn.say("forms.nothing_open")
        if self._expired(turn, draft) or not self._known(draft.step):
            return await self._expire(turn, draft)
        inbound = turn.inbound
        if _is_label(turn, inbound.text, "common.cancel"):
            return await self._cancel(turn, draft)
        if _is_label(turn, inbound.text, "common.back"):
            if await self._back_target(Ask(turn, dict(draft.data), draft.step)) is None:
                return await self._again(turn, draft, Invalid("steps.first_step"))
            return await self._back(turn, draft)
        if draft.step == CONFIRM:
            return await self._collect(turn, draft)
        step = self.steps[draft.step]
        ask = Ask(turn, dict(draft.data), draft.step)
        try:
            if step.receive is not None:
                value = await _call(step.receive, ask, inbound)
            elif step.parse is not None and inbound.text is not None:
                value = await _call(step.parse, ask, inbound.text)
            elif step.parse is not None:
                raise Invalid("steps.send_text")
            else:
                raise Invalid("steps.use_buttons")
        except Invalid as why:
            return await self._again(turn, draft, why)
        except Closed as end:
            return await self._close(turn, draft, end, pressed=False)
        return await self._answer(turn, draft, step, ask, value, pressed=False)

    async def _collect(self, turn: Turn, draft: OpenDraft) -> Reply:
        """Input at the check: kept by the confirmation's ``receive`` (a list of materials grows), or
        refused (the check is answered with its buttons)."""
        assert self.confirm is not None
        if self.confirm.receive is None:
            return await self._again(turn, draft, Invalid("steps.use_buttons"))
        ask = Ask(turn, dict(draft.data), CONFIRM)
        try:
            await _call(self.confirm.receive, ask, turn.inbound)
        except Invalid as why:
            return await self._again(turn, draft, why)
        await self._save(turn, CONFIRM, ask.data)
        return await self._show(turn, CONFIRM, ask.data, pressed=False)

    def screen_data(self, step: str, value: Any) -> str:
        """The data of an option button of ``step`` (for a flow that builds such buttons itself)."""
        return self._option_actions[step].data(value)

    def local_data(self, action: str, *values: Any) -> str:
        """The data of a local button (declared by a step's `Local`)."""
        return self.codec.actions[action].data(*values)

    # -- the engine ------------------------------------------------------------------------------------

    def _known(self, step: str) -> bool:
        return (step == CONFIRM and self.confirm is not None) or step in self.steps

    def _expired(self, turn: Turn, draft: OpenDraft) -> bool:
        return self.expires is not None and turn.now - draft.updated_at > self.expires

    def _again_words(self, turn: Turn, draft: OpenDraft) -> str:
        return self.again if isinstance(self.again, str) else self.again(turn, dict(draft.data))

    async def _expire(self, turn: Turn, draft: OpenDraft) -> Reply:
        """A draft left too long (or from an older version of the form): dropped, and said so."""
        await drafts.clear_draft(turn.session, turn.actor.person_id, self.name)
        days = self.expires.days if self.expires is not None else 0
        text = turn.text("steps.expired", days=days, again=self._again_words(turn, draft))
        return Reply(screens=(Screen(text, remove_keyboard=turn.inbound.data is None),), edit=True)

    async def _save(self, turn: Turn, step: str, data: dict[str, Any]) -> None:
        await drafts.save_draft(turn.session, turn.actor.person_id, self.name, step, data, now=turn.now)

    def _stale(self, turn: Turn) -> Reply:
        """A button of a form that is not open any more: the pressed screen says so, its buttons go."""
        text = turn.text("error.stale_button")
        return Reply(screens=(Screen(text),), toast=text, edit=True)

    async def _stale_at(self, turn: Turn, draft: OpenDraft) -> Reply:
        """A button that does not fit where the form is: said, with the current question again."""
        text = turn.text("error.stale_button")
        screen = await self._screen(turn, draft.step, dict(draft.data), note=text)
        return Reply(screens=(screen,), toast=text, edit=False)

    async def _cancel(self, turn: Turn, draft: OpenDraft) -> Reply:
        await drafts.clear_draft(turn.session, turn.actor.person_id, self.name)
        step = self.steps.get(draft.step)
        text = turn.text("steps.cancelled", again=self._again_words(turn, draft))
        screen = Screen(text, remove_keyboard=step is not None and step.contact is not None)
        return Reply(screens=(screen,), edit=turn.inbound.data is not None)

    async def _close(self, turn: Turn, draft: OpenDraft, end: Closed, *, pressed: bool) -> Reply:
        await drafts.clear_draft(turn.session, turn.actor.person_id, self.name)
        step = self.steps.get(draft.step)
        contact = step is not None and step.contact is not None
        screen = Screen(turn.text(end.key, **end.params), end.rows, remove_keyboard=contact)
        return Reply(screens=(screen,), edit=pressed)

    async def _back_target(self, ask: Ask) -> str | None:
        if ask.step == CONFIRM:
            return await self._resolve(self.confirm.back if self.confirm else None, ask)
        step = self.steps[ask.step]
        if ask.data.get(EDITING) and step.part_of is None:
            return CONFIRM
        return await self._resolve(step.back, ask)

    async def _resolve(self, target: str | Callable[[Ask], Any] | None, ask: Ask) -> str | None:
        return target if target is None or isinstance(target, str) else await _call(target, ask)

    async def _back(self, turn: Turn, draft: OpenDraft) -> Reply:
        """返回: the previous question (the confirmation, while one answer is being changed); answers stay."""
        left = draft.step  # (saving below moves the same draft row on)
        ask = Ask(turn, dict(draft.data), left)
        target = await self._back_target(ask)
        if target is None:
            return await self._stale_at(turn, draft)
        if target == EXIT:
            await drafts.clear_draft(turn.session, turn.actor.person_id, self.name)
            if self.exit is None:
                return turn.say("steps.cancelled", again=self._again_words(turn, draft))
            reply = await self.exit(turn)
            left_step = self.steps.get(draft.step)
            if left_step is not None and left_step.contact is not None:  # the share-number keyboard goes
                closed = Screen(turn.text("steps.keyboard_closed"), remove_keyboard=True)
                reply = replace(reply, screens=(closed, *reply.screens), edit=False)
            return reply
        if target == CONFIRM:
            ask.data.pop(EDITING, None)
        await self._save(turn, target, ask.data)
        return await self._show(turn, target, ask.data, left=left, pressed=turn.inbound.data is not None)

    async def _answer(
        self, turn: Turn, draft: OpenDraft, step: Step, ask: Ask, value: Any, *, pressed: bool
    ) -> Reply:
        try:
            if step.store is not None:
                await _call(step.store, ask, value)
            else:
                ask.data[step.name] = value
            target = step.next if isinstance(step.next, str) else await _call(step.next, ask, value)
        except Invalid as why:
            return await self._again(turn, draft, why, pressed=pressed)
        except Closed as end:
            return await self._close(turn, draft, end, pressed=pressed)
        return await self._move(turn, step, ask, target, pressed=pressed)

    async def _move(self, turn: Turn, step: Step, ask: Ask, target: str, *, pressed: bool) -> Reply:
        """Go on from an answered step: to ``target``, or back to the confirmation while changing one
        answer (unless ``target`` is part of the same answer)."""
        if target == SUBMIT or (target == CONFIRM and self.confirm is None):
            return await self._finish(turn, step, ask, pressed=pressed)
        if (target != CONFIRM or self.confirm is None) and target not in self.steps:
            raise ValueError(f"{self.name}: no step {target!r}")
        if ask.data.get(EDITING) and (target == CONFIRM or self.steps[target].part_of is None):
            target = CONFIRM
        if target == CONFIRM:
            ask.data.pop(EDITING, None)
        await self._save(turn, target, ask.data)
        return await self._show(turn, target, ask.data, left=step.name, pressed=pressed, answered=True)

    async def _again(self, turn: Turn, draft: OpenDraft, why: Invalid, *, pressed: bool = False) -> Reply:
        """A refused answer: why, above the same question (a new message after typed input)."""
        note = turn.text(why.key, **why.params)
        screen = await self._screen(turn, draft.step, dict(draft.data), note=note)
        return Reply(screens=(screen,), edit=pressed)

    async def _finish(self, turn: Turn, step: Step, ask: Ask, *, pressed: bool) -> Reply:
        """A step going to SUBMIT: the answers are submitted at once and the draft goes with them; a
        refusal (`Invalid`) asks that step again under the reason, nothing kept of the refused answer."""
        done = Ask(turn, ask.data, step.name, ask.memo)
        try:
            assert self.finish is not None
            reply = await self.finish(done)
        except Invalid as why:
            draft = await self.draft(turn)
            assert draft is not None
            return await self._again(turn, draft, why, pressed=pressed)
        except Closed as end:
            await drafts.clear_draft(turn.session, turn.actor.person_id, self.name)
            screen = Screen(turn.text(end.key, **end.params), remove_keyboard=step.contact is not None)
            return Reply(screens=(screen,), edit=pressed)
        await drafts.clear_draft(turn.session, turn.actor.person_id, self.name)
        return reply

    async def _submit(self, turn: Turn, draft: OpenDraft) -> Reply:
        """提交: the draft is dropped with the submission, so a second tap finds nothing and changes
        nothing; a submission refused as incomplete (`Invalid`) keeps the form open at its check."""
        ask = Ask(turn, dict(draft.data), CONFIRM)
        try:
            assert self.confirm is not None
            reply = await self.confirm.submit(ask)
        except Invalid as why:
            return await self._again(turn, draft, why, pressed=True)
        except Closed as end:
            return await self._close(turn, draft, end, pressed=True)
        await drafts.clear_draft(turn.session, turn.actor.person_id, self.name)
        return reply

    async def _editable(self, ask: Ask) -> list[str]:
        """The steps whose answer the confirmation offers to change, in the form's order."""
        names = []
        for step in self.steps.values():
            if step.field is not None and await _call(step.editable, ask, default=True):
                names.append(step.name)
        return names

    async def _show(
        self,
        turn: Turn,
        step: str,
        data: dict[str, Any],
        *,
        left: str | None = None,
        pressed: bool,
        answered: bool = False,
    ) -> Reply:
        """Ask ``step``; leaving a question that showed the "share my number" keyboard takes it away."""
        screens = []
        came_from = self.steps.get(left or "")
        if came_from is not None and came_from.contact is not None:
            going_to = self.steps.get(step)
            if going_to is None or going_to.contact is None:
                if answered and came_from.saved is not None:
                    line = await _call(came_from.saved, Ask(turn, dict(data), came_from.name))
                else:
                    line = turn.text("steps.keyboard_closed")
                screens.append(Screen(line, remove_keyboard=True))
        screens.append(await self._screen(turn, step, data))
        return Reply(screens=tuple(screens), edit=pressed)

    def _nav(self, turn: Turn, step: str, has_back: bool) -> tuple[Button, ...]:
        row = []
        if has_back:
            row.append(Button(turn.text("common.back"), data=self.back.data(step)))
        row.append(Button(turn.text("common.cancel"), data=self.cancel.data()))
        return tuple(row)

    async def _screen(
        self, turn: Turn, step_name: str, data: dict[str, Any], note: str | None = None
    ) -> Screen:
        """The question of one step with its buttons (and the line that kept the form there, if any)."""
        ask = Ask(turn, dict(data), step_name)
        has_back = await self._back_target(ask) is not None
        rows: list[tuple[Button, ...]] = []
        if step_name == CONFIRM:
            assert self.confirm is not None and self.submit is not None
            text = await self._prompt(ask, self.confirm.prompt, self.confirm.params)
            rows.append((Button(turn.text(self.confirm.submit_label), data=self.submit.data()),))
            edits = []
            for name in await self._editable(ask):
                step = self.steps[name]
                label = (
                    turn.text(step.edit_label)
                    if step.edit_label
                    else turn.text("steps.edit", field=turn.text(step.field or name))
                )
                action = self._edit_actions.get(name)
                edits.append(Button(label, data=action.data() if action else self.edit.data(name)))
            rows += _rows(edits, self.confirm.edits_per_row)
        else:
            step = self.steps[step_name]
            text = await self._prompt(ask, step.prompt, step.params)
            if step.contact is not None:
                text = f"{note}\n{text}" if note else text
                labels = (turn.text(step.contact), turn.text("common.back"), turn.text("common.cancel"))
                return Screen(text, contact=labels)
            if step.options is not None:
                action = self._option_actions[step_name]
                offered = await _call(step.options, ask, default=())
                rows += _rows(
                    [Button(o.label[:60], data=action.data(o.value)) for o in offered], step.per_row
                )
            rows += [tuple(row) for row in await _call(step.rows, ask, default=())]
        rows.append(self._nav(turn, step_name, has_back))
        text = f"{note}\n{text}" if note else text
        return Screen(text, tuple(row for row in rows if row))

    async def _prompt(
        self, ask: Ask, prompt: str | Callable[[Ask], Any], params: Callable[[Ask], Any] | None
    ) -> str:
        if not isinstance(prompt, str):
            return str(await _call(prompt, ask))
        return ask.text(prompt, **(await _call(params, ask, default={})))


def _rows(buttons: Sequence[Button], per_row: int) -> list[tuple[Button, ...]]:
    return [tuple(buttons[i : i + per_row]) for i in range(0, len(buttons), max(per_row, 1))]


def _is_label(turn: Turn, text: str | None, key: str) -> bool:
    """Whether typed text is a button's label (返回, 取消) in either language: a keyboard button or the
    word typed instead of pressed."""
    wanted = " ".join((text or "").split())
    return bool(wanted) and any(wanted == turn.catalogue.text(language, key) for language in LANGUAGES)


def _as_typed(ask: Ask, text: str) -> str:
    return text


def question(
    name: str,
    codec: Callbacks,
    answer: str,
    prompt: str,
    submit: Callable[[Ask], Awaitable[Reply]],
    *,
    again: str | Callable[[Turn, Mapping[str, Any]], str],
    actions: str,
) -> Form:
    """A form of one typed question and no check: the answer (kept as ``data[answer]``) is submitted at
    once. ``actions`` prefixes the form's own 返回 and 取消 actions (``<actions>b``, ``<actions>q``), so a
    press finds the form it belongs to."""
    return Form(
        name,
        codec,
        [Step(answer, prompt, parse=_as_typed)],
        Confirm(None, submit),
        again=again,
        back_action=f"{actions}b",
        cancel_action=f"{actions}q",
    )
