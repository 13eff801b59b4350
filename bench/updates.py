"""How much an update costs, and whether one person can make others wait (issue: replies never wait).

    python -m bench.updates [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
                            [--updates 600] [--acks 1000] [--rtt-ms 100] [--cpu-only] [--profile FILE]

Both Applications get the same stream of updates through the same in-process fake Bot API request
(answering after a simulated round trip of ``--rtt-ms`` ± half of it, so replies are not free):

* the project's Application, built as `branchbot run` builds it (handlers, the per-chat update processor
  with its arrival throttle, the shared rate budget), on a migrated SQLite file or PostgreSQL database
  seeded with a branch, members and a sent notice; background parts (sender, tick) off so the figures
  are the update path alone;
* a bare PTB echo Application (a MessageHandler echoing text, a CallbackQueryHandler answering).

It prints, with the machine's load:
1. CPU ms per update over a realistic mix (/start, /help, /me, /dues, a button press, typed form input,
   收到; many members, each member's events a few seconds apart) and updates per CPU-second, for both,
   and the ratio echo ÷ project (target ≥ 0.25). Both Applications get the stream at the same arrival
   rate (``--arrival-rate``, default 20 updates/s), the way updates reach a bot; the stream is cut in
   five parts that the two get in turn, so a change in the machine's load falls on both. The same
   stream fed all at once is printed beside it and not judged: the echo (no rate budget) then answers
   everything in a tenth of a second on a warm core, while the project's budget (25 messages/s, 1/s
   per chat) spreads the same replies over half a minute of short wake-ups, each of which pays a cold
   core (caches and clock). The echo alone shows that effect: its CPU per update grows several times
   when its updates arrive paced rather than in one burst;
2. throughput with I/O (quality.md: "updates/s through the full stack ÷ bare PTB echo ≥ 0.5"): the
   mix for ``THROUGHPUT_USERS`` members fed at once with ``--rtt-ms`` round trips, wall-clock updates/s
   for the project, for PTB's echo as `ApplicationBuilder` builds it (one update at a time) and for an
   echo running every update concurrently with no rate limit at all (which Telegram would answer
   with 429s past 30 messages/s; shown, not judged);
3. p50/p95 reply latency with 20 members using the bot at once (think time 1–2 s);
4. a flood: member A sends 30 /help in 5 s while member B uses the bot; B's median against B alone
   (target ≤ 2× + 0.3 s), and A's answers (20 plus one "too fast");
5. ``--acks`` members pressing 收到 within 60 s of a notice: all answered, p95 (target < 1 s).
Exit status 1 when a target is missed. ``--cpu-only`` stops after the first figure; ``--profile FILE``
runs the project's CPU mix a second time under cProfile (after the measured run, so the figures are not
skewed), writes the pstats to FILE and prints the top of it (the event-loop thread only: a worker
thread's time is not in it).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.request import BaseRequest, RequestData

BOT = {"id": 777000, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}
SECRETARY = 5_000_000
MEMBER_BASE = 6_000_000
THROUGHPUT_USERS = 30
TOKEN = "123456:BENCH-token-not-real"


class FakeRequest(BaseRequest):
    """A Bot API that answers every method after a round trip, and counts what it was asked."""

    def __init__(self, rtt_ms: float) -> None:
        self.rtt = rtt_ms / 1000
        self.calls: dict[str, int] = {}
        self._ids = itertools.count(1000)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @property
    def read_timeout(self) -> float:
        return 5.0

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None, **_: Any):
        name = url.rsplit("/", 1)[-1]
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.rtt and name not in ("getMe", "setMyCommands", "deleteWebhook"):
            await asyncio.sleep(self.rtt * random.uniform(0.5, 1.5))
        params = request_data.parameters if request_data is not None else {}
        if name == "getMe":
            result: Any = BOT
        elif name.startswith(("send", "edit", "copy")):
            chat = int(params.get("chat_id", 1) or 1)
            result = {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private"},
                "from": BOT,
                "text": str(params.get("text", "")),
            }
        else:
            result = True
        return 200, json.dumps({"ok": True, "result": result}).encode()


_update_ids = itertools.count(1)


def message(user: int, text: str) -> dict[str, Any]:
    return {
        "update_id": next(_update_ids),
        "message": {
            "message_id": next(_update_ids),
            "date": int(time.time()),
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "党员", "language_code": "zh-hans"},
            "text": text,
            **(
                {"entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}
                if text.startswith("/")
                else {}
            ),
        },
    }


def press(user: int, data: str) -> dict[str, Any]:
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": str(next(_update_ids)),
            "chat_instance": "bench",
            "data": data,
            "from": {"id": user, "is_bot": False, "first_name": "党员", "language_code": "zh-hans"},
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "chat": {"id": user, "type": "private"},
                "from": BOT,
                "text": "…",
            },
        },
    }


async def seed(url: str, members: int) -> int:
    """A branch with members (rows written in bulk), its secretary, and a notice sent by the real
    service; returns the notice id (its 收到 button is what members press)."""
    from sqlalchemy import insert

    from bench.seed import insert_telegram_people
    from bot.services import admin, broadcast
    from bot.services.accounts import UserRef, find_person
    from bot.services.identity import load_actor
    from storage.db import Database
    from storage.models import Member, MemberState, PartyStatus, Role

    db = Database(url)
    try:
        async with db.session() as session:
            branch = await admin.create_branch(
                session, name="基准支部", city="深圳", timezone="Asia/Shanghai"
            )
            await admin.grant(
                session, user=SECRETARY, role=Role.SECRETARY, branch=str(branch.id), township=None
            )
            await session.commit()
        async with db.session() as session:
            ids = await insert_telegram_people(session, [MEMBER_BASE + i for i in range(members)])
            await session.execute(
                insert(Member),
                [
                    {
                        "person_id": person_id,
                        "branch_id": branch.id,
                        "state": MemberState.APPROVED,
                        "party_status": PartyStatus.FULL,
                        "name": f"党员{i}",
                    }
                    for i, person_id in enumerate(ids)
                ],
            )
            await session.commit()
        async with db.session() as session:
            secretary = await find_person(session, UserRef("telegram", str(SECRETARY)))
            secretary.chat_id = SECRETARY
            await session.commit()
            actor = await load_actor(session, secretary)
            sent = await broadcast.send_notice(
                session,
                actor,
                text="本周六上午九点开会，请准时参加。",
                progress_chat_id=SECRETARY,
                progress_message_id=1,
                now=_now(),
            )
            return sent.notice_id
    finally:
        await db.dispose()


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def project_app(url: str, request: FakeRequest):
    from app.features import build_features
    from bot.config import Settings
    from handlers.application import build_application

    settings = Settings(
        _env_file=None,
        bot_token=TOKEN,
        database_url=url,
        quiet_hours_start=None,
        quiet_hours_end=None,
    )
    return build_application(settings, request, background=False, features=build_features())


def echo_app(request: FakeRequest, concurrent: bool = False):
    from telegram.ext import ApplicationBuilder, CallbackQueryHandler, MessageHandler, filters

    async def echo(update: Update, context: Any) -> None:
        await update.effective_message.reply_text(update.effective_message.text or "…")

    async def answer(update: Update, context: Any) -> None:
        await update.callback_query.answer()

    builder = ApplicationBuilder().token(TOKEN).request(request).get_updates_request(request)
    app = builder.concurrent_updates(concurrent).build()
    app.add_handler(MessageHandler(filters.ALL, echo))
    app.add_handler(CallbackQueryHandler(answer))
    return app


async def feed(app: Any, data: dict[str, Any]) -> float:
    """Process one update the way a fetched one is; returns the seconds until its handling finished."""
    start = time.perf_counter()
    update = Update.de_json(data, app.bot)
    await app.update_processor.process_update(update, app.process_update(update))
    return time.perf_counter() - start


def mix(users: list[int], notice_id: int) -> list[dict[str, Any]]:
    """A member's day: /start, /help, /me, /dues, a button (the language), typed input, 收到; the
    members' events interleaved (everyone's first, then everyone's second ...), as many people's are."""
    days = [
        [
            message(user, "/start"),
            message(user, "/help"),
            message(user, "/me"),
            message(user, "/dues"),  # opens the dues declaration (the seeded members have none)
            press(user, "lang:set:zh"),
            message(user, "改一下单位"),  # typed into the open declaration: "please press a button"
            press(user, f"ntc:ack:{notice_id}"),
        ]
        for user in users
    ]
    return [day[k] for k in range(len(days[0]) if days else 0) for day in days]


async def cpu_per_update(app: Any, stream: list[dict[str, Any]]) -> tuple[float, float]:
    """(CPU ms per update, updates per CPU second). The stream is fed concurrently, as PTB hands over
    fetched updates; a reply waiting for its chat's 1/s costs no CPU, so CPU is the measure."""
    cpu = time.process_time()
    await asyncio.gather(*(feed(app, data) for data in stream))
    cpu = time.process_time() - cpu
    return cpu * 1000 / len(stream), len(stream) / cpu


