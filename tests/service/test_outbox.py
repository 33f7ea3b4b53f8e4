"""The outbox records every send, retries failures, and keeps what it cannot deliver yet."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest

from bot.app import App
from bot.core.messages import ChatRef, Outgoing
from bot.core.outbox import LIMIT_MARGIN_SECONDS, MAX_ATTEMPTS, DeliveryError
from bot.core.ratelimit import Limit, RateLimiter
from storage.models import OutboxMessage


class FlakySender:
    def __init__(self, failures: int, permanent: bool = False) -> None:
        self.failures = failures
        self.permanent = permanent
        self.sent: list[str] = []

    async def send(self, message: Outgoing) -> str:
        if self.failures:
            self.failures -= 1
            raise DeliveryError("network down", permanent=self.permanent)
        self.sent.append(message.text)
        return f"id-{len(self.sent)}"


def _message(text: str, platform: str = "test") -> Outgoing:
    return Outgoing(ChatRef(platform, "c1"), text)


class FakeTime:
    """Monotonic seconds for the outbox's limiter, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def seconds(app: App) -> FakeTime:
    fake = FakeTime()
    app.outbox.limiter = RateLimiter(monotonic=fake)
    return fake


async def test_a_failed_send_is_retried_after_a_backoff(app: App, seconds: FakeTime) -> None:
    sender = FlakySender(failures=1)
    app.outbox.register("test", sender)
    await app.outbox.put(_message("hello"))
    assert await app.outbox.flush() == 0
    row = await OutboxMessage.get()
    assert (row.status, row.attempts, row.error) == ("pending", 1, "DeliveryError: network down")
    assert await app.outbox.flush() == 0  # backing off
    seconds.now += 1.0
    assert await app.outbox.flush() == 1
    row = await OutboxMessage.get()
    assert (row.status, row.attempts, row.platform_message_id) == ("sent", 2, "id-1")
    assert sender.sent == ["hello"]


async def test_a_permanent_failure_stops_and_others_still_go(app: App) -> None:
    app.outbox.register("test", FlakySender(failures=1, permanent=True))
    await app.outbox.put(_message("blocked"))
    await app.outbox.put(_message("next"))
    assert await app.outbox.flush() == 1
    statuses = await OutboxMessage.all().order_by("id").values_list("status", flat=True)
    assert statuses == ["failed", "sent"]
    assert await app.outbox.flush() == 0


async def test_retries_are_bounded(app: App, seconds: FakeTime) -> None:
    app.outbox.register("test", FlakySender(failures=100))
    await app.outbox.put(_message("doomed"))
    for _ in range(MAX_ATTEMPTS + 2):
        await app.outbox.flush()
        seconds.now += 3600
    row = await OutboxMessage.get()
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)


async def test_messages_wait_for_their_platform_and_their_time(app: App, clock) -> None:
    from datetime import timedelta

    await app.outbox.put(
        _message("later", platform="test"), not_before=clock.now() + timedelta(hours=1)
    )
    await app.outbox.put(_message("elsewhere", platform="nowhere"))
    sender = FlakySender(failures=0)
    app.outbox.register("test", sender)
    assert await app.outbox.flush() == 0
    clock.advance(timedelta(hours=1))
    assert await app.outbox.flush() == 1
    assert sender.sent == ["later"]
    assert (await OutboxMessage.get(platform="nowhere")).status == "pending"


async def test_an_edit_waits_for_its_original_and_targets_its_message_id(app: App) -> None:
    seen: list[tuple[str, str | None]] = []

    class Recorder:
        async def send(self, message: Outgoing) -> str | None:
            seen.append((message.text, message.edit_message_id))
            return None if message.edit_of else "m-1"

    original = await app.outbox.put(_message("sending 0/10"))
    await app.outbox.put(Outgoing(ChatRef("test", "c1"), "sending 5/10", edit_of=original.id))
    await app.outbox.put(Outgoing(ChatRef("test", "c1"), "done 10/10", edit_of=original.id))
    assert await app.outbox.flush() == 0  # no sender yet: everything waits
    app.outbox.register("test", Recorder())
    assert await app.outbox.flush() == 3
    assert seen == [("sending 0/10", None), ("sending 5/10", "m-1"), ("done 10/10", "m-1")]


class LimitedSender(FlakySender):
    def limits(self, chat: ChatRef) -> tuple[Limit, Limit]:
        return Limit(3, 1.0), Limit(2, 60.0) if chat.is_group else Limit(1, 1.0)


