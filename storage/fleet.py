"""How processes sharing one database work together: wake-ups and the scheduler's leader.

- **Wake-ups.** On PostgreSQL a trigger (migration 4) sends `NOTIFY koxbot_outbox` when
  outbox rows are written, at commit; `publish()` sends the others (`schedule`: a timeline was
  moved). Each process keeps one connection that LISTENs and calls what was registered, so
  a reply written by a web process is sent by a worker at once, with no polling.
- **Leadership.** The clock's work (timelines, broadcasts, digests, settlement, retention)
  runs in one process at a time: the one holding a session-level advisory lock. When it
  dies its session ends, the lock is free, and a standby takes it within `retry` seconds.

On SQLite there is one process by design: wake-ups stay inside it and it always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "koxbot_"
# Advisory lock ids (7_240_001: migrations): the scheduler's leader; the one Telegram poller.
LEADER_LOCK = 7_240_002
POLLER_LOCK = 7_240_003
RETRY_SECONDS = 2.0


def on_postgres(database_url: str) -> bool:
    return database_url.startswith(("postgres://", "asyncpg://"))


def _dsn(database_url: str) -> str:
    return database_url.replace("asyncpg://", "postgres://", 1)


class Wakeups:
    """LISTEN/NOTIFY between processes; `on(topic, callback)` before `start()`."""

    def __init__(self, database_url: str, retry: float = RETRY_SECONDS) -> None:
        self.enabled = on_postgres(database_url)
        self._dsn = _dsn(database_url)
        self._retry = retry
        self._callbacks: dict[str, list[Callable[[], None]]] = {}
        self._connection: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    def on(self, topic: str, callback: Callable[[], None]) -> None:
        self._callbacks.setdefault(topic, []).append(callback)

    async def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._listen(), name="wakeups")

    async def publish(self, topic: str) -> None:
        """Wake every process listening on `topic` (this one included)."""
        connection = self._connection
        if connection is None or connection.is_closed():
            for callback in self._callbacks.get(topic, []):
                callback()  # no connection (SQLite, or reconnecting): at least this process
            return
        await connection.execute("SELECT pg_notify($1, '')", CHANNEL_PREFIX + topic)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        while True:
            try:
                connection = await asyncpg.connect(self._dsn)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("wake-ups: cannot connect (%s); retrying", type(exc).__name__)
                await asyncio.sleep(self._retry)
                continue
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
            try:
                for topic in self._callbacks:
                    await connection.add_listener(CHANNEL_PREFIX + topic, self._notified)
                self._connection = connection
                # Whatever was written while no one listened is found by the next pass.
                self._wake_all()
                await lost.wait()
                log.warning("wake-ups: connection lost; reconnecting")
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("wake-ups: %s; reconnecting", type(exc).__name__)
            finally:
                self._connection = None
                with contextlib.suppress(Exception):
                    await connection.close(timeout=1)
            await asyncio.sleep(self._retry)

    def _notified(self, _connection: object, _pid: int, channel: str, _payload: str) -> None:
        for callback in self._callbacks.get(channel.removeprefix(CHANNEL_PREFIX), []):
            callback()

    def _wake_all(self) -> None:
        for callbacks in self._callbacks.values():
            for callback in callbacks:
                callback()


class Leadership:
    """Whether this process holds a role only one may hold (`leading`): the clock's work, or
    Telegram long polling; `run()` keeps trying to take it and notices losing it."""

    def __init__(
        self,
        database_url: str,
        on_change: Callable[[], None] = lambda: None,
        retry: float = RETRY_SECONDS,
        lock: int = LEADER_LOCK,
    ) -> None:
        self.single = not on_postgres(database_url)
        self.lock = lock
        self._dsn = _dsn(database_url)
        self.retry = retry
        self.leading = self.single
        self.on_change = on_change  # e.g. wake the scheduler: it may tick now, or must stop
        self._connection: asyncpg.Connection | None = None

    async def run(self) -> None:
        """Hold the lock while alive: take it when free, notice when the session is lost."""
        if self.single:
            return
        try:
            while True:
                try:
                    await self._hold_or_try()
                except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                    log.warning("leadership: %s", type(exc).__name__)
                    await self._lost()
                await asyncio.sleep(self.retry)
        finally:
            await self._lost()

    async def _hold_or_try(self) -> None:
        if self._connection is None or self._connection.is_closed():
            await self._lost()
            self._connection = await asyncpg.connect(self._dsn, timeout=self.retry * 5)
        if self.leading:
            # Still ours while the session lives; a dead connection means it is not.
            await self._connection.fetchval("SELECT 1", timeout=self.retry * 5)
            return
        got = await self._connection.fetchval(
            "SELECT pg_try_advisory_lock($1)", self.lock, timeout=self.retry * 5
        )
        if got:
            log.info("leadership: this process now holds lock %s", self.lock)
            self._set(True)

    async def _lost(self) -> None:
        if self.leading and not self.single:
            log.warning("leadership: lock %s lost; another process takes over", self.lock)
            self._set(False)
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close(timeout=1)  # ends the session: the lock is free

    def _set(self, leading: bool) -> None:
        self.leading = leading
        self.on_change()
