"""Database set-up: one tortoise config for the app, aerich migrations, the clock for timestamps."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from aerich import Command
from tortoise import timezone as tortoise_timezone
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.context import TortoiseContext

from bot.core.clock import Clock, SystemClock
from storage import models, sqlite

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
APP = "models"
MODEL_MODULES = ["storage.models", "aerich.models"]


def tortoise_config(database_url: str, runtime: bool = False) -> dict[str, Any]:
    """`runtime`: the app's own connections (SQLite's statements on the event loop, see
    storage/sqlite.py); migrations and tools keep tortoise's defaults."""
    connection: str | dict[str, Any] = _normalized_url(database_url)
    if runtime and database_url.startswith("sqlite://"):
        connection = expand_db_url(connection)
        connection["engine"] = sqlite.ENGINE
    return {
        "connections": {"default": connection},
        "apps": {APP: {"models": MODEL_MODULES, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


def _normalized_url(url: str) -> str:
    if url.startswith("sqlite://") and url not in ("sqlite://:memory:",):
        path = Path(url.removeprefix("sqlite://").partition("?")[0])
        path.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite://") and "synchronous=" not in url:
        url += ("&" if "?" in url else "?") + "synchronous=NORMAL"
    return url


async def migrate(database_url: str) -> list[str]:
    """Apply every pending migration (idempotent); returns the versions applied now.

    Several processes starting at once on one PostgreSQL database take turns (an advisory
    lock): the first applies what is pending, the others find nothing left to do."""
    async with _migration_lock(database_url):
        # aerich opens and closes its own connections: give it a context of its own.
        with TortoiseContext(), _environment_kept(TORTOISE_ENV_KEYS):
            config = tortoise_config(database_url)
            command = Command(config, app=APP, location=str(MIGRATIONS_DIR))
            async with command:
                await command.init()
                return await command.upgrade(run_in_transaction=True)


MIGRATION_LOCK = 7_240_001  # the advisory lock id the migrating process holds


@asynccontextmanager
async def _migration_lock(database_url: str) -> AsyncIterator[None]:
    if not database_url.startswith(("postgres://", "asyncpg://")):
        yield  # SQLite: one process by design (its own file lock serialises writers)
        return
    import asyncpg

    connection = await asyncpg.connect(database_url.replace("asyncpg://", "postgres://", 1))
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        yield
    finally:
        await connection.close()  # closing the session releases the lock


# tortoise writes its time zone settings into os.environ (TIMEZONE=UTC): that is our own
# TIMEZONE variable, so it is put back after tortoise has read and cached its values.
TORTOISE_ENV_KEYS = ("TIMEZONE", "USE_TZ")


@contextmanager
def _environment_kept(keys: tuple[str, ...]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in keys}
    try:
        yield
    finally:
        tortoise_timezone.get_use_tz()
        tortoise_timezone.get_default_timezone()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Database:
    """The app's connections, in a tortoise context the app owns (several apps may run in turn)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._context: TortoiseContext | None = None

    async def open(self, clock: Clock | None = None) -> None:
        models.set_clock(clock or SystemClock())
        self._context = TortoiseContext().__enter__()
        # The global fallback lets tasks and threads started outside this context (platform
        # adapters, the scheduler) use the same connections.
        with _environment_kept(TORTOISE_ENV_KEYS):
            await self._context.init(
                config=tortoise_config(self.database_url, runtime=True),
                _enable_global_fallback=True,
            )

    async def close(self) -> None:
        if self._context is not None:
            await self._context.close_connections()
            self._context.__exit__(None, None, None)
            self._context = None
