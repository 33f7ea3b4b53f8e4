"""Every outbound message is written here first, then delivered by its platform's sender.

One place enforces the platforms' pace: a sender may declare limits for all its sends and per
chat; the outbox holds a message back until it fits, honours `retry_after` (pausing the chat,
or every send of that platform), backs off after transient errors, marks users who blocked
the bot and stops sending to them, and records each delivery. Pending rows survive a crash;
a row caught mid-send by a crash is not sent again (at most that one message is in doubt).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.clock import Clock
from bot.core.identity import PlatformUser
from bot.core.messages import ChatRef, Outgoing
from bot.core.ports import INTERRUPTED, OutboxRow, OutboxStore, People
from bot.core.ratelimit import Limit, RateLimiter, Rule, SendLimiter
from bot.domain.statuses import OutboxStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
MAX_BACKOFF_SECONDS = 60.0
IDLE_POLL_SECONDS = 1.0  # rows written by another process are picked up this often
PASS_LIMIT = 500  # due rows read per pass: a backlog is worked through, never read at once
# How long a worker may take to send a row it claimed; past that, the row is another's to
# declare interrupted (its sender is presumed dead).
LEASE = timedelta(minutes=2)


class DeliveryError(Exception):
    """A send that failed.

    `permanent`: never retried (chat gone, bot blocked: then `blocked`). `retry_after`: the
    platform asked to wait that many seconds, for this chat or (`everywhere`) for all sends.
    """

    def __init__(
        self,
        message: str,
        permanent: bool = False,
        blocked: bool = False,
        retry_after: float | None = None,
        everywhere: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent or blocked
        self.blocked = blocked
        self.retry_after = retry_after
        self.everywhere = everywhere


class Sender(Protocol):
    async def send(self, message: Outgoing) -> str | None:
        """Deliver one message; return the platform's message id if it has one."""


