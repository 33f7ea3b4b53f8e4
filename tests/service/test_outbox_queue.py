"""The outbox as a queue several workers share: reservations, claims, order per chat,
idempotency keys and retention; on SQLite here, and again on PostgreSQL (last test)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.app import App
from bot.core.messages import ChatRef, Outgoing
from bot.core.outbox import RESERVATION, Outbox
from bot.domain.statuses import OutboxStatus
from storage.models import OutboxMessage
from tests.service.test_storage import needs_postgres, rerun_on_postgres


class Recorder:
    def __init__(self, name: str = "", log: list[tuple[str, str, str]] | None = None) -> None:
        self.name = name
        self.log = log if log is not None else []  # (worker, chat, text), as sent

    async def send(self, message: Outgoing) -> str:
        self.log.append((self.name, message.chat.chat_id, message.text))
        return str(len(self.log))


def worker(app: App, name: str, log: list[tuple[str, str, str]] | None = None) -> Outbox:
    """Another process's outbox on the same database (its own name, sender and limits)."""
    outbox = Outbox(app.clock, app.ports.outbox, app.ports.people, worker=name)
    outbox.register("test", Recorder(name, log))
    return outbox


async def queue(app: App, *chats_and_texts: tuple[str, str]) -> None:
    for chat_id, text in chats_and_texts:
        await app.outbox.put(Outgoing(ChatRef("test", chat_id), text))


async def reserve(app: App, name: str, limit: int = 100) -> list[int]:
    now = app.clock.now()
    rows = await app.ports.outbox.reserve(["test"], now, limit, name, now + RESERVATION)
    return [row.id for row in rows]


async def test_two_workers_never_reserve_the_same_row(app: App) -> None:
    await queue(app, *((f"c{i}", "hi") for i in range(40)))
    first, second = await asyncio.gather(reserve(app, "w1", 25), reserve(app, "w2", 25))
    assert sorted([len(first), len(second)]) == [15, 25]  # whichever came first took 25
    assert not set(first) & set(second)
    assert await reserve(app, "w3") == []  # everything is held


async def test_only_the_oldest_unsent_row_of_a_chat_is_offered(app: App) -> None:
    await queue(app, ("a", "a1"), ("a", "a2"), ("b", "b1"), ("a", "a3"))
    tomorrow = app.clock.now() + timedelta(days=1)
    await app.outbox.put(Outgoing(ChatRef("test", "b"), "tomorrow"), not_before=tomorrow)
    await queue(app, ("b", "b2"))
    log: list[tuple[str, str, str]] = []
    w1, w2 = worker(app, "w1", log), worker(app, "w2", log)
    # Two workers taking turns pass by pass: each chat's messages still leave in order, and
    # a row written ahead does not hold back the chat's later reply.
    tried = 1
    while tried:  # until neither finds anything to try: (sent, tried, wait)
        tried = (await w1._pass())[1] + (await w2._pass())[1]
    by_chat: dict[str, list[str]] = {}
    for _, chat_id, text in log:
        by_chat.setdefault(chat_id, []).append(text)
    assert by_chat == {"a": ["a1", "a2", "a3"], "b": ["b1", "b2"]}
    assert {name for name, _, _ in log} == {"w1", "w2"}  # both took part
    assert await app.ports.outbox.next_due(["test"], app.clock.now()) == tomorrow


async def test_a_dead_workers_reservations_go_to_another_after_the_lease(app: App) -> None:
    await queue(app, ("a", "hi"), ("b", "hi"))
    held = await reserve(app, "w1")
    assert len(held) == 2 and await reserve(app, "w2") == []
    app.clock.advance(RESERVATION + timedelta(seconds=1))  # type: ignore[attr-defined]
    assert await reserve(app, "w2") == held  # nothing was on the wire: nothing is lost
    row = await app.ports.outbox.get(held[0])
    assert row is not None
    assert not await app.ports.outbox.claim(row, "w1", app.clock.now() + RESERVATION)
    assert await app.ports.outbox.claim(row, "w2", app.clock.now() + RESERVATION)


