"""The reply path stays lean: what one message costs in SQL statements, counted on the real
database connection (tests/query_count.py) while the dispatcher handles it.

Delivery is out of the path, as in a fleet's web process (a worker sends): with no sender
here the reply's INSERT into the outbox counts, sending it does not (where the process also
sends, the handling task sends its answer: two more statements, its claim and its "sent").
The replies are then sent and checked, outside the count.

What a caller is (identity, person, roles, creator) is read afresh for every message, in one
statement: the last test runs two apps on one database, as two processes would, and what one
changes the other sees on the next message.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

import pytest
import tortoise.context as tortoise_context

from bot.app import App
from bot.config import Settings
from bot.core.clock import ManualClock
from bot.core.identity import PlatformUser, Role
from storage.models import Brand, ChatGroup, Identity, RoleGrant
from tests.conftest import MANAGER_SETUP, POSTGRES_ENV, SCRIPTS, Chat, onboarding_answers
from tests.e2e.test_money import SETUP as MONEY_SETUP
from tests.query_count import Counted, count_queries
from tests.service.test_storage import needs_postgres, rerun_on_postgres

GROUP_MESSAGE_BUDGET = 4
HELP_BUDGET = 8
EARNINGS_BUDGET = 8

T = TypeVar("T")


async def counted_message(chat: Chat, line: str) -> tuple[Counted, list[dict]]:
    """The statements one message costs, and then (delivered outside the count) its replies."""
    outbox = chat.app.outbox
    outbox.inline = False
    senders = dict(outbox.senders)
    outbox.senders.clear()
    try:
        async with count_queries(chat.app) as counted:
            assert await chat.say(line) == []  # nothing is sent while delivery is elsewhere
    finally:
        outbox.inline = True
        outbox.senders.update(senders)
    await outbox.flush()
    return counted, chat.new()


async def test_an_ordinary_group_message_costs_at_most_four_statements(enrolled: Chat) -> None:
    await enrolled.say("ada@car-club: 大家好")  # the group is known from now on
    counted, replies = await counted_message(enrolled, "ada@car-club: 今天天气不错，出去拍照")
    assert len(counted) <= GROUP_MESSAGE_BUDGET, counted.report()
    assert replies == []  # small talk in a group is no business of the bot's
    # A minute later the message also records where ada was last seen: still within budget.
    enrolled.app.clock.advance(timedelta(minutes=2))  # type: ignore[attr-defined]
    counted, replies = await counted_message(enrolled, "ada@car-club: 下午见")
    assert len(counted) <= GROUP_MESSAGE_BUDGET, counted.report()
    assert any(sql.startswith('UPDATE "identities"') for sql in counted.statements)
    assert replies == []


async def test_a_group_is_recorded_once_then_remembered(enrolled: Chat) -> None:
    first, _ = await counted_message(enrolled, "ada@new-club: 你好")
    again, _ = await counted_message(enrolled, "ada@new-club: 又见面了")
    assert await ChatGroup.filter(chat_id="new-club").count() == 1
    assert any("chat_groups" in sql for sql in first.statements)
    assert not any("chat_groups" in sql for sql in again.statements)  # nor looked up again


async def test_help_costs_at_most_eight_statements(enrolled: Chat) -> None:
    await enrolled.say("ada@dm: /help")  # warmed up: last seen recorded
    counted, replies = await counted_message(enrolled, "ada@dm: /help")
    assert len(counted) <= HELP_BUDGET, counted.report()
    assert [(m["chat"], m["to"]) for m in replies] == [("dm", "ada")]
    text = replies[0]["text"]
    assert text.startswith("你可以使用这些命令")
    assert "/earnings" in text and "/submit" in text  # what a creator may do
    assert "/approve" not in text and "/role" not in text  # and not what staff do


async def test_earnings_cost_at_most_eight_statements(enrolled: Chat) -> None:
    await enrolled.say("ada@dm: /help")
    counted, replies = await counted_message(enrolled, "ada@dm: /earnings")
    assert len(counted) <= EARNINGS_BUDGET, counted.report()
    assert [(m["chat"], m["text"]) for m in replies] == [("dm", "你还没有提交过作品，暂无收益。")]


async def test_earnings_with_posts_and_a_paid_period_cost_at_most_eight_statements(
    chat: Chat,
) -> None:
    await chat.say(
        *MONEY_SETUP,
        "ada@dm: /metrics 1 likes=100 comments=10 gmv=1000",
        "ben@dm: /metrics 2 likes=50",
        "mia@dm: /settle MONEY1",
        "mia@dm: 1",
        "ada@dm: /metrics 1 likes=200",  # after the period: pending again
    )
    counted, replies = await counted_message(chat, "ada@dm: /earnings")
    assert len(counted) <= EARNINGS_BUDGET, counted.report()
    assert "合计 ¥192.00｜待结算 ¥20.00｜已结算 ¥172.00｜已支付 ¥0.00" in replies[0]["text"]


async def test_a_replayed_message_is_dropped_in_one_statement(enrolled: Chat) -> None:
    await enrolled.say("ada@car-club#m-1: 大家好")
    counted, replies = await counted_message(enrolled, "ada@car-club#m-1: 大家好")
    assert len(counted) == 1 and counted.statements[0].startswith("INSERT"), counted.report()
    assert replies == []


async def test_the_caller_is_read_in_one_statement_and_written_only_when_changed(
    app: App,
) -> None:
    people, now = app.ports.people, app.clock.now()
    ada = PlatformUser("telegram", "1001")
    met = await people.identify(ada, "Ada", now, (), username="ada_l", in_private=True)
    brand = await Brand.create(code="ACME", name="Acme")
    for role in ("manager", "brand"):
        await RoleGrant.create(person_id=met.person_id, role=role, brand=brand)
    await Identity.filter(user_id="1001").update(blocked_at=now)

    async with count_queries(app) as counted:
        caller = await people.identify(ada, "Ada", now, (), username="ada_l")
    assert len(counted) == 1, counted.report()
    assert caller.person_id == met.person_id and caller.name == "Ada"
    assert caller.roles == {Role.MANAGER: {brand.id}, Role.BRAND: {brand.id}}
    assert caller.creator_id is None and not caller.is_admin

    # Writing in private unblocks; a new name, a new username, a minute later: all stored.
    later = now + timedelta(minutes=2)
    async with count_queries(app) as counted:
        caller = await people.identify(ada, "Ada L", later, (ada,), "ada_new", in_private=True)
    assert len(counted) == 3, counted.report()  # the read, the identity, the person
    identity = await Identity.get(user_id="1001").prefetch_related("person")
    assert identity.blocked_at is None and identity.username == "ada_new"
    assert identity.last_seen_at == later and identity.person.display_name == "Ada L"
    assert caller.name == "Ada L" and caller.is_admin  # a bootstrap admin, by configuration


# --- two processes on one database -----------------------------------------------------------


class Process:
    """An app with its own database connections and its own memory, as another process on the
    same database has: everything it runs, runs in its own context (tortoise binds an app's
    connections to the context its database was opened in)."""

    def __init__(self, settings: Settings, clock: ManualClock) -> None:
        self.app = App(settings, clock)
        self.context = contextvars.copy_context()
        self.chat: Chat | None = None

    async def run(self, step: Awaitable[T]) -> T:
        return await asyncio.create_task(_awaited(step), context=self.context)

    async def start(self) -> None:
        # An app also makes its connections tortoise's fallback for tasks outside its context,
        # and there is one such fallback per process: the first app's stays it.
        fallback = tortoise_context._global_context
        tortoise_context._global_context = None
        try:
            await self.run(self.app.start())
        finally:
            tortoise_context._global_context = fallback or tortoise_context._global_context
        self.chat = Chat(self.app, SCRIPTS)

    async def text(self, *lines: str) -> str:
        assert self.chat is not None
        return await self.run(self.chat.text(*lines))


async def _awaited(step: Awaitable[T]) -> T:
    return await step


async def test_what_one_process_changes_another_sees_on_the_next_message(
    settings: Settings, clock: ManualClock
) -> None:
    first, second = Process(settings, clock), Process(settings, clock)
    await first.start()
    await second.start()
    try:
        assert first.app.database._context is not second.app.database._context
        # The second process meets max and ada before anything is granted to them…
        assert "/review 仅限运营使用" in await second.text("max@dm: /review")
        assert "/earnings 仅限创作者使用" in await second.text("ada@dm: /earnings")
        assert "/approve" not in await second.text("max@dm: /help")
        # …the first grants a role and enrols a creator…
        await first.text(*MANAGER_SETUP, "boss@dm: /role max manager ACME")
        enrolled = await first.text(*onboarding_answers("ada"))
        assert "报名成功" in enrolled
        # …and the second sees both on their next message.
        assert await second.text("max@dm: /review") == "没有待审核的作品。"
        assert "/approve" in await second.text("max@dm: /help")
        assert await second.text("ada@dm: /earnings") == "你还没有提交过作品，暂无收益。"
        # A language chosen through one is spoken by the other.
        await first.text("ada@dm: /lang en")
        assert await second.text("ada@dm: /earnings") == (
            "You have not submitted any post yet, so there are no earnings."
        )
    finally:
        await second.run(second.app.stop())
        await first.run(first.app.stop())


BUDGET_TESTS = ("tests/service/test_query_budget.py",)


@needs_postgres
@pytest.mark.postgres
@pytest.mark.skipif(bool(os.environ.get(POSTGRES_ENV)), reason="already on PostgreSQL")
@pytest.mark.timeout(300)
def test_the_budgets_hold_on_postgres_too() -> None:
    """The same tests on PostgreSQL (each on a fresh database, in a process of its own)."""
    assert "8 passed, 1 skipped" in rerun_on_postgres(BUDGET_TESTS, 240)
