"""The kernel alone: dispatcher, flows and outbox on in-memory ports (tests/memory_ports.py),
with the real renderer and templates, and no database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config import load_settings
from bot.core.clock import ManualClock
from bot.core.context import Context, Kernel
from bot.core.dispatcher import Dispatcher
from bot.core.flows import Flow, FlowEngine, InvalidAnswer
from bot.core.identity import PlatformUser, Role
from bot.core.messages import ChatRef, Choice, Incoming, Outgoing
from bot.core.outbox import LIMIT_MARGIN_SECONDS, MAX_ATTEMPTS, DeliveryError, Outbox
from bot.core.ratelimit import Limit, RateLimiter
from bot.core.registry import Registry, Router
from bot.core.render import Renderer
from bot.core.scheduler import Scheduler
from bot.core.speaker import Speaker
from tests.memory_ports import MemoryPeople, memory_ports

T0 = datetime(2026, 5, 20, 3, 0, tzinfo=UTC)
PLATFORM = "test"


@dataclass
class Recorder:
    """A platform sender that keeps what it was given; fails on demand."""

    sent: list[Outgoing] = field(default_factory=list)
    failures: list[DeliveryError] = field(default_factory=list)
    per_chat: Limit | None = None

    def limits(self, chat: ChatRef) -> tuple[Limit | None, Limit | None]:
        return None, self.per_chat

    async def send(self, message: Outgoing) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return f"m{len(self.sent)}"

    def texts(self, user: str | None = None) -> list[str]:
        return [m.text for m in self.sent if user is None or m.to_user == user]


class Ask(Flow):
    """Two questions; the first must be a number."""

    name = "ask"
    steps = ("age", "city")

    async def ask_age(self, ctx: Context, data: dict[str, Any]) -> None:
        await ctx.reply("errors/too_long", limit="age?")

    async def answer_age(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        if not text.isdigit():
            raise InvalidAnswer("errors/too_long", limit="a number")
        data["age"] = int(text)
        return None

    async def ask_city(self, ctx: Context, data: dict[str, Any]) -> None:
        await ctx.reply("errors/too_long", limit="city?")

    async def answer_city(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        data["city"] = text
        return None

    async def finish(self, ctx: Context, data: dict[str, Any]) -> None:
        await ctx.reply("errors/too_long", limit=f"done {data['age']} {data['city']}")


router = Router()


@router.command("echo")
async def echo(ctx: Context, suffix: str) -> None:
    """The dependency `suffix` comes from the dispatcher, by parameter name."""
    await ctx.reply("errors/too_long", limit=ctx.args + suffix)


@router.command("staff", role=Role.MANAGER)
async def staff(ctx: Context) -> None:
    await ctx.reply("errors/too_long", limit="staff only")


@router.command("menu")
async def menu(ctx: Context) -> None:
    choices = [Choice("A", "/echo a"), Choice("B", "/echo b")]
    await ctx.reply("errors/too_long", limit="pick", choices=choices)


@router.command("ask")
async def ask(ctx: Context) -> None:
    await ctx.start_flow(Ask)


@router.command("boom")
async def boom(ctx: Context) -> None:
    raise RuntimeError("disk on fire")


@dataclass
class Bot:
    dispatcher: Dispatcher
    outbox: Outbox
    sender: Recorder
    people: MemoryPeople
    clock: ManualClock
    ids: int = 0

    async def say(self, user: str, text: str, chat: str | None = None, id: str = "") -> list[str]:
        before = len(self.sender.sent)
        self.ids += 1
        incoming = Incoming(
            chat=ChatRef(PLATFORM, chat or user, chat is not None, chat),
            user_id=user,
            text=text,
            message_id=id or f"i{self.ids}",
            user_name=user,
        )
        await self.dispatcher.handle(incoming)
        return [m.text for m in self.sender.sent[before:]]


def build(limiter: RateLimiter | None = None, per_chat: Limit | None = None) -> Bot:
    ports = memory_ports()
    clock = ManualClock(T0)
    outbox = Outbox(clock, ports.outbox, ports.people, limiter)
    speaker = Speaker(outbox, Renderer("en"), ports.people, ports.messages)
    engine = FlowEngine(timedelta(hours=1), ports.conversations)
    engine.register(Ask())
    settings = load_settings(_env_file=None, locale="en")
    kernel = Kernel(speaker, engine, clock, settings)
    dispatcher = Dispatcher(
        kernel, Registry(router), ports.people, ports.messages, outbox, {"suffix": "!"}
    )
    sender = Recorder(per_chat=per_chat)
    outbox.register(PLATFORM, sender)
    assert isinstance(ports.people, MemoryPeople)
    return Bot(dispatcher, outbox, sender, ports.people, clock)


def said(text: str) -> str:
    """What the stand-in template (errors/too_long) says with `text` in it."""
    return f"(limit {text} characters)"


def test_the_kernel_needs_no_database() -> None:
    loads = "import bot.core.dispatcher, bot.core.speaker, tests.memory_ports, sys; "
    check = "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tortoise', 'storage')))"
    result = subprocess.run(
        [sys.executable, "-c", loads + check], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


async def test_commands_get_their_dependencies_and_replays_are_dropped() -> None:
    bot = build()
    answer = await bot.say("ann", "/echo hi", id="same")
    assert len(answer) == 1 and said("hi!") in answer[0]
    assert await bot.say("ann", "/echo hi", id="same") == []  # the same update again


async def test_roles_are_checked_before_the_handler_runs() -> None:
    bot = build()
    [refused] = await bot.say("ann", "/staff")
    assert "/staff" in refused and "staff only" not in refused
    bot.people.roles["mia"] = {Role.MANAGER: {1}}
    [allowed] = await bot.say("mia", "/staff")
    assert said("staff only") in allowed


async def test_a_bare_number_answers_the_last_options_of_that_user_in_that_chat() -> None:
    bot = build()
    await bot.say("ann", "/menu")
    [picked] = await bot.say("ann", "2")
    assert said("b!") in picked
    # The answer had no options: "2" means nothing any more.
    [again] = await bot.say("ann", "2")
    assert "understand" in again


async def test_a_flow_asks_again_on_a_bad_answer_and_keeps_its_state_in_the_port() -> None:
    bot = build()
    assert said("age?") in (await bot.say("ann", "/ask"))[0]
    wrong, asked_again = await bot.say("ann", "old")
    assert said("a number") in wrong and said("age?") in asked_again
    assert said("city?") in (await bot.say("ann", "33"))[0]
    assert said("done 33 Shanghai") in (await bot.say("ann", "Shanghai"))[0]
    assert "nothing" in (await bot.say("ann", "取消"))[0].lower()


async def test_a_flow_expires_and_can_be_cancelled() -> None:
    bot = build()
    await bot.say("ann", "/ask")
    bot.clock.advance(timedelta(hours=2))
    assert "understand" in (await bot.say("ann", "33"))[0]
    await bot.say("ann", "/ask")
    assert "cancel" in (await bot.say("ann", "cancel"))[0].lower()
    assert "understand" in (await bot.say("ann", "33"))[0]


async def test_a_failing_handler_gets_a_polite_reply_and_the_next_message_works() -> None:
    bot = build()
    [sorry] = await bot.say("ann", "/boom")
    assert "went wrong" in sorry and "disk on fire" not in sorry
    assert said("ok!") in (await bot.say("ann", "/echo ok"))[0]


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_the_outbox_keeps_each_chats_order_under_its_limit() -> None:
    seconds = FakeTime()
    bot = build(RateLimiter(monotonic=seconds), per_chat=Limit(1, 1.0))
    for text in ("one", "two"):
        await bot.outbox.put(Outgoing(ChatRef(PLATFORM, "c1"), text))
    await bot.outbox.put(Outgoing(ChatRef(PLATFORM, "c2"), "other"))
    assert await bot.outbox.flush() == 2  # c1's first, c2's; c1's second waits its turn
    assert bot.sender.texts() == ["one", "other"]
    seconds.now += 1.0 + LIMIT_MARGIN_SECONDS  # a limit window, and its margin
    assert await bot.outbox.flush() == 1
    assert bot.sender.texts() == ["one", "other", "two"]


async def test_the_outbox_retries_marks_blocked_users_and_sends_the_fallback() -> None:
    seconds = FakeTime()
    bot = build(RateLimiter(monotonic=seconds))
    bot.sender.failures = [DeliveryError("network down")]
    row = await bot.outbox.put(Outgoing(ChatRef(PLATFORM, "c1"), "hello"))
    assert await bot.outbox.flush() == 0
    seconds.now += 1.0  # the backoff
    assert await bot.outbox.flush() == 1
    stored = await bot.outbox.get(row.id)
    assert stored is not None and (stored.status, stored.attempts) == ("sent", 2)

    note = Outgoing(ChatRef(PLATFORM, "group", True), "could not DM ann")
    dm = Outgoing(ChatRef(PLATFORM, "ann"), "private", fallback=note.to_payload())
    bot.sender.failures = [DeliveryError("blocked", blocked=True)]
    blocked = await bot.outbox.put(dm)
    await bot.outbox.flush()
    await bot.outbox.flush()  # the fallback, queued by the failure
    assert (await bot.outbox.get(blocked.id)).status == "failed"  # type: ignore[union-attr]
    assert PlatformUser(PLATFORM, "ann") in bot.people.blocked_users
    assert bot.sender.texts()[-1] == "could not DM ann"


async def test_the_outbox_gives_up_after_max_attempts_and_a_crash_never_resends() -> None:
    seconds = FakeTime()
    bot = build(RateLimiter(monotonic=seconds))
    bot.sender.failures = [DeliveryError("down") for _ in range(MAX_ATTEMPTS)]
    row = await bot.outbox.put(Outgoing(ChatRef(PLATFORM, "c1"), "x"))
    for _ in range(MAX_ATTEMPTS):
        await bot.outbox.flush()
        seconds.now += 120
    stored = await bot.outbox.get(row.id)
    assert stored is not None and (stored.status, stored.attempts) == ("failed", MAX_ATTEMPTS)

    caught = await bot.outbox.put(Outgoing(ChatRef(PLATFORM, "c2"), "in flight"))
    caught.status = "sending"
    await bot.outbox.store.update(caught, "status")
    assert await bot.outbox.recover() == 1
    assert await bot.outbox.flush() == 0
    assert (await bot.outbox.get(caught.id)).error.startswith("interrupted")  # type: ignore[union-attr]


async def test_an_edit_waits_for_its_original_and_takes_its_platform_id() -> None:
    seconds = FakeTime()
    bot = build(RateLimiter(monotonic=seconds), per_chat=Limit(1, 1.0))
    original = await bot.outbox.put(Outgoing(ChatRef(PLATFORM, "c1"), "0 / 10"))
    await bot.outbox.put(Outgoing(ChatRef(PLATFORM, "c1"), "5 / 10", edit_of=original.id))
    assert await bot.outbox.flush() == 1
    seconds.now += 1.0 + LIMIT_MARGIN_SECONDS
    assert await bot.outbox.flush() == 1
    edit = bot.sender.sent[-1]
    assert edit.text == "5 / 10" and edit.edit_message_id == "m1"


@pytest.mark.parametrize("text", ["²", "99999999999999999999", "0", "-1"])
async def test_odd_numbers_are_no_choice(text: str) -> None:
    bot = build()
    await bot.say("ann", "/menu")
    assert "understand" in (await bot.say("ann", text))[0]


async def test_the_scheduler_runs_its_jobs_in_order_and_ticks_when_woken() -> None:
    scheduler = Scheduler(ManualClock(T0), max_sleep=3600)
    ran: list[str] = []
    ticked = asyncio.Event()

    async def first() -> None:
        ran.append("first")

    async def second() -> None:
        ran.append("second")
        ticked.set()

    async def nothing_planned() -> None:
        return None

    scheduler.every_tick(first, next_wake=nothing_planned)
    scheduler.every_tick(second)
    await scheduler.tick()
    assert ran == ["first", "second"]
    running = asyncio.create_task(scheduler.run())
    await asyncio.wait_for(ticked.wait(), 30)  # the loop's first tick
    ticked.clear()
    scheduler.wake()  # an hour before it would tick by itself
    await asyncio.wait_for(ticked.wait(), 30)
    await scheduler.stop()
    await running
    assert ran == ["first", "second"] * 3


async def test_a_standby_scheduler_ticks_only_once_it_leads() -> None:
    scheduler = Scheduler(ManualClock(T0), max_sleep=3600)
    ticks = asyncio.Event()
    leading = False
    woken_idle = asyncio.Event()

    async def job() -> None:
        ticks.set()

    scheduler.every_tick(job)
    real_wait = scheduler._wake.wait

    async def watched_wait() -> bool:  # the loop is idle: it has looked at `leading`
        woken_idle.set()
        return await real_wait()

    scheduler._wake.wait = watched_wait  # type: ignore[method-assign]
    running = asyncio.create_task(scheduler.run(lambda: leading))
    await asyncio.wait_for(woken_idle.wait(), 30)
    woken_idle.clear()
    scheduler.wake()  # woken while another process leads: still no tick
    await asyncio.wait_for(woken_idle.wait(), 30)
    assert not ticks.is_set()
    leading = True  # the leader died and this process took the lock
    scheduler.wake()
    await asyncio.wait_for(ticks.wait(), 30)
    await scheduler.stop()
    await running


async def test_a_claimed_row_is_sent_by_one_worker_and_recovered_only_when_its_lease_ends() -> None:
    seconds = FakeTime()
    ports = memory_ports()
    clock = ManualClock(T0)
    first = Outbox(clock, ports.outbox, ports.people, RateLimiter(monotonic=seconds), worker="w1")
    second = Outbox(clock, ports.outbox, ports.people, RateLimiter(monotonic=seconds), worker="w2")
    row = await first.put(Outgoing(ChatRef(PLATFORM, "c1"), "once"))
    assert await ports.outbox.claim(row, "w1", T0 + timedelta(minutes=2))
    assert not await ports.outbox.claim(row, "w2", T0 + timedelta(minutes=2))  # taken
    assert await second.recover() == 0  # w1 is alive and within its lease
    assert await second.recover(at_start=True) == 0  # w2's restart takes back only its own
    assert await first.recover(at_start=True) == 1  # w1 restarted: what it held is in doubt
    other = await first.put(Outgoing(ChatRef(PLATFORM, "c2"), "later"))
    assert await ports.outbox.claim(other, "w1", T0 + timedelta(minutes=2))
    clock.advance(timedelta(minutes=3))
    assert await second.recover() == 1  # w1 died: its lease ran out