async def cpu_paced(app: Any, stream: list[dict[str, Any]], rate: float) -> tuple[float, float]:
    """(CPU ms per update, updates per CPU second) with the stream arriving at ``rate`` updates/s."""
    loop = asyncio.get_running_loop()
    cpu = time.process_time()
    start = loop.time()
    tasks = []
    for i, data in enumerate(stream):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(feed(app, data)))
    await asyncio.gather(*tasks)
    cpu = time.process_time() - cpu
    return cpu * 1000 / len(stream), len(stream) / cpu


async def cpu_paced_alternating(
    project: Any, echo: Any, stream: list[dict[str, Any]], rate: float, rounds: int = 5
) -> tuple[float, float]:
    """(project, echo) CPU ms per update, the stream cut into ``rounds`` parts that each Application
    gets in turn (project, echo, project ...), so a change in the machine's load falls on both."""
    size = -(-len(stream) // rounds)
    spent = {"project": 0.0, "echo": 0.0}
    for start in range(0, len(stream), size):
        part = stream[start : start + size]
        for name, app in (("project", project), ("echo", echo)):
            cpu, _ = await cpu_paced(app, part, rate)
            spent[name] += cpu * len(part)
    return spent["project"] / len(stream), spent["echo"] / len(stream)


async def throughput(app: Any, stream: list[dict[str, Any]]) -> float:
    """Wall-clock updates/s for the stream fed at once (round trips as the app's fake request says)."""
    start = time.perf_counter()
    await asyncio.gather(*(feed(app, data) for data in stream))
    return len(stream) / (time.perf_counter() - start)


async def concurrent_users(app: Any, users: list[int], notice_id: int, rounds: int) -> list[float]:
    async def one(user: int) -> list[float]:
        latencies = []
        for data in mix([user], notice_id)[:rounds]:
            await asyncio.sleep(random.uniform(1.0, 2.0))
            latencies.append(await feed(app, data))
        return latencies

    results = await asyncio.gather(*(one(u) for u in users))
    return [x for r in results for x in r]


async def flood(app: Any, request: FakeRequest, a: int, b: int) -> dict[str, float]:
    async def b_uses(n: int) -> list[float]:
        out = []
        for _ in range(n):
            await asyncio.sleep(1.0)
            out.append(await feed(app, message(b, "/help")))
        return out

    alone = await b_uses(5)

    async def a_floods() -> None:
        tasks = []
        for _ in range(30):
            tasks.append(asyncio.create_task(feed(app, message(a, "/help"))))
            await asyncio.sleep(5 / 30)
        await asyncio.gather(*tasks)

    sent_before = request.calls.get("sendMessage", 0)
    flooded, _ = await asyncio.gather(b_uses(5), a_floods())
    return {
        "b_alone_p50": statistics.median(alone),
        "b_flooded_p50": statistics.median(flooded),
        "messages_during_flood": request.calls.get("sendMessage", 0) - sent_before,
    }


async def acks(app: Any, users: list[int], notice_id: int, window_s: float) -> list[float]:
    async def one(user: int) -> float:
        await asyncio.sleep(random.uniform(0, window_s))
        return await feed(app, press(user, f"ntc:ack:{notice_id}"))

    return await asyncio.gather(*(one(u) for u in users))


async def profile(app: Any, stream: list[dict[str, Any]], path: str) -> None:
    """The CPU mix again under cProfile: the pstats to ``path``, the top by own time printed."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    await asyncio.gather(*(feed(app, data) for data in stream))
    profiler.disable()
    profiler.dump_stats(path)
    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def run(url: str, label: str, args: argparse.Namespace) -> bool:
    from storage import crypto, migrate

    crypto.configure(crypto.Keyring.from_setting(_key()))
    await migrate.upgrade(url)
    # Disjoint groups, so every figure is of first presses and first visits: the CPU mix, the same mix
    # at once, the throughput mix, the 收到 crowd, then 40 for the concurrent users and the flood.
    k = max(args.updates // 7, 1)
    members = 2 * k + THROUGHPUT_USERS + args.acks + 40
    notice_id = await seed(url, members)
    users = [MEMBER_BASE + i for i in range(members)]

    project_request, echo_request = FakeRequest(0), FakeRequest(0)
    project, echo = project_app(url, project_request), echo_app(echo_request)
    await project.initialize()
    await echo.initialize()
    ok = True
    try:
        stream = mix(users[:k], notice_id)
        await cpu_per_update(project, mix(users[-2:], notice_id))  # warm up imports and caches
        await cpu_per_update(echo, stream[:14])
        p_cpu, e_cpu = await cpu_paced_alternating(project, echo, stream, args.arrival_rate)
        p_rate, e_rate = 1000 / p_cpu, 1000 / e_cpu
        ratio = e_cpu / p_cpu
        print(
            f"[{label}] cpu_ms_per_update ({args.arrival_rate:g} updates/s arriving) project={p_cpu:.2f} "
            f"echo={e_cpu:.2f} ratio={ratio:.3f} updates_per_cpu_s project={p_rate:.0f} echo={e_rate:.0f} "
            f"(n={len(stream)}; target ratio >= 0.25)"
        )
        ok &= ratio >= 0.25
        again = mix(users[k : 2 * k], notice_id)
        started = time.perf_counter()
        pb_cpu, _ = await cpu_per_update(project, again)
        p_wall = time.perf_counter() - started
        started = time.perf_counter()
        eb_cpu, _ = await cpu_per_update(echo, again)
        e_wall = time.perf_counter() - started
        print(
            f"[{label}] cpu_ms_per_update (all {len(again)} at once, not judged) project={pb_cpu:.2f} "
            f"in {p_wall:.1f} s echo={eb_cpu:.2f} in {e_wall:.2f} s ratio={eb_cpu / pb_cpu:.3f}"
        )
        if args.profile:
            await profile(project, mix(users[-k:], notice_id), args.profile)
        if args.cpu_only:
            return ok

        project_request.rtt = args.rtt_ms / 1000
        through = mix(users[2 * k : 2 * k + THROUGHPUT_USERS], notice_id)
        p_through = await throughput(project, through)
        e_request, c_request = FakeRequest(args.rtt_ms), FakeRequest(args.rtt_ms)
        e_seq, e_conc = echo_app(e_request), echo_app(c_request, concurrent=True)
        await e_seq.initialize()
        await e_conc.initialize()
        try:
            e_through = await throughput(e_seq, through)
            c_through = await throughput(e_conc, through)
        finally:
            await e_seq.shutdown()
            await e_conc.shutdown()
        print(
            f"[{label}] throughput, {len(through)} updates at once, rtt {args.rtt_ms:.0f} ms: "
            f"project={p_through:.1f}/s echo={e_through:.1f}/s ratio={p_through / e_through:.2f} "
            f"(target >= 0.5); unlimited concurrent echo={c_through:.0f}/s (not judged)"
        )
        ok &= p_through / e_through >= 0.5
        latencies = await concurrent_users(project, users[-20:], notice_id, rounds=7)
        print(
            f"[{label}] 20 concurrent users, rtt {args.rtt_ms:.0f} ms: "
            f"reply p50={pct(latencies, 0.5) * 1000:.0f} ms p95={pct(latencies, 0.95) * 1000:.0f} ms "
            f"(n={len(latencies)})"
        )
        figures = await flood(project, project_request, users[-30], users[-31])
        limit = 2 * figures["b_alone_p50"] + 0.3
        print(
            f"[{label}] flood: B alone p50={figures['b_alone_p50'] * 1000:.0f} ms, "
            f"while A floods p50={figures['b_flooded_p50'] * 1000:.0f} ms (limit {limit * 1000:.0f} ms); "
            f"messages sent meanwhile={figures['messages_during_flood']:.0f} (B 5 + A 20 + one 'too fast')"
        )
        ok &= figures["b_flooded_p50"] <= limit
        crowd = users[2 * k + THROUGHPUT_USERS : 2 * k + THROUGHPUT_USERS + args.acks]
        ack_latencies = await acks(project, crowd, notice_id, 60.0)
        print(
            f"[{label}] {args.acks} members press 收到 within 60 s: answered={len(ack_latencies)} "
            f"p50={pct(ack_latencies, 0.5) * 1000:.0f} ms p95={pct(ack_latencies, 0.95) * 1000:.0f} ms"
        )
        ok &= len(ack_latencies) == args.acks and pct(ack_latencies, 0.95) < 1.0
    finally:
        await project.shutdown()
        await echo.shutdown()
        await project.bot_data["deps"].db.dispose()
    return ok


def _key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


async def _fresh_postgres(server_url: str) -> tuple[str, str]:
    from sqlalchemy import text

    from storage.db import create_engine

    name = f"bench_updates_{os.getpid()}"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name, name


async def _drop_postgres(server_url: str, name: str) -> None:
    from sqlalchemy import text

    from storage.db import create_engine

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.updates", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", help="a PostgreSQL server URL (a fresh database is made and dropped)"
    )
    parser.add_argument("--updates", type=int, default=700, help="updates in the CPU mix (default 700)")
    parser.add_argument("--acks", type=int, default=1000, help="members pressing 收到 (default 1000)")
    parser.add_argument(
        "--rtt-ms", type=float, default=100.0, help="simulated Bot API round trip (default 100)"
    )
    parser.add_argument(
        "--arrival-rate", type=float, default=20.0, help="updates/s for the CPU mix (default 20)"
    )
    parser.add_argument("--cpu-only", action="store_true", help="stop after the CPU figures")
    parser.add_argument("--profile", metavar="FILE", help="profile the project's CPU mix into FILE (pstats)")
    args = parser.parse_args(argv)
    random.seed(7)
    load = os.getloadavg()
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; cores: {os.cpu_count()}")

    async def main_async() -> bool:
        if args.database_url:
            url, name = await _fresh_postgres(args.database_url)
            try:
                return await run(url, "postgresql", args)
            finally:
                await _drop_postgres(args.database_url, name)
        with tempfile.TemporaryDirectory() as folder:
            return await run(f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}", "sqlite", args)

    ok = asyncio.run(main_async())
    load = os.getloadavg()
    print(
        f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; targets {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
