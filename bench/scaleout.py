"""A fleet of outbox workers on one PostgreSQL database, with the send limits in Redis.

Real `koxbot run --role worker` processes send a broadcast's worth of messages (one per chat,
written straight into the outbox as a broadcast writes them) to the loopback Bot API server
of the tests, which enforces Telegram's limits (30 messages/s per bot) and answers 429 past
them. Printed per scenario:
  doubles      chats that got the message more than once          (target 0)
  missing      chats that never got it, besides the in-doubt ones  (target 0)
  in doubt     rows a killed worker had on the wire                (at most 1 per kill)
  429s         sends the server refused for going too fast        (target 0)
  time / bound time to the last send / (chats / 30 s)              (target ≤ 1.05)
Scenarios: 2 workers, 4 workers, and 2 workers with one killed -9 a third of the way through.

Needs PostgreSQL at postgres://postgres@127.0.0.1:5432 (KOXBOT_BENCH_PG) and Redis at
redis://127.0.0.1:6379/0 (KOXBOT_BENCH_REDIS).
Run: .venv/bin/python -m bench.scaleout [CHATS]      (default 1000)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import redis.asyncio as redis

import bench
from bot.core.messages import ChatRef, Outgoing
from storage import db
from tests.telegram_api import FakeTelegram, Limits

PG_ADMIN = os.environ.get("KOXBOT_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("KOXBOT_BENCH_REDIS", "redis://127.0.0.1:6379/0")
GLOBAL_LIMIT = 30
FIRST_CHAT = 900_001
LATENCY = 0.02  # seconds the loopback server takes per send, as a real network would


async def start_worker(
    name: str, database_url: str, api: str, cwd: Path
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "TELEGRAM_BOT_TOKEN": FakeTelegram.token,
        "TELEGRAM_API_BASE": api,
        "TELEGRAM_RATE_GLOBAL_PER_SECOND": str(GLOBAL_LIMIT),
        "WORKER_NAME": name,
        "LOG_LEVEL": "WARNING",
    }
    (cwd / name).mkdir()
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--role", "worker",
        env=env, cwd=cwd / name, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def forget_limits() -> None:
    """Windows left in Redis by an earlier scenario would slow this one's start."""
    client = redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter("koxbot:limit:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def scenario(workers: int, chats: int, kill: bool) -> dict[str, float]:
    name = f"koxbot_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    database_url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    server = FakeTelegram(limits=Limits(global_per_second=GLOBAL_LIMIT), latency=LATENCY)
    processes: list[asyncio.subprocess.Process] = []
    try:
        await db.migrate(database_url)
        await forget_limits()
        await server.start()
        with tempfile.TemporaryDirectory() as tmp:
            for index in range(workers):
                processes.append(
                    await start_worker(f"w{index}", database_url, server.url, Path(tmp))
                )
            async with asyncio.timeout(120):  # each worker knows the bot: it is ready to send
                while server.calls.count("getme") < workers:
                    await asyncio.sleep(0.05)
            return await measure(server, database_url, processes, chats, kill)
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            await process.wait()
        await server.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def measure(
    server: FakeTelegram,
    database_url: str,
    processes: list[asyncio.subprocess.Process],
    chats: int,
    kill: bool,
) -> dict[str, float]:
    connection = await asyncpg.connect(database_url)
    try:
        now = datetime.now(UTC)
        rows = [
            (str(chat), json.dumps(Outgoing(ChatRef("telegram", str(chat)), "GO").to_payload()))
            for chat in range(FIRST_CHAT, FIRST_CHAT + chats)
        ]
        started = time.monotonic()
        await connection.executemany(
            "INSERT INTO outbox (platform, chat_id, payload, status, not_before, attempts,"
            " created_at) VALUES ('telegram', $1, $2, 'pending', $3, 0, $3)",
            [(chat, payload, now) for chat, payload in rows],
        )
        killed = False
        async with asyncio.timeout(chats / GLOBAL_LIMIT * 4 + 60):
            while True:
                delivered = len(server.sent)
                if kill and not killed and delivered >= chats // 3:
                    processes[0].kill()  # SIGKILL: no goodbye, its rows are left as they are
                    await processes[0].wait()
                    killed = True
                unsent = await connection.fetch(
                    "SELECT chat_id, status, claimed_by FROM outbox WHERE status <> 'sent'"
                )
                # Done when every row is sent, but for what the dead worker had on the wire.
                dead = [r for r in unsent if (r["status"], r["claimed_by"]) == ("sending", "w0")]
                if killed and len(dead) == len(unsent):
                    break
                if not kill and not unsent:
                    break
                await asyncio.sleep(0.02)
        elapsed = max(server.sent_times) - started if server.sent_times else 0.0
        in_doubt = {int(row["chat_id"]) for row in unsent}
    finally:
        await connection.close()
    counts = Counter(s.chat_id for s in server.sent)
    never = set(range(FIRST_CHAT, FIRST_CHAT + chats)) - set(counts)
    return {
        "doubles": sum(1 for n in counts.values() if n > 1),
        "missing": len(never - in_doubt),
        "in doubt": len(in_doubt),
        "429s": server.too_many_429s,
        "time / bound": elapsed / (chats / GLOBAL_LIMIT),
    }


async def main(chats: int) -> None:
    print(
        f"bench.scaleout: {chats} chats, limit {GLOBAL_LIMIT}/s, bound {chats / GLOBAL_LIMIT:.1f} s"
    )
    print(
        f"{'scenario':<28}{'doubles':>8}{'missing':>8}{'in doubt':>9}{'429s':>6}{'time/bound':>12}"
    )
    for label, workers, kill in (
        ("2 workers", 2, False),
        ("4 workers", 4, False),
        ("2 workers, one killed -9", 2, True),
    ):
        result = await scenario(workers, chats, kill)
        figures = [f"{result[key]:>10}" for key in ("doubles", "missing", "in doubt", "429s")]
        print(f"{label:<28}" + "".join(figures) + f"{result['time / bound']:>10.3f}")


if __name__ == "__main__":
    bench.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
