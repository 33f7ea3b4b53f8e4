"""More than one process on one PostgreSQL database (issue 15, first part): real `koxbot run`
processes, started together on a fresh database, share one outbox; every message leaves once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from bot.core.messages import ChatRef, Outgoing
from tests.redis_support import REDIS_URL, needs_redis
from tests.service.test_storage import needs_postgres, postgres_url  # noqa: F401 (a fixture)
from tests.telegram_api import FakeTelegram, Limits

pytestmark = [needs_postgres, pytest.mark.postgres, pytest.mark.timeout(240)]
CHATS = range(5001, 5301)


async def start_worker(  # type: ignore[no-untyped-def]
    tmp_path: Path, name: str, database_url: str, api: str, role: str = "all", **env: str
):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": FakeTelegram.token,
        "TELEGRAM_API_BASE": api,
        "WORKER_NAME": name,
        "LOG_LEVEL": "INFO",
        **env,
    }
    (tmp_path / name).mkdir()
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--role", role,
        env=env, cwd=tmp_path / name, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def payload(chat: int) -> str:
    return json.dumps(Outgoing(ChatRef("telegram", str(chat)), "GO").to_payload())


async def broadcast(connection: asyncpg.Connection) -> None:
    """One message to every chat, written as a broadcast writes them, in one transaction."""
    now = datetime.now(UTC)
    await connection.executemany(
        "INSERT INTO outbox (platform, chat_id, payload, status, not_before, attempts,"
        " created_at) VALUES ('telegram', $1, $2, 'pending', $3, 0, $3)",
        [(str(chat), payload(chat), now) for chat in CHATS],
    )


async def unsettled(connection: asyncpg.Connection) -> int:
    return await connection.fetchval(
        "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')"
    )


async def test_two_workers_on_a_fresh_database_send_each_message_once(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    server = FakeTelegram(latency=0.02)  # 300 sends take one worker seconds: both take part
    await server.start()
    workers = [
        await start_worker(tmp_path, name, postgres_url, server.url) for name in ("w1", "w2")
    ]
    try:
        async with asyncio.timeout(120):  # both migrated (together) and serve
            while server.calls.count("setmycommands") < 8:
                await asyncio.sleep(0.05)
        connection = await asyncpg.connect(postgres_url)
        try:
            await broadcast(connection)
            await server.wait_for_count(len(CHATS), timeout=120)
            async with asyncio.timeout(60):
                while await unsettled(connection):
                    await asyncio.sleep(0.1)
            senders = await connection.fetch(
                "SELECT claimed_by, count(*) AS n FROM outbox GROUP BY claimed_by"
            )
        finally:
            await connection.close()
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.send_signal(signal.SIGTERM)
        outputs = [await asyncio.wait_for(w.communicate(), 60) for w in workers]
        await server.stop()
    received = Counter(s.chat_id for s in server.sent if s.method == "sendMessage")
    assert set(received) == set(CHATS)
    assert [chat for chat, n in received.items() if n > 1] == []  # no message twice
    assert {row["claimed_by"] for row in senders} == {"w1", "w2"}  # both really sent
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr.decode()[-2000:]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def healthz(port: int) -> dict | None:
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return await response.json()
    except aiohttp.ClientError:
        return None


async def eventually(check, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.1)


@needs_redis
@pytest.mark.timeout(300)
async def test_a_fleet_of_roles_answers_sends_once_and_survives_kill_9(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    """Two web processes (one polls, one stands by), two workers, two schedulers (one leads)
    on PostgreSQL + Redis: a user is answered; a broadcast's messages leave once, within
    Telegram's limits, though a worker is killed -9 halfway; the scheduler's leader and the
    poller are killed -9 and their standbys take over."""
    server = FakeTelegram(latency=0.01, limits=Limits())
    await server.start()
    redis_env = {"REDIS_URL": REDIS_URL}
    ports = {name: free_port() for name in ("s1", "s2", "w2")}
    processes = {
        name: await start_worker(
            tmp_path, name, postgres_url, server.url, role, **redis_env,
            **({"HTTP_LISTEN": f"127.0.0.1:{ports[name]}"} if name in ports else {}),
        )
        for name, role in (
            ("web1", "web"), ("web2", "web"), ("w1", "worker"), ("w2", "worker"),
            ("s1", "scheduler"), ("s2", "scheduler"),
        )
    }  # fmt: skip
    try:
        async def started() -> bool:  # web and workers know the bot, one web process polls
            schedulers = [await healthz(ports[name]) for name in ("s1", "s2")]
            return (
                server.calls.count("getme") >= 4
                and "getupdates" in server.calls
                and all(schedulers)
            )

        await eventually(started, timeout=180)
        server.message(1001, "Ada", "/help")
        await server.wait_for(lambda s: s.chat_id == 1001, timeout=60)
        assert server.conflicts_409 == 0  # the standby web process does not poll

        connection = await asyncpg.connect(postgres_url)
        try:
            await broadcast(connection)
            async with asyncio.timeout(60):
                while len(server.sent) < 60:
                    await asyncio.sleep(0.02)
            processes["w1"].kill()  # SIGKILL mid-broadcast
            await processes["w1"].wait()

            async def settled() -> bool:
                rows = await connection.fetch(
                    "SELECT status, claimed_by FROM outbox WHERE status <> 'sent'"
                )
                return all((r["status"], r["claimed_by"]) == ("sending", "w1") for r in rows)

            await eventually(settled, timeout=120)
            in_doubt = await connection.fetchval(
                "SELECT count(*) FROM outbox WHERE status = 'sending'"
            )
        finally:
            await connection.close()
        received = Counter(s.chat_id for s in server.sent if s.chat_id in CHATS)
        assert [chat for chat, n in received.items() if n > 1] == []  # nothing twice
        assert len(received) >= len(CHATS) - in_doubt and in_doubt <= 1
        assert server.too_many_429s == 0  # one limit for the whole fleet
        async with aiohttp.ClientSession() as session:
            metrics = await (await session.get(f"http://127.0.0.1:{ports['w2']}/metrics")).text()
        assert 'koxbot_sends_total{outcome="sent",platform="telegram"}' in metrics

        schedulers = ("s1", "s2")
        leaders = [name for name in schedulers if (await healthz(ports[name]) or {}).get("leader")]
        assert len(leaders) == 1
        standby = next(name for name in schedulers if name not in leaders)
        processes[leaders[0]].kill()

        async def took_over() -> bool:
            return bool((await healthz(ports[standby]) or {}).get("leader"))

        await eventually(took_over, timeout=60)

        for web in ("web1", "web2"):  # whichever polled, the other takes over
            processes[web].kill()
            await processes[web].wait()
            if web == "web1":
                server.message(1002, "Ben", "/help")
                await server.wait_for(lambda s: s.chat_id == 1002, timeout=60)
    finally:
        for process in processes.values():
            if process.returncode is None:
                process.kill()
            await process.wait()
        await server.stop()


async def test_a_second_poller_elsewhere_is_told_what_409_means(tmp_path: Path) -> None:
    """Two bots on one token that share no database: Telegram answers 409, and the log says
    what it means and what to do."""
    server = FakeTelegram()
    await server.start()
    processes = [
        await start_worker(tmp_path, name, f"sqlite://{tmp_path}/{name}.sqlite3", server.url)
        for name in ("a", "b")
    ]
    try:
        async with asyncio.timeout(120):
            while server.conflicts_409 < 2:
                await asyncio.sleep(0.1)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        outputs = [await asyncio.wait_for(p.communicate(), 60) for p in processes]
        await server.stop()
    logs = "".join(stderr.decode() for _, stderr in outputs)
    assert "409 Conflict: another program is long-polling this bot" in logs