async def test_an_answer_is_claimed_at_once_only_as_its_chats_first_free_due_row(
    app: App,
) -> None:
    store, now = app.ports.outbox, app.clock.now()
    lease = now + RESERVATION

    async def claim_first(row_id: int, name: str = "w1") -> bool:
        row = await store.get(row_id)
        assert row is not None
        return await store.claim_first(row, name, now, lease)

    await queue(app, ("a", "earlier"), ("a", "answer"), ("b", "held"), ("c", "answer"))
    earlier, answer, held, lone = (row.id for row in await rows_by_id(app))
    assert not await claim_first(answer)  # an earlier due row of the chat goes first
    assert await reserve(app, "w2", 1) == [earlier]  # a worker reserved "earlier"...
    assert await claim_first(earlier, "w2")  # ...and may still take it this way
    assert not await claim_first(answer)  # "earlier" is on the wire
    assert await reserve(app, "w2", 1) == [held]
    assert not await claim_first(held)  # w2 holds it
    ahead = await app.outbox.put(
        Outgoing(ChatRef("test", "d"), "tomorrow"), not_before=now + timedelta(days=1)
    )
    assert not await claim_first(ahead.id)  # not due
    wins = await asyncio.gather(claim_first(lone, "w1"), claim_first(lone, "w3"))
    assert sorted(wins) == [False, True]  # two workers: one claim
    stored = await store.get(lone)
    assert stored is not None and (stored.status, stored.attempts) == ("sending", 1)


async def rows_by_id(app: App) -> list[OutboxMessage]:
    return await OutboxMessage.all().order_by("id")


async def test_a_stopping_worker_gives_its_reservations_back(app: App) -> None:
    await queue(app, ("a", "hi"), ("b", "hi"))
    w1 = worker(app, "w1")
    w1.limiter = Paused()  # nothing may be sent: the rows stay reserved
    await w1.stop()
    assert len(await reserve(app, "w1")) == 2
    await w1.run()  # returns at once (stopped) and releases what it held
    assert len(await reserve(app, "w2")) == 2


class Paused:
    async def take(self, rules: object) -> float:
        return 60.0

    async def pause(self, key: str, seconds: float) -> None:
        """Never asked: nothing is sent, so no platform answers with retry_after."""


async def test_a_message_with_a_key_is_queued_once(app: App) -> None:
    message = Outgoing(ChatRef("test", "a"), "your statement")
    rows = await asyncio.gather(
        *(app.outbox.put(message, dedupe_key="statement:7:ada") for _ in range(5))
    )
    assert len({row.id for row in rows}) == 1
    assert await OutboxMessage.filter(chat_id="a").count() == 1
    other = await app.outbox.put(message, dedupe_key="statement:8:ada")
    assert other.id != rows[0].id


async def test_settled_rows_are_deleted_after_the_retention_period(app: App) -> None:
    await queue(app, ("a", "old"), ("b", "will fail"))
    app.outbox.register("test", Recorder())
    assert await app.outbox.flush() == 2
    await OutboxMessage.filter(chat_id="b").update(status=OutboxStatus.FAILED, sent_at=None)
    await queue(app, ("c", "waiting"))
    await OutboxMessage.filter(chat_id="c").update(
        not_before=app.clock.now() + timedelta(days=90)
    )
    keep = timedelta(days=30)
    assert await app.outbox.purge(keep) == 0  # nothing is old enough yet
    app.clock.advance(timedelta(days=31))  # type: ignore[attr-defined]
    assert await app.outbox.purge(keep) == 2
    assert await OutboxMessage.all().values_list("chat_id", flat=True) == ["c"]  # unsent stays


ON_POSTGRES = tuple(
    f"tests/service/test_outbox_queue.py::{name}"
    for name in (
        "test_two_workers_never_reserve_the_same_row",
        "test_only_the_oldest_unsent_row_of_a_chat_is_offered",
        "test_a_dead_workers_reservations_go_to_another_after_the_lease",
        "test_an_answer_is_claimed_at_once_only_as_its_chats_first_free_due_row",
        "test_a_stopping_worker_gives_its_reservations_back",
        "test_a_message_with_a_key_is_queued_once",
        "test_settled_rows_are_deleted_after_the_retention_period",
    )
)


@needs_postgres
@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_the_queue_holds_on_postgres() -> None:
    """The same, on PostgreSQL: FOR UPDATE SKIP LOCKED and concurrent transactions."""
    assert f"{len(ON_POSTGRES)} passed" in rerun_on_postgres(ON_POSTGRES, 240)
