"""Count the SQL statements an app sends to its database, as the database driver sees them.

Nothing is mocked: the driver's own tracing hooks watch the real connections while a block
runs, on SQLite (`sqlite3`'s trace callback, through aiosqlite) and on PostgreSQL (asyncpg's
query loggers, on every connection of tortoise's pool, including one opened meanwhile).
Transaction control (BEGIN, COMMIT, SAVEPOINT …) counts like any statement; statements run by
database triggers do not (the process never sent them).

asyncpg's pool also sends one session reset (`SELECT pg_advisory_unlock_all(); CLOSE ALL;
UNLISTEN *; RESET ALL;`, one round trip) whenever a connection goes back to the pool: those
are kept apart in `resets`, since they are the pool's housekeeping, not a query of ours.

    async with count_queries(app) as counted:
        await chat.say("ada@car-club: hello")
    assert len(counted) <= 4, counted.report()
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.app import App


@dataclass
class Counted:
    """What was sent while counting: `statements` (ours) and the pool's `resets`."""

    statements: list[str] = field(default_factory=list)
    resets: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.statements)

    def report(self) -> str:
        lines = [f"{len(self.statements)} statements:"]
        lines += [
            f"  {i}. {' '.join(sql.split())[:160]}" for i, sql in enumerate(self.statements, 1)
        ]
        if self.resets:
            lines.append(f"(+ {len(self.resets)} pool session resets)")
        return "\n".join(lines)

    def _add(self, sql: str) -> None:
        text = sql.strip()
        if not text or text.startswith("--"):  # SQLite reports trigger programs as "-- name"
            return
        if text.startswith("SELECT pg_advisory_unlock_all();") and "RESET ALL" in text:
            self.resets.append(text)
        else:
            self.statements.append(text)


def _client(app: App) -> Any:
    context = app.database._context
    assert context is not None, "the app's database is not open"
    return context.connections.get("default")


@asynccontextmanager
async def count_queries(app: App) -> AsyncIterator[Counted]:
    """Every statement the app's database connection(s) run while the block runs."""
    counted = Counted()
    client = _client(app)
    if client.capabilities.dialect == "sqlite":
        async with _traced_sqlite(client, counted):
            yield counted
    else:
        async with _traced_asyncpg(client, counted):
            yield counted


@asynccontextmanager
async def _traced_sqlite(client: Any, counted: Counted) -> AsyncIterator[None]:
    if client._connection is None:
        await client.create_connection(with_db=True)
    connection = client._connection  # aiosqlite: the callback runs in its worker thread
    # The trace callback runs before the statement's result is handed back, so every statement
    # of the block is recorded by the time the block's awaits return.
    await connection.set_trace_callback(counted._add)
    try:
        yield
    finally:
        await connection.set_trace_callback(None)


@asynccontextmanager
async def _traced_asyncpg(client: Any, counted: Counted) -> AsyncIterator[None]:
    pool = client._pool
    assert pool is not None, "the app's database is not open"

    def logged(record: Any) -> None:
        counted._add(record.query)

    traced: list[Any] = []

    def trace(connection: Any) -> None:
        connection.add_query_logger(logged)
        traced.append(connection)

    for holder in pool._holders:
        if holder._con is not None:
            trace(holder._con)
    # A connection the pool opens meanwhile is traced as well (the pool's per-connection
    # set-up hook, kept and called first).
    original_init = pool._init

    async def init(connection: Any) -> None:
        if original_init is not None:
            await original_init(connection)
        trace(connection)

    pool._init = init
    try:
        yield
        # asyncpg hands the records to its loggers with loop.call_soon: let them run.
        for _ in range(3):
            await asyncio.sleep(0)
    finally:
        pool._init = original_init
        for connection in traced:
            connection.remove_query_logger(logged)
