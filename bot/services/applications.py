"""Applications to join the party (入党申请) from migrant workers who are not members.

The applicant gives the least the branch needs: birth date (18 or older), name, mobile phone, home township
and the application letter (typed, or a photo or file of the handwritten one). The application goes to the
remote branch's secretaries and to the home township's agents. The branch must send someone to talk with
the applicant within one month (发展党员工作细则 art. 7); the secretary records the talk and moves the stage
申请 → 积极分子 → 发展对象 → 预备党员 → 正式党员, one step at a time, and the applicant is told each stage.
An applicant sees only their own application: never a member, a roster or another applicant.

Decisions where the brief left room:
- Which branch: the branch of the invite link the person opened (registration's report-in form holds
  it; that form is closed when they say they are not a member), else the only branch if there is one,
  else the person picks from the list of branches (names and cities are public; nothing about members).
- The one-month talk deadline is the same day of the next month in the branch's time zone, clamped to the
  month's last day (31 January → 28/29 February), and passes at the end of that day.
- Moving beyond 申请 needs the talk recorded first: the talk is how the branch gets to know the applicant.
- One application per person (UNIQUE person): a second /apply shows the stage of the first.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import t
from bot.rules.dates import PARTY_FOUNDED, last_day, month_add, parse_date
from bot.rules.errors import DateInputError, InputError, PhoneInputError
from bot.rules.phone import normalize_mobile
from bot.rules.validate import ADULT_AGE, age_on, check_age_at_least, clean_name, clean_short_text
from bot.services import audit, drafts
from bot.services.identity import Actor, language_of
from bot.services.outbox import Button, Outgoing, enqueue, notify_person, route_to
from bot.services.registration import display_phone
from bot.services.relay import agents_of, secretaries_of
from storage.dialect import insert_ignore
from storage.models import (
    STAGE_ORDER,
    ApplicationStage,
    Branch,
    JoinApplication,
    JoinStageEvent,
    OutboxMessage,
    OutboxStatus,
    Person,
    Township,
)

FLOW_APPLY = "apply"
REGISTER_FLOW = "register"  # bot.services.registration.FLOW: the report-in form an invite link opens
MAX_LETTER = 3500  # one Telegram message with its header stays under the 4096-character limit
LIST_LIMIT = 30
# The personal columns of an application: /mydata shows them (data_section), /deleteme removes the row.
PERSONAL_COLUMNS = (
    JoinApplication.name,
    JoinApplication.phone,
    JoinApplication.birth_date,
    JoinApplication.letter_text,
    JoinApplication.letter_file_id,
    JoinApplication.letter_filename,
)


class ApplyError(Exception):
    """A refused step of an application; ``key`` is the catalogue message to show."""

    SHARED_KEYS = {
        "not_allowed": "error.not_allowed",
        "stale": "error.stale_button",
        "already_done": "common.already_done",
    }

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params

    @property
    def key(self) -> str:
        return self.SHARED_KEYS.get(self.code, f"apply.error.{self.code}")


# -- pure rules --------------------------------------------------------------------------------------------


def talk_deadline(submitted_at: datetime, tz: ZoneInfo) -> tuple[date, datetime]:
    """(the last local day for the talk, the instant it is late): one calendar month, clamped."""
    day = submitted_at.astimezone(tz).date()
    year, month = month_add(day.year, day.month, 1)
    due_on = date(year, month, min(day.day, last_day(year, month)))
    return due_on, datetime.combine(due_on + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)


def next_stage(stage: str) -> ApplicationStage | None:
    order = [str(s) for s in STAGE_ORDER]
    if stage not in order or order.index(stage) == len(order) - 1:
        return None
    return STAGE_ORDER[order.index(stage) + 1]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Asia/Shanghai")


# -- plain values ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationView:
    id: int
    stage: str
    branch_id: int
    branch_name: str
    township_name: str
    submitted_at: datetime
    talk_due_on: date
    talk_done: bool
    talk_late: bool
    name: str
    phone: str
    birth_date: str
    age: int
    letter_kind: str
    letter_text: str | None
    letter_file_id: str | None
    letter_filename: str | None


@dataclass(frozen=True)
class Summary:
    """The open form's answers, for the applicant's confirmation screen."""

    name: str
    phone: str
    birth_date: str
    township_name: str
    branch_name: str
    letter_kind: str


async def _view(session: AsyncSession, app: JoinApplication, now: datetime) -> ApplicationView:
    branch = await session.get(Branch, app.branch_id)
    township = await session.get(Township, app.township_id)
    today = now.astimezone(_zone(branch.timezone if branch else "Asia/Shanghai")).date()
    return ApplicationView(
        id=app.id,
        stage=app.stage,
        branch_id=app.branch_id,
        branch_name=branch.name if branch else "?",
        township_name=township.name if township else "?",
        submitted_at=app.submitted_at,
        talk_due_on=app.talk_due_on,
        talk_done=app.talk_done_at is not None,
        talk_late=app.talk_done_at is None and now >= app.talk_due_at,
        name=app.name,
        phone=app.phone,
        birth_date=app.birth_date,
        age=age_on(date.fromisoformat(app.birth_date), today),
        letter_kind=app.letter_kind,
        letter_text=app.letter_text,
        letter_file_id=app.letter_file_id,
        letter_filename=app.letter_filename,
    )


# -- the applicant's form (its steps are declared in bot/flows/applications.py) ---------------------------


async def _take_invite_branch(session: AsyncSession, person_id: int) -> int | None:
    """The branch whose invite link the person opened, from the report-in form it started.

    That form is registration's draft (flow ``register``, holding ``branch_id``); a person who answers
    "I am not a member" will not report in, so the form is closed here and /start stops offering it.
    """
    draft = await drafts.get_draft(session, person_id, REGISTER_FLOW)
    if draft is None:
        return None
    branch_id = draft.data.get("branch_id")
    await drafts.clear_draft(session, person_id, REGISTER_FLOW)
    return branch_id if isinstance(branch_id, int) else None


async def existing(session: AsyncSession, actor: Actor, now: datetime) -> ApplicationView | None:
    """The person's application if they have applied; refused for a member (nothing to apply for)."""
    if actor.is_member:
        raise ApplyError("already_member")
    app = await session.scalar(select(JoinApplication).where(JoinApplication.person_id == actor.person_id))
    return await _view(session, app, now) if app is not None else None


