"""The outbox against a Bot API server that enforces Telegram's limits (windows scaled down)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from bot.core.messages import ChatRef, Outgoing
from bot.core.ratelimit import Limit
from storage.models import Identity, OutboxMessage, Person
from tests.e2e.test_telegram import Running, start_bot, stop_bot
from tests.telegram_api import FakeTelegram, Limits

pytestmark = pytest.mark.timeout(120)

GROUP = -100777
SERVER_LIMITS = Limits(
    global_per_second=100, private_per_window=1, private_window=1.0,
    group_per_window=20, group_window=2.0,
)  # fmt: skip


async def limited_bot(tmp_path: Path) -> Running:
    running = await start_bot(FakeTelegram(limits=SERVER_LIMITS), tmp_path)
    sender = running.platform.sender
    sender.everywhere = Limit(SERVER_LIMITS.global_per_second, 1.0)
    sender.private = Limit(SERVER_LIMITS.private_per_window, SERVER_LIMITS.private_window)
    sender.group = Limit(SERVER_LIMITS.group_per_window, SERVER_LIMITS.group_window)
    return running


async def queue_traffic(running: Running, chats: range) -> None:
    for chat_id in chats:
        await running.app.outbox.put(Outgoing(ChatRef("telegram", str(chat_id)), f"hi {chat_id}"))
    for i in range(30):
        group = ChatRef("telegram", str(GROUP), is_group=True)
        await running.app.outbox.put(Outgoing(group, f"group {i}"))


async def wait_until_settled(expected: int, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while await OutboxMessage.filter(status__in=["pending", "sending"]).count():
            await asyncio.sleep(0.1)
    assert await OutboxMessage.all().count() == expected


async def test_300_chats_and_a_busy_group_arrive_once_each_within_the_limits(
    tmp_path: Path,
) -> None:
    running = await limited_bot(tmp_path)
    server = running.server
    try:
        person = await Person.create(display_name="gone")
        await Identity.create(person=person, platform="telegram", user_id="1007")
        server.blocked.add(1007)
        server.forced_429[1010] = 1  # one chat is told to retry after a second
        await queue_traffic(running, range(1001, 1301))
        await wait_until_settled(330)
        failed = await OutboxMessage.filter(status="failed").values_list("chat_id", flat=True)
        assert failed == ["1007"]
        assert (await Identity.get(user_id="1007")).blocked_at is not None
        assert await OutboxMessage.filter(status="sent").count() == 329
    finally:
        await stop_bot(running)
    sent = Counter(s.chat_id for s in server.sent)
    assert all(sent[chat] == 1 for chat in range(1001, 1301) if chat != 1007)
    assert sent[1007] == 0 and sent[GROUP] == 30
    assert [s.text for s in server.to(GROUP)] == [f"group {i}" for i in range(30)]
    # Every 429 the server gave was retried: the forced one, and any from timing at the edges.
    assert server.too_many_429s >= 1


async def test_a_restart_in_the_middle_resumes_without_duplicates(tmp_path: Path) -> None:
    first = await limited_bot(tmp_path)
    await queue_traffic(first, range(2001, 2101))
    async with asyncio.timeout(30):
        while len(first.server.sent) < 40:
            await asyncio.sleep(0.02)
    await first.app.outbox.stop()  # a graceful stop lets the message in flight finish
    await first.worker
    delivered_before = len(first.server.sent)
    assert delivered_before < 130
    assert await OutboxMessage.filter(status="pending").count() == 130 - delivered_before
    await stop_bot(first)

    second = await limited_bot(tmp_path)
    try:
        await wait_until_settled(130)
        assert await OutboxMessage.filter(status="sent").count() == 130
    finally:
        await stop_bot(second)
    chats = Counter(s.chat_id for s in first.server.sent + second.server.sent)
    assert all(chats[chat] == 1 for chat in range(2001, 2101))
    assert chats[GROUP] == 30