async def test_limits_hold_messages_back_in_order(app: App, seconds: FakeTime) -> None:
    sender = LimitedSender(failures=0)
    app.outbox.register("test", sender)
    for i in range(3):
        await app.outbox.put(Outgoing(ChatRef("test", "g", is_group=True), f"group {i}"))
    for i in range(4):
        await app.outbox.put(Outgoing(ChatRef("test", f"user{i}"), f"dm {i}"))
    assert await app.outbox.flush() == 3  # three a second in all; chats take turns
    assert sender.sent == ["group 0", "dm 0", "dm 1"]
    seconds.now += 1.0 + LIMIT_MARGIN_SECONDS  # a limit window, and its margin
    assert await app.outbox.flush() == 3  # each chat keeps its order
    assert sender.sent[3:] == ["group 1", "dm 2", "dm 3"]
    assert await app.outbox.flush() == 0  # the group's third waits a minute
    seconds.now += 59.0 + LIMIT_MARGIN_SECONDS
    assert await app.outbox.flush() == 1
    assert sender.sent[-1] == "group 2"


async def test_retry_after_pauses_the_chat_and_is_not_an_attempt(
    app: App, seconds: FakeTime
) -> None:
    class Throttled(FlakySender):
        async def send(self, message: Outgoing) -> str:
            if not self.sent and self.failures:
                self.failures -= 1
                raise DeliveryError("429", retry_after=5)
            return await super().send(message)

    sender = Throttled(failures=1)
    app.outbox.register("test", sender)
    await app.outbox.put(_message("one"))
    await app.outbox.put(_message("two"))
    assert await app.outbox.flush() == 0
    seconds.now += 4.9
    assert await app.outbox.flush() == 0
    seconds.now += 0.1
    assert await app.outbox.flush() == 2
    assert sender.sent == ["one", "two"]
    assert await OutboxMessage.all().values_list("attempts", flat=True) == [1, 1]


async def test_a_blocked_user_is_marked_and_the_group_hears_instead(app: App) -> None:
    from storage.models import Identity, Person

    person = await Person.create(display_name="ada")
    await Identity.create(
        person=person, platform="test", user_id="c1", last_seen_at=app.clock.now()
    )
    app.outbox.register("test", FlakySender(failures=1, permanent=True))

    class Blocking:
        async def send(self, message: Outgoing) -> str:
            if not message.chat.is_group:
                raise DeliveryError("Forbidden: bot was blocked by the user", blocked=True)
            return "g-1"

    app.outbox.register("test", Blocking())
    note = Outgoing(ChatRef("test", "group", is_group=True), "please open a DM with me")
    await app.outbox.put(
        Outgoing(ChatRef("test", "c1"), "your earnings", fallback=note.to_payload())
    )
    assert await app.outbox.flush() == 1  # the DM fails; the note to the group goes at once
    rows = await OutboxMessage.all().order_by("id")
    assert [(r.chat_id, r.status) for r in rows] == [("c1", "failed"), ("group", "sent")]
    assert (await Identity.get(user_id="c1")).blocked_at == app.clock.now()


async def test_a_row_caught_mid_send_by_a_crash_is_not_sent_again(app: App) -> None:
    await app.outbox.put(_message("in flight"))
    await OutboxMessage.all().update(status="sending")
    assert await app.outbox.recover() == 1
    app.outbox.register("test", FlakySender(failures=0))
    assert await app.outbox.flush() == 0
    row = await OutboxMessage.get()
    assert row.status == "failed" and row.error.startswith("interrupted")


class WireSender:
    """Sends that stay on the wire until the test lets them answer (a chat in `held`), and
    count how many are on it at once, in all and per chat."""

    def __init__(self, held: set[str]) -> None:
        self.held = held
        self.answer = asyncio.Event()
        self.on_wire: Counter[str] = Counter()
        self.most_on_wire = 0
        self.most_in_one_chat = 0
        self.sent: list[tuple[str, str]] = []
        self.changed = asyncio.Event()

    async def send(self, message: Outgoing) -> str:
        chat = message.chat.chat_id
        self.on_wire[chat] += 1
        self.most_on_wire = max(self.most_on_wire, sum(self.on_wire.values()))
        self.most_in_one_chat = max(self.most_in_one_chat, self.on_wire[chat])
        self.changed.set()
        try:
            if chat in self.held:
                await self.answer.wait()
        finally:
            self.on_wire[chat] -= 1
        self.sent.append((chat, message.text))
        self.changed.set()
        return f"id-{len(self.sent)}"

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(30):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


@contextlib.asynccontextmanager
async def delivering(app: App, sender: WireSender) -> AsyncIterator[None]:
    loop = asyncio.create_task(app.outbox.run())
    try:
        yield
    finally:
        sender.answer.set()  # nothing stays on the wire, whatever happened
        await app.outbox.stop()
        await loop