async def first_answers(session: AsyncSession, actor: Actor) -> dict[str, Any]:
    """What a new form starts with: the branch of the invite the person came by, if any."""
    data: dict[str, Any] = {}
    invite_branch = await _take_invite_branch(session, actor.person_id)
    if invite_branch is not None:
        data["branch_id"] = invite_branch
    audit.record(session, actor_person_id=actor.person_id, action="apply.begin")
    return data


async def choices(session: AsyncSession, step: str) -> list[tuple[int, str]]:
    """The buttons of a choice step: townships, or branches with their city."""
    if step == "township":
        rows = await session.execute(select(Township.id, Township.name).order_by(Township.id))
        return [(i, n) for i, n in rows]
    if step == "branch":
        rows = await session.execute(select(Branch.id, Branch.name, Branch.city).order_by(Branch.id))
        return [(i, f"{n}（{c}）") for i, n, c in rows]
    return []


async def after_township(session: AsyncSession, data: dict[str, Any]) -> str:
    """The step after the home township: the branch, unless the invite or the only branch gives it."""
    if "branch_id" in data:
        return "letter"
    branches = list(await session.scalars(select(Branch.id).order_by(Branch.id).limit(2)))
    if len(branches) == 1:
        data["branch_id"] = branches[0]
        return "letter"
    data["branch_picked"] = True  # the applicant picks it: going back from the letter asks it again
    return "branch"


YEAR_PAGES = 6  # pages of year buttons: adults from 18 to about 90
YEARS_PER_PAGE = 12


def birth_years(today: date, page: int) -> list[int]:
    """The year buttons of one page, newest first: the newest is the year an 18-year-old was born."""
    newest = today.year - ADULT_AGE - page * YEARS_PER_PAGE
    return [year for year in range(newest, newest - YEARS_PER_PAGE, -1) if year >= PARTY_FOUNDED.year]


def _small_number(text: str | None, low: int, high: int) -> int | None:
    cleaned = unicodedata.normalize("NFKC", text or "").strip().removesuffix("年").removesuffix("月")
    cleaned = cleaned.removesuffix("日").removesuffix("号").strip()
    if not cleaned.isascii() or not cleaned.isdigit() or len(cleaned) > 4:
        return None
    number = int(cleaned)
    return number if low <= number <= high else None


