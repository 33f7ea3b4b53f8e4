"""Benchmarks: each prints its figures (`python -m bench.NAME`)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any


def run(main: Coroutine[Any, Any, None]) -> None:
    """`asyncio.run`, where SIGTERM (a `timeout`, a stopped job) cancels the bench as Ctrl-C
    does, so that its `finally` blocks still drop the databases it made."""

    async def cancellable() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await main

    asyncio.run(cancellable())
