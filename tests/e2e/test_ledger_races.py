"""Issue 13: concurrent repricings of one creator's posts write the ledger once.

The race tests also run on PostgreSQL (tests/service/test_storage.py CONCURRENCY_TESTS), where
separate connections are real concurrent transactions; on SQLite one process has one
connection and tortoise runs one transaction at a time on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from typing import Any

import pytest
from tortoise.context import require_context
from tortoise.exceptions import IntegrityError

from bot.services import ledger
from storage.models import LedgerEntry, MetricSnapshot, Submission
from tests.conftest import Chat
from tests.e2e.test_money import SETUP


def _is_postgres() -> bool:
    return require_context().db().capabilities.dialect == "postgres"


async def _someone_waits_on_a_lock() -> bool:
    """Whether a transaction of this database is blocked on a lock (row, advisory …)."""
    if not _is_postgres():
        # One connection: the other report cannot even start while we hold a transaction.
        return True
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
    _, rows = await require_context().db().execute_query(waiting + "wait_event_type = 'Lock'")
    return rows[0][0] > 0


class HoldFirstRepricing:
    """Holds the first repricing's transaction open right after it read what the posts have
    accrued, until another repricing has finished (nothing serializes them: the race) or is
    blocked on a lock (they are serialized). Events, no timing assumptions."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.held = False
        self.released_because = ""
        self.other_finished = asyncio.Event()
        read, reprice = ledger._accrued_by_submission, ledger.reprice

        async def held_read(*args: Any) -> Any:
            result = await read(*args)
            if not self.held:
                self.held = True
                await self._until_the_other_finished_or_waits()
            return result

        async def watched_reprice(*args: Any, **kwargs: Any) -> Any:
            try:
                return await reprice(*args, **kwargs)
            finally:
                self.other_finished.set()  # the held one is still inside its own

        monkeypatch.setattr(ledger, "_accrued_by_submission", held_read)
        monkeypatch.setattr(ledger, "reprice", watched_reprice)

    async def _until_the_other_finished_or_waits(self) -> None:
        while not self.other_finished.is_set():
            if await _someone_waits_on_a_lock():
                self.released_because = "the other waits on a lock"
                return
            # Wakes at once on the event; otherwise looks at the locks again.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.other_finished.wait(), 0.02)
        self.released_because = "the other finished"


async def post_accrued(submission_id: int) -> int:
    return (await ledger.post_earning(submission_id))[0]


@pytest.mark.timeout(120)
async def test_two_metric_reports_at_once_accrue_the_latest_price_once(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    await chat.say(*SETUP)  # ada's post #1 is approved: ¥50 fixed accrued
    assert await post_accrued(1) == 5000
    hold = HoldFirstRepricing(monkeypatch)
    # One person, two chats: the dispatcher serializes per (chat, person) only.
    await asyncio.gather(
        chat.console.feed("ada@dm: /metrics 1 likes=100"),
        chat.console.feed("ada@car-club: /metrics 1 likes=200"),
    )
    assert hold.held
    post = await Submission.get(id=1)
    latest = await MetricSnapshot.get(id=post.latest_snapshot_id)
    assert latest.likes in (100, 200)
    entries = await LedgerEntry.filter(submission_id=1).order_by("id")
    written = [(e.kind, e.amount_fen, e.seq) for e in entries]
    # money.yaml: ¥50 fixed + ¥0.20 per engagement.
    assert await post_accrued(1) == 5000 + 20 * latest.likes, (written, hold.released_because)
    # The held one let the other go only once it waited: it had to, for the first to commit.
    assert hold.released_because == "the other waits on a lock"
    last = entries[-1]
    assert last.kind == "accrual" and last.snapshot_id == latest.id  # priced by the latest


async def test_the_database_refuses_a_second_difference_from_the_same_state(
    chat: Chat,
) -> None:
    """Written directly, past the lock: an accrual with a post_seq the post already has."""
    await chat.say(*SETUP, "ada@dm: /metrics 1 likes=100")
    entries = await LedgerEntry.filter(submission_id=1).order_by("id")
    assert [(e.kind, e.amount_fen, e.post_seq) for e in entries] == [
        ("accrual", 5000, 1),
        ("accrual", 2000, 2),
    ]
    last = entries[-1]
    assert last.snapshot_id == (await Submission.get(id=1)).latest_snapshot_id
    twin = {
        "creator_id": last.creator_id,  # type: ignore[attr-defined]
        "campaign_id": last.campaign_id,  # type: ignore[attr-defined]
        "submission_id": 1,
        "kind": "accrual",
        "amount_fen": 2000,
        "currency": "CNY",
        "snapshot_id": last.snapshot_id,  # type: ignore[attr-defined]
        "seq": last.seq + 1,  # a free seq: only the post's own sequence stops it
    }
    with pytest.raises(IntegrityError):
        await LedgerEntry.create(**twin, post_seq=last.post_seq)
    # The same snapshot may price further entries (another tier, the creator cap), and other
    # kinds carry no post_seq at all.
    await LedgerEntry.create(**twin, post_seq=last.post_seq + 1)
    await LedgerEntry.create(**{**twin, "kind": "adjustment", "seq": last.seq + 2})
    await LedgerEntry.create(**{**twin, "kind": "adjustment", "seq": last.seq + 3})


async def test_a_rejected_post_is_reversed_after_its_accruals(chat: Chat) -> None:
    await chat.say(*SETUP, "ada@dm: /metrics 1 likes=100", "mia@dm: /reject 1 重复投稿")
    entries = await LedgerEntry.filter(submission_id=1).order_by("id")
    assert [(e.kind, e.amount_fen, e.post_seq, e.snapshot_id) for e in entries] == [
        ("accrual", 5000, 1, None),  # approved before any metrics
        ("accrual", 2000, 2, 1),
        ("reversal", -7000, 3, None),
    ]


async def test_on_sqlite_a_repricing_holds_the_write_lock_before_it_reads(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tortoise's BEGIN is deferred; a second process (another koxbot command on the same file)
    must wait for the repricing, not commit between its reads and its write."""
    if _is_postgres():
        pytest.skip("SQLite's write lock")
    await chat.say(*SETUP)
    path = chat.app.settings.database_url.removeprefix("sqlite://")
    seen: list[str] = []
    read = ledger._accrued_by_submission

    async def read_then_try_another_writer(*args: Any) -> Any:
        result = await read(*args)
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            seen.append("another writer got in")
            other.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            seen.append(str(exc))
        finally:
            other.close()
        return result

    monkeypatch.setattr(ledger, "_accrued_by_submission", read_then_try_another_writer)
    await chat.say("ada@dm: /metrics 1 likes=100")
    assert seen == ["database is locked"]
    assert await post_accrued(1) == 7000