def read_birth(text: str, part: str, today: date) -> date | int:
    """A birth date typed whole at any of its steps, or the bare year, month or day its step asks for."""
    try:
        return parse_date(text, today=today)
    except DateInputError as exc:
        if exc.code != "bad_format":
            raise ApplyError(f"date_{exc.code}") from None
    low, high = {"year": (PARTY_FOUNDED.year, today.year), "month": (1, 12)}.get(part, (1, 31))
    number = _small_number(text, low, high)
    if number is None:
        raise ApplyError("date_bad_format")
    return number


def birth_from_parts(data: dict[str, Any], day: int) -> date:
    try:
        return date(int(data["birth_year"]), int(data["birth_month"]), day)
    except (KeyError, ValueError):
        raise ApplyError("date_no_such_day") from None


def keep_birth(session: AsyncSession, actor: Actor, data: dict[str, Any], born: date, today: date) -> None:
    """Keep a complete birth date (18 or older); ``too_young`` ends the form (audited)."""
    if born > today:
        raise ApplyError("date_in_future")
    if not check_age_at_least(born, today):
        audit.record(session, actor_person_id=actor.person_id, action="apply.too_young", result="refused")
        raise ApplyError("too_young")
    data["birth_date"] = born.isoformat()
    for key in ("birth_year", "birth_month", "year_page"):
        data.pop(key, None)


def read_name(text: str) -> str:
    try:
        return clean_name(text)
    except InputError as exc:
        raise ApplyError(f"name_{exc.code}") from None


def read_phone(
    session: AsyncSession, actor: Actor, *, text: str | None, contact_phone: str | None, contact_is_own: bool
) -> str:
    """The applicant's mobile number, typed or shared; a shared contact counts only when the channel
    vouched that it is the sender's own."""
    if contact_phone is not None:
        if not contact_is_own:
            audit.record(session, actor_person_id=actor.person_id, action="apply.contact", result="denied")
            raise ApplyError("not_your_contact")
        raw = contact_phone
    elif text is not None:
        raw = text
    else:
        raise ApplyError("phone_not_a_number")
    try:
        return normalize_mobile(raw)
    except PhoneInputError as exc:
        raise ApplyError(f"phone_{exc.code}") from None


def read_letter(
    *, text: str | None, file_kind: str | None, file_id: str | None, filename: str | None, mime: str | None
) -> dict[str, Any]:
    """The application letter: a photo or file of the handwritten one, or typed text."""
    if file_kind in ("photo", "document") and file_id:
        return {"kind": file_kind, "file_id": file_id[:255], "filename": filename, "mime": mime}
    if text is None:
        raise ApplyError("letter_empty")
    try:
        letter = clean_short_text(text, MAX_LETTER, multiline=True)
    except InputError as exc:
        raise ApplyError(f"letter_{'too_long' if exc.code == 'too_long' else 'empty'}") from None
    return {"kind": "text", "text": letter}


async def summary(session: AsyncSession, data: dict[str, Any]) -> Summary:
    """The form's answers, for the applicant's confirmation screen."""
    township = await session.get(Township, data.get("township_id") or 0)
    branch = await session.get(Branch, data.get("branch_id") or 0)
    return Summary(
        name=str(data.get("name", "")),
        phone=str(data.get("phone", "")),
        birth_date=str(data.get("birth_date", "")),
        township_name=township.name if township else "?",
        branch_name=branch.name if branch else "?",
        letter_kind=str((data.get("letter") or {}).get("kind", "")),
    )


ANSWERS = ("branch_id", "township_id", "name", "phone", "birth_date", "letter")


async def submit(session: AsyncSession, actor: Actor, data: dict[str, Any], now: datetime) -> ApplicationView:
    """Turn the confirmed answers into an application and relay it to the branch and the home township."""
    if actor.is_member:
        raise ApplyError("already_member")
    if any(key not in data for key in ANSWERS):
        raise ApplyError("stale")
    branch = await session.get(Branch, data["branch_id"])
    township = await session.get(Township, data["township_id"])
    if branch is None or township is None:
        raise ApplyError("stale")
    due_on, due_at = talk_deadline(now, _zone(branch.timezone))
    letter = data["letter"]
    inserted = await insert_ignore(
        session,
        JoinApplication,
        {
            "person_id": actor.person_id,
            "branch_id": branch.id,
            "township_id": township.id,
            "name": data["name"],
            "phone": data["phone"],
            "birth_date": data["birth_date"],
            "letter_kind": letter["kind"],
            "letter_text": letter.get("text"),
            "letter_file_id": letter.get("file_id"),
            "letter_filename": letter.get("filename"),
            "letter_mime": letter.get("mime"),
            "stage": ApplicationStage.APPLIED,
            "submitted_at": now,
            "talk_due_on": due_on,
            "talk_due_at": due_at,
            "stage_changed_at": now,
            "updated_at": now,
        },
        ["person_id"],
    )
    if not inserted:
        raise ApplyError("already_done")
    app = await session.scalar(select(JoinApplication).where(JoinApplication.person_id == actor.person_id))
    await insert_ignore(
        session,
        JoinStageEvent,
        {
            "application_id": app.id,
            "stage": ApplicationStage.APPLIED,
            "actor_person_id": actor.person_id,
            "at": now,
        },
        ["application_id", "stage"],
    )
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="apply.submit",
        target_type="join_application",
        target_id=app.id,
        branch_id=branch.id,
    )
    view = await _view(session, app, now)
    await _relay(session, app, view, now)
    return view


