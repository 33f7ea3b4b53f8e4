"""Shared fixtures: an app on a fresh SQLite file with a frozen clock, and a console chat."""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.config import Settings, load_settings
from bot.core.clock import ManualClock
from bot.platforms.console import ConsolePlatform
from tests.fake_openai import FakeOpenAI

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The campaign in tests/e2e/scripts/spring.yaml: embargo 2026-05-20 10:30 Shanghai.
AFTER_EMBARGO = datetime(2026, 5, 20, 11, 0, tzinfo=SHANGHAI)
SCRIPTS = Path(__file__).parent / "e2e" / "scripts"


class Chat:
    """The console platform driven from a test: lines in, the bot's JSON messages out."""

    def __init__(self, app: App, base_dir: Path) -> None:
        self.app = app
        self.out = io.StringIO()
        self.console = ConsolePlatform(app, out=self.out, json_mode=True, base_dir=base_dir)
        self._seen = 0

    async def say(self, *lines: str) -> list[dict]:
        for line in lines:
            await self.console.feed(line)
        return self.new()

    def new(self) -> list[dict]:
        records = [json.loads(line) for line in self.out.getvalue().splitlines()]
        fresh, self._seen = records[self._seen :], len(records)
        return fresh

    async def text(self, *lines: str) -> str:
        """Everything the bot said in answer to these lines, joined."""
        return "\n".join(m["text"] for m in await self.say(*lines))


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite://{tmp_path / 'koxbot.sqlite3'}",
        "admin_ids": "console:boss",
        "export_dir": str(tmp_path / "exports"),
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


# Set by tests/service/test_storage.py when it re-runs chosen tests in a process of their own
# against PostgreSQL (tortoise keeps dialect state per process): each test gets a fresh database.
POSTGRES_ENV = "KOXBOT_TEST_POSTGRES_ADMIN_URL"


@pytest.fixture
async def settings(tmp_path: Path) -> AsyncIterator[Settings]:
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        yield make_settings(tmp_path)
        return
    import asyncpg

    name = f"koxbot_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base = admin_url.rsplit("/", 1)[0]
        yield make_settings(tmp_path, database_url=f"{base}/{name}")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(AFTER_EMBARGO)


@pytest.fixture
async def app(settings: Settings, clock: ManualClock) -> AsyncIterator[App]:
    async with App(settings, clock) as running:
        yield running


@pytest.fixture
def chat(app: App) -> Chat:
    return Chat(app, SCRIPTS)


MANAGER_SETUP = (
    "boss@dm: /role mia manager ACME",
    "mia@dm: !file spring.yaml",
    "mia@dm: /invite SPRING26 code=ACME-KOC",
)


def onboarding_answers(
    user: str, followers: str = "3200", code: str = "ACME-KOC"
) -> tuple[str, ...]:
    """A KOC with one Xiaohongshu account, agreeing to the rules."""
    return (
        f"{user}@dm: /start {code}",
        f"{user}@dm: 1",  # KOC
        f"{user}@dm: 上海",
        f"{user}@dm: 汽车, 亲子",
        f"{user}@dm: 1",  # Xiaohongshu
        f"{user}@dm: {user}_xhs",
        f"{user}@dm: {followers}",
        f"{user}@dm: 2",  # no more accounts
        f"{user}@dm: 1",  # agree
    )


@pytest.fixture
async def enrolled(chat: Chat) -> Chat:
    """A manager with campaign SPRING26 and creator `ada` enrolled in it."""
    await chat.say(*MANAGER_SETUP, *onboarding_answers("ada"))
    return chat


@pytest.fixture
async def llm_server() -> AsyncIterator[FakeOpenAI]:
    """An OpenAI-compatible server on a free loopback port (tests/fake_openai.py)."""
    async with FakeOpenAI() as server:
        yield server
