"""Random text, commands, contacts and button presses from several users, interleaved (hypothesis).

Updates are processed one at a time, as in production (the Application runs with concurrent_updates
off); the users' conversations interleave freely. After every input: a reply, no crash, and the
database invariants hold.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.services.registration import FLOW, REASON_FLOW, STEPS
from storage.models import Draft, Member, MemberState, PartyStatus
from tests import factories
from tests.factories import TgUser
from tests.harness import ADMIN_CHAT_ID
from tests.registration.helpers import COMMITTEE_A, SECRETARY_A, SECRETARY_B, make_world

MEMBERS = [TgUser(8001, "甲"), TgUser(8002, "乙", "en"), TgUser(8003, "丙")]
OFFICERS = [SECRETARY_A, COMMITTEE_A, SECRETARY_B]
USERS = MEMBERS + OFFICERS
COMMANDS = [
    "/start",
    "/start INVITE_A",
    "/start INVITE_B",
    "/start j_wrong",
    "/me",
    "/leave",
    "/mydata",
    "/deleteme",
    "/members",
    "/members 待审",
    "/members silent 7",
    "/members 13800138000",
    "/export",
]
WORDS = [
    "王建国",
    "王建国",
    "13800138000",
    "+86 138 0013 8000",
    "１３９００１３９０００",
    "12345",
    "2015-07-01",
    "2015",
    "7",
    "返回",
    "取消",
    "张三",
]

# Labels along the happy paths, so that random walks reach approval, leaving and erasure too.
LABELS = [
    "继续",
    "同意",
    "青山镇",
    "东村",
    "正式党员",
    "2015",
    "7月",
    "1",
    "跳过",
    "建筑",
    "提交",
    "通过",
    "打回",
]
LABELS += ["去修改", "确认离开", "删除", "改手机", "改城区", "Continue", "Agree", "Submit", "Skip", "下一页"]

# A whole report-in, step by step (each step still checked), so later states are reached too.
WALK = [("command", "/start INVITE_A"), ("label", "继续"), ("label", "同意"), ("text", "王建国")]
WALK += [
    ("text", "13800138000"),
    ("label", "青山镇"),
    ("label", "东村"),
    ("label", "正式党员"),
    ("label", "2015"),
]
WALK += [
    ("label", "7月"),
    ("label", "1"),
    ("label", "跳过"),
    ("label", "跳过"),
    ("label", "跳过"),
    ("label", "提交"),
]
WALKS = {
    "report_in": WALK,
    "leave": [("command", "/leave"), ("label", "确认离开")],
    "erase": [("command", "/deleteme"), ("label", "删除")],
    "fix": [("label", "去修改"), ("label", "提交")],
    "approve": [("deliver", ""), ("label", "通过")],
    "return": [("deliver", ""), ("label", "打回"), ("text", "请改入党时间")],
    "reject": [("deliver", ""), ("label", "不通过"), ("text", "不是本支部的")],
    "confirm_left": [("deliver", ""), ("label", "确认离开")],
}
MEMBER_WALKS = ["report_in", "report_in", "leave", "erase", "fix"]
OFFICER_WALKS = ["approve", "approve", "return", "reject", "confirm_left"]

actions = st.one_of(
    st.tuples(st.just("walk"), st.integers(min_value=0, max_value=4)),
    st.tuples(st.just("walk"), st.integers(min_value=0, max_value=4)),
    st.tuples(st.just("label"), st.sampled_from(LABELS)),
    st.tuples(st.just("label"), st.sampled_from(LABELS)),
    st.tuples(st.just("label"), st.sampled_from(LABELS)),
    st.tuples(st.just("text"), st.text(min_size=1, max_size=40).filter(lambda t: not t.startswith("/"))),
    st.tuples(st.just("text"), st.sampled_from(WORDS)),
    st.tuples(st.just("command"), st.sampled_from(COMMANDS)),
    st.tuples(st.just("tap"), st.integers(min_value=0, max_value=60)),
    st.tuples(st.just("tap"), st.integers(min_value=0, max_value=60)),
    st.tuples(st.just("tap"), st.integers(min_value=0, max_value=60)),
    st.tuples(
        st.just("data"),
        st.from_regex(r"(reg|self|ros|exp):[a-z0-9]{0,4}(:[0-9]{0,6}){0,4}", fullmatch=True),
    ),
    st.tuples(st.just("contact"), st.sampled_from(["own", "other", "foreign"])),
    st.tuples(st.just("photo"), st.just("")),
    st.tuples(st.just("deliver"), st.just("")),
)
steps = st.lists(st.tuples(st.sampled_from(USERS), actions), min_size=5, max_size=40)


def _update(harness, user: TgUser, kind: str, value, invites: dict[str, str]) -> dict | None:
    if kind == "text":
        return factories.message_update(user, value)
    if kind == "command":
        for marker, code in invites.items():
            value = value.replace(marker, f"j_{code}")
        return factories.message_update(user, value)
    if kind == "tap":
        sent = [c for c in harness.fake.sent(user.id) if c.button_data()]
        data = [d for d in (sent[-1].button_data() if sent else []) if d != "apply:start"]
        return factories.callback_update(user, data[value % len(data)] if data else "reg:back")
    if kind == "label":
        sent = [c for c in harness.fake.sent(user.id) if c.button_data()]
        buttons = [b for row in (sent[-1].buttons if sent else []) for b in row if b.get("callback_data")]
        chosen = [
            b["callback_data"]
            for b in buttons
            if value in b.get("text", "") and b["callback_data"] != "apply:start"
        ]
        return factories.callback_update(user, chosen[0] if chosen else "reg:back")
    if kind == "data":
        return factories.callback_update(user, value)
    if kind == "contact":
        phone = {"own": "8613800138000", "other": "8613900139000", "foreign": "16502530000"}[value]
        return factories.contact_update(user, phone, contact_user_id=None if value == "other" else user.id)
    if kind == "photo":
        return factories.photo_update(user)
    return None


def _answered(calls, user: TgUser, update: dict) -> bool:
    query_id = update.get("callback_query", {}).get("id")
    return any(
        c.chat_id == user.id
        or (c.method == "answerCallbackQuery" and c.params.get("callback_query_id") == query_id)
        for c in calls
    )


async def _invariants(harness) -> None:
    async with harness.session() as session:
        per_person = await session.execute(
            select(Member.person_id, func.count()).group_by(Member.person_id).having(func.count() > 1)
        )
        assert per_person.all() == []
        for member in await session.scalars(select(Member)):
            assert member.state in set(MemberState) - {MemberState.DRAFT}
            assert member.party_status in (None, *PartyStatus)
            if member.state == MemberState.ERASED:
                assert member.name is None and member.phone is None and member.phone_index is None
            else:
                assert member.name and member.phone and member.phone_index and member.township_id
                assert member.revision >= 1
        for draft in await session.scalars(select(Draft)):
            if draft.flow == FLOW:
                assert draft.step in STEPS and draft.data.get("branch_id")
            if draft.flow == REASON_FLOW:
                assert draft.step in ("reject", "return")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps)
async def test_random_input_from_several_users(harness, script) -> None:
    world = getattr(harness, "_registration_world", None)
    if world is None:
        world = harness._registration_world = await make_world(harness)
    invites = {"INVITE_A": world.invite_a, "INVITE_B": world.invite_b}
    flat = []
    for user, (kind, value) in script:
        if kind == "walk":
            name = (MEMBER_WALKS if user in MEMBERS else OFFICER_WALKS)[value]
            flat += [(user, step) for step in WALKS[name]]
        else:
            flat.append((user, (kind, value)))
    for user, (kind, value) in flat:
        harness.clock.advance(seconds=1)  # a human pace: nobody hits the flood limit
        update = _update(harness, user, kind, value, invites)
        if update is None:
            calls = await harness.deliver()
        else:
            calls = await harness.feed(update)
            assert _answered(calls, user, update), (kind, value)
        texts = [c.text for c in calls]
        assert not any("出了点问题" in t or "went wrong" in t.lower() for t in texts), (kind, value, texts)
        assert not [c for c in calls if c.chat_id == ADMIN_CHAT_ID], (kind, value)
        await _invariants(harness)