async def _relay(session: AsyncSession, app: JoinApplication, view: ApplicationView, now: datetime) -> None:
    """The application with its letter to the branch's secretaries and the home township's agents."""
    source = f"apply:{app.id}:submit"
    secretaries = await secretaries_of(session, app.branch_id)
    agents = await agents_of(session, app.township_id)
    for person, role in [(p, "branch") for p in secretaries] + [(p, "township") for p in agents]:
        route = await route_to(session, person)
        if route is None:
            continue
        language = language_of(person)
        buttons = (
            ((Button(t(language, "btn.apply.talked"), data=f"jn:talk:{app.id}"),),)
            if role == "branch"
            else ()
        )
        await notify_person(
            session,
            person,
            source=f"{source}:{role[0]}",
            key=f"apply.{role}.new",
            buttons=buttons,
            id=app.id,
            name=view.name,
            phone=display_phone(view.phone),
            age=view.age,
            township=view.township_name,
            branch=view.branch_name,
            due=view.talk_due_on.isoformat(),
            not_before=now,
        )
        caption = t(language, "apply.letter_caption", id=app.id, name=view.name)
        if app.letter_kind == "text":
            message = Outgoing(text=f"{caption}\n\n{app.letter_text}")
        else:
            message = Outgoing(
                text=caption,
                media_kind=app.letter_kind,
                media_ref=app.letter_file_id,
                filename=app.letter_filename,
            )
        await enqueue(
            session,
            source=f"{source}:{role[0]}:letter",
            **route,
            person_id=person.id,
            message=message,
            not_before=now,
        )


async def my_application(session: AsyncSession, actor: Actor, now: datetime) -> ApplicationView | None:
    app = await session.scalar(select(JoinApplication).where(JoinApplication.person_id == actor.person_id))
    return await _view(session, app, now) if app is not None else None


# -- the secretary's side ----------------------------------------------------------------------------------


async def _secretary_app(
    session: AsyncSession, actor: Actor, app_id: int, action: str, *, lock: bool = False
) -> JoinApplication:
    query = select(JoinApplication).where(JoinApplication.id == app_id)
    if lock:
        query = query.with_for_update()
    app = await session.scalar(query)
    if app is None or not actor.leads_branch(app.branch_id):
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action=action,
            target_type="join_application",
            target_id=app_id,
            result="denied",
        )
        raise ApplyError("not_allowed")
    return app


async def applicants(session: AsyncSession, actor: Actor, now: datetime) -> list[ApplicationView]:
    """The applications to the branches the actor leads, the ones waiting for their talk first."""
    if not actor.secretary_branches:
        raise ApplyError("not_allowed")
    rows = await session.scalars(
        select(JoinApplication)
        .where(JoinApplication.branch_id.in_(actor.secretary_branches))
        .order_by(JoinApplication.talk_done_at.is_not(None), JoinApplication.talk_due_at, JoinApplication.id)
        .limit(LIST_LIMIT)
    )
    return [await _view(session, app, now) for app in rows]


async def applicant(session: AsyncSession, actor: Actor, app_id: int, now: datetime) -> ApplicationView:
    return await _view(session, await _secretary_app(session, actor, app_id, "apply.view"), now)


async def record_talk(session: AsyncSession, actor: Actor, app_id: int, now: datetime) -> ApplicationView:
    """Note that someone from the branch has talked with the applicant; the deadline chase stops."""
    app = await _secretary_app(session, actor, app_id, "apply.talk", lock=True)
    if app.talk_done_at is not None:
        raise ApplyError("already_done")
    app.talk_done_at = now
    app.talk_by_person_id = actor.person_id
    app.updated_at = now
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="apply.talk",
        target_type="join_application",
        target_id=app.id,
        branch_id=app.branch_id,
    )
    return await _view(session, app, now)


