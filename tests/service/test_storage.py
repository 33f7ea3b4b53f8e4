"""Migrations apply to SQLite and PostgreSQL; the whole loop runs on PostgreSQL too."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.app import App
from bot.core.clock import ManualClock
from storage import db
from tests.conftest import AFTER_EMBARGO, POSTGRES_ENV, SCRIPTS, make_settings
from tests.e2e.test_console_script import NOW, run_console

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_URL = f"postgres://postgres@{PG_HOST}:{PG_PORT}/postgres"


def _postgres_running() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


needs_postgres = pytest.mark.skipif(
    not _postgres_running(),
    reason=f"PostgreSQL is not running at {PG_HOST}:{PG_PORT} (trust auth, user postgres)",
)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A throw-away database on the local server, dropped afterwards."""
    name = f"koxbot_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgres://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_migrations_apply_to_sqlite_once(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'k.sqlite3'}"
    applied = await db.migrate(url)
    assert applied and applied[0].startswith("0_")
    assert await db.migrate(url) == []


# tortoise keeps some per-model state process-wide, so one test process does not switch
# dialects: the PostgreSQL runs go through the `koxbot` command in a process of their own.


@needs_postgres
@pytest.mark.postgres
async def test_migrations_apply_to_postgres_once(postgres_url: str, tmp_path: Path) -> None:
    first = run_koxbot(tmp_path, "migrate", database_url=postgres_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("migrations applied: 0_")
    again = run_koxbot(tmp_path, "migrate", database_url=postgres_url)
    assert again.stdout.strip() == "database is up to date"
    conn = await asyncpg.connect(postgres_url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        columns = await conn.fetch(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name='ledger_entries' AND column_name='amount_fen'"
        )
    finally:
        await conn.close()
    tables = {r["tablename"] for r in rows}
    assert {"campaigns", "submissions", "ledger_entries", "flow_states", "outbox"} <= tables
    assert columns[0]["data_type"] == "bigint"


@needs_postgres
@pytest.mark.postgres
def test_the_creator_loop_runs_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    result = run_console(
        tmp_path,
        "--script", str(SCRIPTS / "loop.txt"), "--json", "--now", NOW,
        env={"DATABASE_URL": postgres_url},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    earnings = [json.loads(line)["text"] for line in result.stdout.splitlines() if "💰" in line]
    assert len(earnings) == 1 and "合计 ¥2,457.00" in earnings[0]


def run_koxbot(tmp_path: Path, *args: str, database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip


CONCURRENCY_TESTS = (
    "tests/e2e/test_money.py::test_two_managers_settling_at_once_make_one_settlement",
    "tests/e2e/test_money.py::test_two_managers_approving_at_once_accrue_once",
    "tests/e2e/test_disputes_points.py::test_two_managers_resolving_at_once_adjust_once",
    "tests/e2e/test_replays_and_bad_input.py::test_the_same_message_twice_makes_one_submission",
    "tests/e2e/test_ledger_races.py::test_two_metric_reports_at_once_accrue_the_latest_price_once",
    "tests/e2e/test_ledger_races.py::test_the_database_refuses_a_second_difference_from_the_same_state",
)


def rerun_on_postgres(tests: tuple[str, ...], timeout: int) -> str:
    """Run these tests again in a process of their own (tortoise keeps dialect state per
    process), each on a fresh PostgreSQL database; their output, once they all passed."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, POSTGRES_ENV: PG_ADMIN_URL}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        capture_output=True, text=True, env=env, cwd=root, timeout=timeout,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    return result.stdout


@needs_postgres
@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_races_hold_on_postgres_too() -> None:
    """The simultaneous-managers tests again, on PostgreSQL's real concurrent transactions."""
    assert f"{len(CONCURRENCY_TESTS)} passed" in rerun_on_postgres(CONCURRENCY_TESTS, 540)


async def test_starting_the_app_leaves_our_timezone_variable_alone(tmp_path: Path) -> None:
    os.environ["TIMEZONE"] = "Asia/Tokyo"
    try:
        async with App(make_settings(tmp_path), ManualClock(AFTER_EMBARGO)):
            assert os.environ["TIMEZONE"] == "Asia/Tokyo"
        assert make_settings(tmp_path).timezone == "Asia/Tokyo"
    finally:
        del os.environ["TIMEZONE"]


async def test_sqlite_runs_in_wal_mode(app: App) -> None:
    from tortoise.context import require_context

    connection = require_context().db()
    _, rows = await connection.execute_query("PRAGMA journal_mode")
    assert rows[0][0] == "wal"


async def test_sqlite_statements_run_on_the_event_loops_thread(app: App) -> None:
    """The app's SQLite engine (storage/sqlite.py) runs statements where they are awaited,
    with no hand-over to a thread; a transaction still keeps other tasks out."""
    import threading

    from tortoise.context import require_context
    from tortoise.transactions import in_transaction

    from storage.sqlite import OnLoopSqliteClient

    connection = require_context().db()
    assert isinstance(connection, OnLoopSqliteClient)
    raw = connection._connection._conn
    raw.create_function("thread_id", 0, threading.get_ident)
    _, rows = await connection.execute_query("SELECT thread_id() AS thread")
    assert rows[0]["thread"] == threading.get_ident()

    order: list[str] = []
    inside = asyncio.Event()

    async def transaction() -> None:
        async with in_transaction() as tx:
            await tx.execute_query("SELECT 1")
            order.append("transaction begun")
            inside.set()
            await asyncio.sleep(0)  # another task gets the loop, not the connection
            order.append("transaction ends")

    async def outsider() -> None:
        await inside.wait()
        await connection.execute_query("SELECT 1")
        order.append("outsider")

    await asyncio.gather(transaction(), outsider())
    assert order == ["transaction begun", "transaction ends", "outsider"]


async def _synchronous(app: App) -> int:
    from tortoise.context import require_context

    _, rows = await require_context().db().execute_query("PRAGMA synchronous")
    return rows[0][0]


async def test_sqlite_commits_with_synchronous_normal_unless_the_url_says(tmp_path: Path) -> None:
    async with App(make_settings(tmp_path), ManualClock(AFTER_EMBARGO)) as app:
        assert await _synchronous(app) == 1  # NORMAL: WAL survives a crash of the bot
    url = f"sqlite://{tmp_path}/full.sqlite3?synchronous=FULL"
    async with App(make_settings(tmp_path, database_url=url), ManualClock(AFTER_EMBARGO)) as app:
        assert await _synchronous(app) == 2  # FULL: and a power cut
