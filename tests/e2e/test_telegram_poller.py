"""Two processes long-polling one bot: the loopback Bot API answers 409 Conflict, as Telegram
does ("terminated by other getUpdates request"), to the getUpdates that was waiting."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from tests.telegram_api import CONFLICT, FakeTelegram

pytestmark = pytest.mark.timeout(60)

ADA = 1003


@dataclass
class Poller:
    """A bare aiogram bot polling as TelegramPlatform does; it echoes with its name."""

    name: str
    bot: Bot
    dispatcher: Dispatcher
    task: asyncio.Task[None]

    async def stop(self) -> None:
        await self.dispatcher.stop_polling()
        await asyncio.wait_for(self.task, timeout=10)
        await self.bot.session.close()


async def start_poller(server: FakeTelegram, name: str) -> Poller:
    bot = Bot(server.token, session=AiohttpSession(api=TelegramAPIServer.from_base(server.url)))
    dispatcher = Dispatcher()

    async def echo(message: Message) -> None:
        await message.answer(f"{name}: {message.text}")

    dispatcher.message.register(echo)
    task = asyncio.create_task(
        dispatcher.start_polling(
            bot, handle_signals=False, allowed_updates=["message"], close_bot_session=False
        )
    )
    return Poller(name, bot, dispatcher, task)


async def until(condition: object, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def test_a_second_getupdates_ends_the_waiting_one_with_409() -> None:
    server = FakeTelegram()
    await server.start()
    url = f"{server.url}/bot{server.token}/getUpdates"
    try:
        async with aiohttp.ClientSession() as http:
            first = asyncio.create_task(http.post(url, json={"timeout": 10}))
            await until(lambda: server._waiting is not None, 5)
            second = await http.post(url, json={"timeout": 0})
            assert second.status == 200 and (await second.json())["result"] == []
            ended = await first
            assert ended.status == 409
            assert await ended.json() == {"ok": False, "error_code": 409, "description": CONFLICT}
            assert server.conflicts_409 == 1
            # A lone long poll, or polls one after the other, meet no conflict.
            lone = await http.post(url, json={"timeout": 10})
            assert lone.status == 200
            server.message(ADA, "Ada", "hi")
            woken = await http.post(url, json={"timeout": 10})
            assert (await woken.json())["result"][0]["message"]["text"] == "hi"
            assert server.conflicts_409 == 1
    finally:
        await server.stop()


async def test_one_poller_meets_no_conflict() -> None:
    server = FakeTelegram()
    await server.start()
    poller = await start_poller(server, "one")
    try:
        await until(lambda: server.calls.count("getupdates") >= 4, 10)  # polls of ≤ 0.5 s each
        server.message(ADA, "Ada", "hi")
        await server.wait_for(lambda s: s.text == "one: hi", timeout=10)
        assert server.conflicts_409 == 0
    finally:
        await poller.stop()
        await server.stop()


async def test_two_aiogram_pollers_on_one_bot_get_409s(caplog: pytest.LogCaptureFixture) -> None:
    """aiogram logs each 409 ("Failed to fetch updates - TelegramConflictError") and polls
    again after its backoff (1 s, growing ×1.3 up to 5 s); start_polling does not raise."""
    server = FakeTelegram()
    await server.start()
    caplog.set_level(logging.WARNING, logger="aiogram.dispatcher")
    first = await start_poller(server, "first")
    second = await start_poller(server, "second")
    try:
        await until(lambda: server.conflicts_409 >= 3, 30)
        assert any(
            "TelegramConflictError" in r.getMessage() and "terminated by other getUpdates" in
            r.getMessage() for r in caplog.records
        )  # fmt: skip
        assert not first.task.done() and not second.task.done()  # both still polling
        # Updates still arrive: whichever poller holds the line at the time answers.
        server.message(ADA, "Ada", "hi")
        answer = await server.wait_for(lambda s: s.text.endswith(": hi"), timeout=20)
        assert answer.chat_id == ADA
    finally:
        await first.stop()
        await second.stop()
        await server.stop()