async def test_sends_to_different_chats_overlap_up_to_the_concurrency(app: App) -> None:
    chats = [f"c{i}" for i in range(10)]
    sender = WireSender(held=set(chats))
    app.outbox.register("test", sender)
    app.outbox.concurrency = 4
    for chat in chats:
        await app.outbox.put(Outgoing(ChatRef("test", chat), f"{chat} first"))
    await app.outbox.put(Outgoing(ChatRef("test", "c0"), "c0 second"))
    async with delivering(app, sender):
        await sender.until(lambda: sum(sender.on_wire.values()) == 4)
        # Only what is on the wire would be in doubt if the process died now.
        assert await OutboxMessage.filter(status="sending").count() == 4
        sender.answer.set()
        await sender.until(lambda: len(sender.sent) == 11)
    assert sender.most_on_wire == 4 and sender.most_in_one_chat == 1
    assert [text for chat, text in sender.sent if chat == "c0"] == ["c0 first", "c0 second"]
    assert await OutboxMessage.filter(status="sent").count() == 11


async def test_a_reply_leaves_while_slow_sends_are_on_the_wire(app: App) -> None:
    sender = WireSender(held={"slow"})
    app.outbox.register("test", sender)
    app.outbox.concurrency = 2
    await app.outbox.put(Outgoing(ChatRef("test", "slow"), "a slow one"))
    async with delivering(app, sender):
        await sender.until(lambda: sender.on_wire["slow"] == 1)
        await app.outbox.put(Outgoing(ChatRef("test", "quick"), "a reply"))
        await sender.until(lambda: ("quick", "a reply") in sender.sent)
        assert sender.on_wire["slow"] == 1  # still on the wire
        sender.answer.set()
        await sender.until(lambda: len(sender.sent) == 2)


async def test_an_answer_is_sent_by_the_task_that_wrote_it(app: App) -> None:
    """With a delivery loop in charge (not inline) but not running: answers leave from the
    handling task's `flush`; a message nobody asked for waits for the loop."""
    sender = WireSender(held=set())
    app.outbox.register("test", sender)
    app.outbox.inline = False
    with app.outbox.answering():
        await app.outbox.put(Outgoing(ChatRef("test", "ada"), "your answer"), answer=True)
        await app.outbox.put(Outgoing(ChatRef("test", "bob"), "a broadcast"))
        assert await app.outbox.flush() == 1
    assert sender.sent == [("ada", "your answer")]
    statuses = dict(await OutboxMessage.all().values_list("chat_id", "status"))
    assert statuses == {"ada": "sent", "bob": "pending"}


async def test_an_answer_waits_behind_its_chats_earlier_rows(app: App) -> None:
    sender = WireSender(held=set())
    app.outbox.register("test", sender)
    app.outbox.inline = False
    await app.outbox.put(Outgoing(ChatRef("test", "ada"), "a reminder"))  # for the loop
    with app.outbox.answering():
        await app.outbox.put(Outgoing(ChatRef("test", "ada"), "your answer"), answer=True)
        assert await app.outbox.flush() == 0  # it would overtake the reminder
    async with delivering(app, sender):
        await sender.until(lambda: len(sender.sent) == 2)
    assert sender.sent == [("ada", "a reminder"), ("ada", "your answer")]


async def test_people_answered_at_once_are_on_the_wire_together(app: App) -> None:
    """Each handling task sends its own answer: ten people's are on the wire at the same
    time although the delivery loop sends one at a time (OUTBOX_SEND_CONCURRENCY=1)."""
    people = [f"p{i}" for i in range(10)]
    sender = WireSender(held=set(people))
    app.outbox.register("test", sender)
    app.outbox.concurrency = 1

    async def handle(person: str) -> None:
        with app.outbox.answering():
            await app.outbox.put(Outgoing(ChatRef("test", person), "hi"), answer=True)
            await app.outbox.flush()

    async with delivering(app, sender):
        handling = asyncio.gather(*(handle(person) for person in people))
        await sender.until(lambda: sum(sender.on_wire.values()) == len(people))
        sender.answer.set()
        await handling
    assert sender.most_on_wire == len(people)
    assert await OutboxMessage.filter(status="sent").count() == len(people)


async def test_answers_of_a_handling_that_failed_before_its_flush_go_with_the_loop(
    app: App,
) -> None:
    sender = WireSender(held=set())
    app.outbox.register("test", sender)
    app.outbox.idle_poll = 60.0  # an idle loop looks again only when woken
    store, idle = app.outbox.store, asyncio.Event()
    next_due = store.next_due

    async def idling(*args: object) -> object:  # the loop asks this when it found nothing
        found = await next_due(*args)  # type: ignore[arg-type]
        if sender.sent:
            idle.set()
        return found

    store.next_due = idling  # type: ignore[method-assign]
    async with delivering(app, sender):
        await app.outbox.put(Outgoing(ChatRef("test", "bob"), "a reminder"))
        await asyncio.wait_for(idle.wait(), 30)  # sent, and the loop found nothing more
        with contextlib.suppress(RuntimeError), app.outbox.answering():
            await app.outbox.put(Outgoing(ChatRef("test", "ada"), "your answer"), answer=True)
            raise RuntimeError("the handler died before its flush")
        await sender.until(lambda: len(sender.sent) == 2)
    assert sender.sent[-1] == ("ada", "your answer")