class Outbox:
    def __init__(
        self,
        clock: Clock,
        store: OutboxStore,
        people: People,
        limiter: SendLimiter | None = None,
        worker: str | None = None,
        lease: timedelta = LEASE,
    ) -> None:
        self.clock = clock
        self.store = store
        self.people = people
        # One name per process, the same after a restart (so that it takes back its rows).
        self.worker = worker or socket.gethostname()
        self.lease = lease
        self.senders: dict[str, Sender] = {}
        self.limiter: SendLimiter = limiter or RateLimiter()
        # True: `flush()` sends what is due at once (the console, tests). False: a delivery
        # loop sends (`run()` here, or another process's); `flush()` only wakes it.
        self.inline = True
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = False

    def register(self, platform: str, sender: Sender) -> None:
        self.senders[platform] = sender
        self._wake.set()

    async def put(self, message: Outgoing, not_before: datetime | None = None) -> OutboxRow:
        row = await self.store.add(
            message.chat.platform,
            message.chat.chat_id,
            message.to_payload(),
            not_before or self.clock.now(),
        )
        self._wake.set()
        return row

    async def get(self, row_id: int) -> OutboxRow | None:
        return await self.store.get(row_id)

    async def recover(self, at_start: bool = False) -> int:
        """Rows a crash caught mid-send are marked, never sent twice: at start, this worker's
        own (its previous life's) and any whose lease is over; on every pass of the worker,
        those whose lease is over (another process may have died)."""
        restarted = self.worker if at_start else None
        return await self.store.recover(self.clock.now(), restarted)

    async def flush(self) -> int:
        """Send every due message that fits the limits now, oldest first; returns how many
        (inline), or wake the delivery loop and return 0."""
        if not self.inline:
            self._wake.set()
            return 0
        sent, _ = await self._pass()
        return sent

    async def run(self) -> None:
        """Deliver continuously until `stop()` (which may come before the task first runs)."""
        self.inline = False
        while not self._stopping:
            self._wake.clear()
            try:
                await self.recover()  # rows a dead worker left behind, once their lease is over
                _, wait = await self._pass()
            except Exception:  # a database hiccup must not end delivery for good
                log.exception("outbox pass failed")
                wait = IDLE_POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait or IDLE_POLL_SECONDS)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _pass(self) -> tuple[int, float | None]:
        """One pass over due rows; returns (sent, seconds until a held-back row may go)."""
        if not self.senders:
            return 0, None
        sent, wait = 0, None
        async with self._lock:
            due = await self.store.due(list(self.senders), self.clock.now(), PASS_LIMIT)
            held: set[tuple[str, str]] = set()  # chats with an earlier row held back: keep order
            for row in due:
                if self._stopping:
                    break
                chat = (row.platform, row.chat_id)
                if chat in held:
                    continue
                rules = self._rules(row)
                delay = await self.limiter.take(rules)
                if delay > 0:
                    held.add(chat)
                    wait = delay if wait is None else min(wait, delay)
                    continue
                delivered = await self._deliver(row, rules)
                sent += delivered
                if not delivered and row.status == OutboxStatus.PENDING:
                    held.add(chat)
        return sent, wait

    def _rules(self, row: OutboxRow) -> list[Rule]:
        sender = self.senders[row.platform]
        limits = getattr(sender, "limits", None)
        payload_chat = row.payload["chat"]
        everywhere, per_chat = limits(ChatRef(**payload_chat)) if limits else (None, None)
        scope = f"{row.platform}:{getattr(sender, 'scope', '')}"
        rules: list[Rule] = [
            (f"{scope}:all", everywhere or Limit(10**9, 1.0)),
            (f"{scope}:chat:{row.chat_id}", per_chat or Limit(10**9, 1.0)),
        ]
        return rules

    async def _deliver(self, row: OutboxRow, rules: list[Rule]) -> int:
        message = Outgoing.from_payload(row.payload)
        message.outbox_id = row.id
        if message.edit_of is not None:
            original = await self.store.get(message.edit_of)
            unsettled = (OutboxStatus.PENDING, OutboxStatus.SENDING)
            if original is not None and original.status in unsettled:
                return 0  # the original goes first; the edit waits for its message id
            # An original that failed or is gone: the edit is sent as a message of its own.
            message.edit_message_id = original.platform_message_id if original else None
        if not await self.store.claim(row, self.worker, self.clock.now() + self.lease):
            return 0  # another worker is sending it
        try:
            message_id = await self.senders[row.platform].send(message)
        except Exception as exc:  # a sender bug must not stop the other deliveries
            await self._failed(row, message, rules, exc)
            return 0
        row.status = OutboxStatus.SENT
        row.sent_at = self.clock.now()
        row.error = None
        # An edit keeps the edited message's id, so that a later edit finds it again.
        row.platform_message_id = message_id or message.edit_message_id
        await self.store.update(row, "status", "sent_at", "error", "platform_message_id")
        return 1

    async def _failed(
        self,
        row: OutboxRow,
        message: Outgoing,
        rules: list[Rule],
        exc: Exception,
    ) -> None:
        row.error = f"{type(exc).__name__}: {exc}"[:2000]
        error = exc if isinstance(exc, DeliveryError) else DeliveryError(str(exc))
        if error.retry_after is not None:
            row.attempts -= 1  # being asked to wait is not a failed attempt
            key = rules[0][0] if error.everywhere else rules[1][0]
            await self.limiter.pause(key, error.retry_after)
            row.status = OutboxStatus.PENDING
        elif error.permanent or row.attempts >= MAX_ATTEMPTS:
            row.status = OutboxStatus.FAILED
        else:
            row.status = OutboxStatus.PENDING
            await self.limiter.pause(
                rules[1][0], min(2.0 ** (row.attempts - 1), MAX_BACKOFF_SECONDS)
            )
        await self.store.update(row, "attempts", "error", "status")
        log.warning("outbox %s to %s:%s failed: %s", row.id, row.platform, row.chat_id, row.error)
        if error.blocked and not message.chat.is_group:
            await self.people.blocked(PlatformUser(row.platform, row.chat_id), self.clock.now())
        if row.status == OutboxStatus.FAILED and message.fallback is not None:
            await self.put(Outgoing.from_payload(message.fallback))


__all__ = ["INTERRUPTED", "DeliveryError", "Outbox", "Sender"]
