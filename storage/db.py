"""Database set-up: one tortoise config for the app, aerich migrations, the clock for timestamps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aerich import Command
from tortoise import Tortoise

from bot.core.clock import Clock, SystemClock
from storage import models

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
APP = "models"
MODEL_MODULES = ["storage.models", "aerich.models"]


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _normalized_url(database_url)},
        "apps": {APP: {"models": MODEL_MODULES, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


def _normalized_url(url: str) -> str:
    if url.startswith("sqlite://") and url not in ("sqlite://:memory:",):
        path = Path(url.removeprefix("sqlite://"))
        path.parent.mkdir(parents=True, exist_ok=True)
    return url


async def migrate(database_url: str) -> list[str]:
    """Apply every pending migration (idempotent); returns the versions applied now."""
    command = Command(tortoise_config(database_url), app=APP, location=str(MIGRATIONS_DIR))
    async with command:
        await command.init()
        return await command.upgrade(run_in_transaction=True)


async def connect(database_url: str, clock: Clock | None = None) -> None:
    """Open the app's connections; timestamps come from `clock` (the app's injectable clock)."""
    models.set_clock(clock or SystemClock())
    # The global fallback lets tasks and threads started outside this context (platform
    # adapters, the scheduler) use the same connections.
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def close() -> None:
    await Tortoise.close_connections()
