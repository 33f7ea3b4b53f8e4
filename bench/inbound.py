"""Inbound throughput: ten people at once on Telegram, and a database with a long history.

people: USERS Telegram users (default 10), each in a private chat sending /help and waiting for
the reply before sending the next (a closed loop), MESSAGES each (default 30), all at once, on
the loopback Bot API server of the tests (tests/telegram_api.py, no rate limits there).
  koxbot: the real TelegramPlatform on an App, with the outbox delivery loop and the scheduler
    running as `koxbot run` does (a reply is written to the outbox, then sent by the task that
    handled the message); its own send limits raised (1000/s overall, 100/s a chat) so that
    only the code is measured.
  echo: a bare aiogram Dispatcher answering each message with its text, on a server of its
    own of the same kind; both bots run at once and their rounds take turns.
  /help because it is a real command (dedupe, identify, flows, registry, a rendered template,
  one outbox row, one send) that anyone may use, and bench/telegram.py times it one at a time.
  Printed: round trips/s of each, and koxbot / echo (target ≥ 0.5). --latency S: every
  sendMessage takes S seconds to answer, as over a real network (default 0: loopback);
  --concurrency N: koxbot's OUTBOX_SEND_CONCURRENCY (default 1).
  .venv/bin/python -m bench.inbound people [MESSAGES] [USERS] [--latency S] [--concurrency N]

history: inbound messages/s through the console platform (as bench/dispatch.py: the core, the
database and the outbox, inline as `koxbot console` sends; no HTTP to blur what the database
costs) on two databases: an empty one, and one seeded with the history of ROWS handled
messages (default 500,000): ROWS processed-message dedupe rows and ROWS sent outbox rows, over
10,000 chats (1% in the measured user's own chat), plus POSTS submissions (default 50,000,
with a metric snapshot each, by POSTS/20 creators) in the measured campaign. Three kinds of
traffic, MESSAGES each (default 200); the two databases' rounds take turns (5 each, each on
an app opened afresh and warmed up); the median rounds are printed with history / empty
(target ≥ 0.8: within 20%). SQLite by default; `postgres`: a throw-away
database on postgres://postgres@127.0.0.1:5432 (KOXBOT_BENCH_PG to change it), dropped
afterwards. One dialect per process.
  .venv/bin/python -m bench.inbound history [sqlite|postgres] [ROWS] [MESSAGES] [POSTS]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

import bench
from bench.digest import PG_ADMIN, Seeder, seed_digest
from bench.dispatch import SETUP
from bot.app import App
from bot.core.clock import ManualClock
from bot.platforms.console import ConsolePlatform
from storage.models import Campaign
from tests.conftest import AFTER_EMBARGO, SCRIPTS, make_settings
from tests.e2e.test_telegram import Running, start_bot, stop_bot
from tests.telegram_api import FakeTelegram

FIRST_USER = 5001
TARGET_PEOPLE = 0.5
TARGET_HISTORY = 0.8
HISTORY_CHATS = 10_000
ROUNDS = 3
HISTORY_ROUNDS = 5

# --- people: ten at once on Telegram ---------------------------------------------------------


@asynccontextmanager
async def koxbot(server: FakeTelegram, tmp: Path, concurrency: int = 1) -> AsyncIterator[Running]:
    running = await start_bot(
        server,
        tmp,
        telegram_rate_global_per_second=1000,
        telegram_rate_private_per_second=100,
        outbox_send_concurrency=concurrency,
    )
    scheduler = asyncio.create_task(running.app.scheduler.run(), name="scheduler")
    try:
        yield running
    finally:
        await running.app.scheduler.stop()
        await scheduler
        await stop_bot(running)


@asynccontextmanager
async def echo_bot(server: FakeTelegram) -> AsyncIterator[None]:
    await server.start()
    bot = Bot(server.token, session=AiohttpSession(api=TelegramAPIServer.from_base(server.url)))
    dispatcher = Dispatcher()

    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dispatcher.message.register(echo)
    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
    try:
        yield
    finally:
        await dispatcher.stop_polling()
        await polling
        await server.stop()


async def warm_up(server: FakeTelegram, users: list[int], text: str) -> dict[int, int]:
    """Each user's first message (not timed): it makes the user known and shows how many
    messages one reply is."""
    per_reply: dict[int, int] = {}

    async def first(user: int) -> None:
        server.message(user, f"user{user}", text)
        await server.wait_sent_to(user, 1)
        await asyncio.sleep(0.5)  # a reply in several messages has arrived whole by now
        per_reply[user] = server.sent_counts[user]

    await asyncio.gather(*(first(u) for u in users))
    return per_reply


async def closed_loop(
    server: FakeTelegram, per_reply: dict[int, int], each: int, text: str
) -> float:
    """Round trips/s of one round in which every user sends `each` messages, each after the
    reply to the previous."""

    async def person(user: int) -> None:
        expected = server.sent_counts[user]
        for _ in range(each):
            server.message(user, f"user{user}", text)
            expected += per_reply[user]
            await server.wait_sent_to(user, expected)

    start = time.perf_counter()
    await asyncio.gather(*(person(u) for u in per_reply))
    return each * len(per_reply) / (time.perf_counter() - start)


async def people(each: int, count: int, latency: float, concurrency: int) -> None:
    users = list(range(FIRST_USER, FIRST_USER + count))
    print(
        f"{count} people at once on Telegram, each sending /help and waiting for the reply "
        f"before the next, {each} each; send latency {latency * 1000:.0f} ms; "
        f"OUTBOX_SEND_CONCURRENCY={concurrency}. Round trips/s: "
        f"replies received per second over all of them, best of {ROUNDS} rounds, the two "
        f"bots' rounds taking turns (so that a change in the machine's speed meets both). "
        f"Target: koxbot ≥ {TARGET_PEOPLE}× a bare aiogram echo bot on the same kind of server.",
        flush=True,
    )
    echo_server, kox_server = FakeTelegram(latency=latency), FakeTelegram(latency=latency)
    with tempfile.TemporaryDirectory() as tmp:
        async with echo_bot(echo_server), koxbot(kox_server, Path(tmp), concurrency):
            echo_replies = await warm_up(echo_server, users, "/help")
            kox_replies = await warm_up(kox_server, users, "/help")
            echo = kox = 0.0
            for _ in range(ROUNDS):
                echo = max(echo, await closed_loop(echo_server, echo_replies, each, "/help"))
                kox = max(kox, await closed_loop(kox_server, kox_replies, each, "/help"))
    replies = kox_replies[users[0]]
    print(f"  bare aiogram echo bot   {echo:7.1f} round trips/s", flush=True)
    print(f"  koxbot, through outbox  {kox:7.1f} round trips/s (/help is {replies} message)")
    print(f"  koxbot / echo = {kox / echo:.3f} (target ≥ {TARGET_PEOPLE})")


# --- history: an empty database against one with 500,000 handled messages -------------------


class HistorySeeder(Seeder):
    async def history(self, platform: str, own_chat: str, rows: int) -> None:
        """`rows` handled messages: a dedupe row and a sent reply each."""
        now = AFTER_EMBARGO.astimezone(UTC)
        chats = [own_chat if i % 100 == 0 else f"h{i % HISTORY_CHATS}" for i in range(rows)]
        times = [self.time(now - timedelta(seconds=rows - i)) for i in range(rows)]
        await self.insert(
            "processed_messages",
            ("platform", "chat_id", "message_id", "created_at"),
            [(platform, chats[i], f"h{i}", times[i]) for i in range(rows)],
        )
        payload = json.dumps(
            {
                "chat": {"platform": platform, "chat_id": "h", "is_group": False, "title": None},
                "text": "历史消息：你的作品已收到，我们会在 24 小时内审核。",
            },
            ensure_ascii=False,
        )
        await self.insert(
            "outbox",
            (
                "platform", "chat_id", "payload", "status", "not_before", "attempts",
                "platform_message_id", "sent_at", "created_at",
            ),
            [
                (platform, chats[i], payload, "sent", times[i], 1, str(i), times[i], times[i])
                for i in range(rows)
            ],
        )  # fmt: skip


async def seed_history(postgres: bool, rows: int, posts: int) -> None:
    """In the app's database: `rows` handled messages and `posts` posts."""
    start = time.perf_counter()
    seeder = HistorySeeder(postgres)
    await seeder.history("console", "ada", rows)
    campaign = await Campaign.get(code="SPRING26")
    if posts:
        await seed_digest(seeder, campaign, max(posts // 20, 1), posts)
    if postgres:
        await seeder.db.execute_script("VACUUM ANALYZE")
    chats, creators = min(rows, HISTORY_CHATS), max(posts // 20, 1)
    print(
        f"  seeded in {time.perf_counter() - start:.1f} s ({chats:,} chats, 1% of the rows in "
        f"the measured user's own; posts by {creators:,} creators, a metric snapshot each)",
        flush=True,
    )


def history_traffic(n: int, offset: int) -> dict[str, list[str]]:
    return {
        "group chatter (ignored)": [f"ben@club: 今天天气不错 {offset + i}" for i in range(n)],
        "/help in DM": ["ada@dm: /help"] * n,
        "/submit a new post": [
            f"ada@dm: /submit https://www.douyin.com/video/7{offset + i:018d}" for i in range(n)
        ],
    }


async def one_round(console: ConsolePlatform, n: int, offset: int) -> dict[str, float]:
    """Messages/s of each kind of traffic, `n` messages each."""
    rates: dict[str, float] = {}
    for kind, lines in history_traffic(n, offset).items():
        start = time.perf_counter()
        for line in lines:
            await console.feed(line)
        rates[kind] = n / (time.perf_counter() - start)
    return rates


@asynccontextmanager
async def console_on(url: str, tmp: Path) -> AsyncIterator[ConsolePlatform]:
    """The console platform on an app on the database at `url`."""
    tmp.mkdir(exist_ok=True)
    with io.StringIO() as out:
        async with App(make_settings(tmp, database_url=url), ManualClock(AFTER_EMBARGO)) as app:
            yield ConsolePlatform(app, out=out, json_mode=True, base_dir=SCRIPTS)


@asynccontextmanager
async def database(dialect: str, tmp: Path) -> AsyncIterator[str]:
    if dialect == "sqlite":
        yield f"sqlite://{tmp / 'bench.sqlite3'}"
        return
    import asyncpg

    name = f"koxbot_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def history(dialect: str, rows: int, n: int, posts: int) -> None:
    postgres = dialect == "postgres"
    print(
        f"Inbound messages/s on {dialect} through the console platform, on an empty database "
        f"and on one with the history of {rows:,} handled messages ({rows:,} dedupe rows, "
        f"{rows:,} sent outbox rows) and {posts:,} posts. {n} messages a kind, "
        f"{HISTORY_ROUNDS} rounds each, the two databases' rounds taking turns: the median "
        f"round (the best in brackets). Target: history / empty ≥ "
        f"{TARGET_HISTORY} (within 20%).",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        places = {name: Path(tmp) / name for name in ("empty", "history")}
        async with (
            database(dialect, places["empty"]) as empty_url,
            database(dialect, places["history"]) as history_url,
        ):
            urls = {"empty": empty_url, "history": history_url}
            for name, url in urls.items():
                async with console_on(url, places[name]) as console:
                    for line in SETUP:
                        await console.feed(line)
                    if name == "history":
                        await seed_history(postgres, rows, posts)
            # The two databases' rounds take turns, each on an app opened afresh and warmed
            # up: a change in the machine's speed meets both.
            measured: dict[str, dict[str, list[float]]] = {name: {} for name in urls}
            for round_ in range(HISTORY_ROUNDS):
                for name, url in urls.items():
                    async with console_on(url, places[name]) as console:
                        await one_round(console, 30, 10_000_000 + round_ * 30)  # warm-up
                        for kind, rate in (await one_round(console, n, round_ * n)).items():
                            measured[name].setdefault(kind, []).append(rate)
    empty, full = ({k: max(v) for k, v in measured[name].items()} for name in urls)
    medians = {name: {k: statistics.median(v) for k, v in measured[name].items()} for name in urls}
    print(f"  {'':28} {'empty':>14} {'with history':>16}   history / empty")
    for kind in history_traffic(1, 0):
        a, b = medians["empty"][kind], medians["history"][kind]
        print(
            f"  {kind:28} {a:6.0f} ({empty[kind]:4.0f}) msg/s {b:6.0f} ({full[kind]:4.0f}) "
            f"msg/s   {b / a:.3f} (target ≥ {TARGET_HISTORY})"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.inbound", description=__doc__.split("\n")[0] if __doc__ else None
    )
    commands = parser.add_subparsers(dest="bench", required=True)
    crowd = commands.add_parser("people", help="ten people at once on Telegram")
    crowd.add_argument("messages", nargs="?", type=int, default=30, help="per user (30)")
    crowd.add_argument("users", nargs="?", type=int, default=10, help="at once (10)")
    crowd.add_argument("--latency", type=float, default=0.0, help="seconds per send (0)")
    crowd.add_argument("--concurrency", type=int, default=1, help="koxbot's sends at once (1)")
    past = commands.add_parser("history", help="an empty database against a long history")
    past.add_argument("dialect", nargs="?", choices=("sqlite", "postgres"), default="sqlite")
    past.add_argument("rows", nargs="?", type=int, default=500_000, help="handled (500000)")
    past.add_argument("messages", nargs="?", type=int, default=200, help="per kind (200)")
    past.add_argument("posts", nargs="?", type=int, default=50_000, help="seeded (50000)")
    args = parser.parse_args(argv)
    run: Callable[[], Any]
    if args.bench == "people":
        run = lambda: people(args.messages, args.users, args.latency, args.concurrency)  # noqa: E731
    else:
        run = lambda: history(args.dialect, args.rows, args.messages, args.posts)  # noqa: E731
    bench.run(run())


if __name__ == "__main__":
    main()
