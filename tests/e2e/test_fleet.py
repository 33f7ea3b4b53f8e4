"""More than one process on one PostgreSQL database (issue 15, first part): real `koxbot run`
processes, started together on a fresh database, share one outbox; every message leaves once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from bot.core.messages import ChatRef, Outgoing
from tests.service.test_storage import needs_postgres, postgres_url  # noqa: F401 (a fixture)
from tests.telegram_api import FakeTelegram

pytestmark = [needs_postgres, pytest.mark.postgres, pytest.mark.timeout(240)]
CHATS = range(5001, 5301)


async def start_worker(tmp_path: Path, name: str, database_url: str, api: str):  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": FakeTelegram.token,
        "TELEGRAM_API_BASE": api,
        "WORKER_NAME": name,
        "LOG_LEVEL": "WARNING",
    }
    (tmp_path / name).mkdir()
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        env=env, cwd=tmp_path / name, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def payload(chat: int) -> str:
    return json.dumps(Outgoing(ChatRef("telegram", str(chat)), "GO").to_payload())


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
            now = datetime.now(UTC)
            await connection.executemany(
                "INSERT INTO outbox (platform, chat_id, payload, status, not_before, attempts,"
                " created_at) VALUES ('telegram', $1, $2, 'pending', $3, 0, $3)",
                [(str(chat), payload(chat), now) for chat in CHATS],
            )
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