async def advance(
    session: AsyncSession, actor: Actor, app_id: int, stage: str, now: datetime
) -> ApplicationView:
    """Move the application to the next stage; the applicant and the home township are told."""
    app = await _secretary_app(session, actor, app_id, "apply.stage", lock=True)
    if stage not in {str(s) for s in STAGE_ORDER}:
        raise ApplyError("stale")
    if app.stage == stage:
        raise ApplyError("already_done")
    if next_stage(app.stage) != stage:
        raise ApplyError("stale")
    if app.talk_done_at is None:
        raise ApplyError("talk_first")
    inserted = await insert_ignore(
        session,
        JoinStageEvent,
        {"application_id": app.id, "stage": stage, "actor_person_id": actor.person_id, "at": now},
        ["application_id", "stage"],
    )
    if not inserted:
        # Unreachable in a normal race (the row is locked and its stage checked first): the event rolls
        # back rather than commit a half-made step.
        raise RuntimeError(f"application {app.id}: stage {stage} recorded twice")
    app.stage = stage
    app.stage_changed_at = now
    app.updated_at = now
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=f"apply.stage.{stage}",
        target_type="join_application",
        target_id=app.id,
        branch_id=app.branch_id,
    )
    source = f"apply:{app.id}:stage:{stage}"
    applicant_person = await session.get(Person, app.person_id)
    if applicant_person is not None:
        await notify_person(
            session,
            applicant_person,
            source=f"{source}:p",
            key="apply.applicant.stage",
            not_before=now,
            stage=t(language_of(applicant_person), f"apply.stage.{stage}"),
        )
    for agent in await agents_of(session, app.township_id):
        await notify_person(
            session,
            agent,
            source=f"{source}:a",
            key="apply.township.stage",
            not_before=now,
            id=app.id,
            name=app.name,
            stage=t(language_of(agent), f"apply.stage.{stage}"),
        )
    return await _view(session, app, now)


async def stages(session: AsyncSession, actor: Actor, app_id: int) -> list[tuple[str, datetime]]:
    """When each stage was reached (the secretary's view of one application)."""
    app = await _secretary_app(session, actor, app_id, "apply.view")
    rows = await session.execute(
        select(JoinStageEvent.stage, JoinStageEvent.at)
        .where(JoinStageEvent.application_id == app.id)
        .order_by(JoinStageEvent.at, JoinStageEvent.id)
    )
    return [(s, at) for s, at in rows]


# -- the person's own data (/mydata) and erasure (/deleteme) -------------------------------------------------


async def data_section(session: AsyncSession, person_id: int) -> tuple[str, Any]:
    """The person's application to join, for /mydata (a file id stands for a photographed letter)."""
    app = await session.scalar(select(JoinApplication).where(JoinApplication.person_id == person_id))
    if app is None:
        return "application_to_join", None
    stages = await session.execute(
        select(JoinStageEvent.stage, JoinStageEvent.at)
        .where(JoinStageEvent.application_id == app.id)
        .order_by(JoinStageEvent.at, JoinStageEvent.id)
    )
    return "application_to_join", {
        "id": app.id,
        "name": app.name,
        "phone": app.phone,
        "birth_date": app.birth_date,
        "branch_id": app.branch_id,
        "home_township_id": app.township_id,
        "letter": app.letter_text
        if app.letter_kind == "text"
        else {"file_id": app.letter_file_id, "file_name": app.letter_filename},
        "submitted_at": app.submitted_at.isoformat(),
        "talk_due_on": app.talk_due_on.isoformat(),
        "talk_done_at": app.talk_done_at.isoformat() if app.talk_done_at else None,
        "stages": [{"stage": s, "at": at.isoformat()} for s, at in stages],
    }


async def erase_person(session: AsyncSession, person_id: int) -> None:
    """/deleteme: the application and the messages that carried it are removed."""
    app = await session.scalar(select(JoinApplication).where(JoinApplication.person_id == person_id))
    if app is None:
        return
    pattern = f"apply:{app.id}:%"
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.source.like(pattern), OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.source.like(pattern), OutboxMessage.status != OutboxStatus.SENDING)
        .values(payload={"text": ""})
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(JoinApplication).where(JoinApplication.id == app.id))
    await session.flush()
