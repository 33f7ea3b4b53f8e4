"""Telegram: the send rate the outbox achieves against its limit, and inbound round trips.

Both run on the loopback Bot API server of the tests (tests/telegram_api.py), which enforces
the limits and counts 429s. Printed as ratios against references measured in the same run:
  send rate / configured global limit        (target ≥ 0.95, with 0 unretried 429s)
  koxbot round trips/s / bare aiogram echo bot round trips/s
Run: .venv/bin/python -m bench.telegram [MESSAGES]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from bot.core.messages import ChatRef, Outgoing
from storage.models import OutboxMessage
from tests.e2e.test_telegram import start_bot, stop_bot
from tests.telegram_api import FakeTelegram, Limits

GLOBAL_LIMIT = 30


async def send_rate(messages: int) -> None:
    server = FakeTelegram(limits=Limits(global_per_second=GLOBAL_LIMIT))
    with tempfile.TemporaryDirectory() as tmp:
        running = await start_bot(server, Path(tmp), telegram_rate_global_per_second=GLOBAL_LIMIT)
        try:
            for chat_id in range(10_001, 10_001 + messages):
                await running.app.outbox.put(Outgoing(ChatRef("telegram", str(chat_id)), "hi"))
            while await OutboxMessage.filter(status__in=["pending", "sending"]).count():
                await asyncio.sleep(0.05)
            failed = await OutboxMessage.filter(status="failed").count()
        finally:
            await stop_bot(running)
    times = server.sent_times
    # A sliding window admits `limit` sends in any second: N sends need (N / limit) seconds,
    # counted from the first send to one window past the last.
    achieved = len(times) / (times[-1] - times[0] + 1.0)
    print(f"send: {len(times)} messages, {achieved:.1f}/s against a limit of {GLOBAL_LIMIT}/s")
    print(
        f"send rate / limit = {achieved / GLOBAL_LIMIT:.3f}; 429s answered (all retried): "
        f"{server.too_many_429s}; failed: {failed}"
    )


async def round_trips(count: int, bot_runner: str) -> float:
    server = FakeTelegram()
    with tempfile.TemporaryDirectory() as tmp:
        if bot_runner == "echo":
            await server.start()
            bot = Bot(
                server.token, session=AiohttpSession(api=TelegramAPIServer.from_base(server.url))
            )
            dp = Dispatcher()

            async def echo(message: Message) -> None:
                await message.answer(message.text or "")

            dp.message.register(echo)
            polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False))
            stop = (dp, polling, bot)
        else:
            running = await start_bot(
                server, Path(tmp), telegram_rate_private_per_second=100,
                telegram_rate_global_per_second=1000,
            )  # fmt: skip
        await asyncio.sleep(0.3)
        start = time.perf_counter()
        for i in range(count):
            before = len(server.sent)
            server.message(5000 + i, f"user{i}", "/help")
            while len(server.sent) == before:
                await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - start
        if bot_runner == "echo":
            await stop[0].stop_polling()
            await stop[1]
            await stop[2].session.close()
            await server.stop()
        else:
            await stop_bot(running)
    return count / elapsed


async def main(messages: int) -> None:
    await send_rate(messages)
    echo = await round_trips(60, "echo")
    koxbot = await round_trips(60, "koxbot")
    print(f"inbound: aiogram echo bot {echo:.1f} round trips/s, koxbot /help {koxbot:.1f}/s")
    print(f"koxbot / echo = {koxbot / echo:.3f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 150))
