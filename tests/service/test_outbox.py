"""The outbox records every send, retries failures, and keeps what it cannot deliver yet."""

from __future__ import annotations

from bot.app import App
from bot.core.messages import ChatRef, Outgoing
from bot.core.outbox import MAX_ATTEMPTS, DeliveryError
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


async def test_a_failed_send_is_retried_at_the_next_flush(app: App) -> None:
    sender = FlakySender(failures=1)
    app.outbox.register("test", sender)
    await app.outbox.put(_message("hello"))
    assert await app.outbox.flush() == 0
    row = await OutboxMessage.get()
    assert (row.status, row.attempts, row.error) == ("pending", 1, "DeliveryError: network down")
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


async def test_retries_are_bounded(app: App) -> None:
    app.outbox.register("test", FlakySender(failures=100))
    await app.outbox.put(_message("doomed"))
    for _ in range(MAX_ATTEMPTS + 2):
        await app.outbox.flush()
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
