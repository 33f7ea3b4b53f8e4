"""SQLite with its statements run on the event loop's own thread (the app's runtime engine).

aiosqlite hands every statement to a thread of its own and the answer back: two thread
switches and a wait for the GIL around statements that take tens of microseconds (an indexed
lookup, an append to the write-ahead log). On a reply's path that hand-over cost more than the
statements and left the loop idle between them; run here, inbound round trips doubled
(bench/inbound.py). What the thread bought is little on the embedded default: there is one
connection, so a long statement (an export over a large database) kept every other statement
waiting anyway; now it holds the loop as long. SQLite is one process by design (another
writer's lock would hold the loop too); a fleet runs on PostgreSQL.

Used through the engine path `storage.sqlite` (tortoise looks up `client_class` there).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import aiosqlite
from tortoise.backends.sqlite.client import SqliteClient

ENGINE = "storage.sqlite"


class _OnLoopConnection(aiosqlite.Connection):
    """aiosqlite's connection, its calls run in the caller's thread. Its own thread remains
    only to open and close the sqlite3 connection (hence `check_same_thread=False`)."""

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


class OnLoopSqliteClient(SqliteClient):
    async def create_connection(self, with_db: bool) -> None:
        if self._connection:
            return
        filename = self.filename
        self._connection = await _OnLoopConnection(
            lambda: sqlite3.connect(filename, isolation_level=None, check_same_thread=False),
            iter_chunk_size=64,
        )
        self._connection._conn.row_factory = sqlite3.Row
        for pragma, value in self.pragmas.items():
            cursor = await self._connection.execute(f"PRAGMA {pragma}={value}")
            await cursor.close()
        await self._post_connect()


client_class = OnLoopSqliteClient
