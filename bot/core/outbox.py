"""Every outbound message is written here first, then delivered by its platform's sender.

One place enforces the platforms' pace: a sender may declare limits for all its sends and per
chat; the outbox holds a message back until it fits, honours `retry_after` (pausing the chat,
or every send of that platform), backs off after transient errors, marks users who blocked
the bot and stops sending to them, and records each delivery. Pending rows survive a crash;
a row caught mid-send by a crash is not sent again (only the messages on the wire are in
doubt).

Several workers (processes) may share one outbox: each reserves a batch of rows (the oldest
unsent row of each chat, so a chat's messages keep their order), takes a row's place under
the limits that `limiter` may share between them (Redis), claims it and sends it. The rows
of one batch are in different chats, so a worker may have up to `concurrency` of them on
the wire at once (one by default), for an API far away.

An answer to the message being handled does not wait for the loop: the handling task sends
it itself (`answering`, `flush`), when it is its chat's first unsent row and fits the limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.clock import Clock
from bot.core.identity import PlatformUser
from bot.core.messages import ChatRef, Outgoing
from bot.core.ports import INTERRUPTED, Meter, NoMeter, OutboxRow, OutboxStore, People
from bot.core.ratelimit import Limit, RateLimiter, Rule, SendLimiter
from bot.domain.statuses import OutboxStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
MAX_BACKOFF_SECONDS = 60.0
# Rows written by a process that cannot wake this one are picked up this often (a wake-up
# listener, as on PostgreSQL, makes the poll a safety net only: `idle_poll`).
IDLE_POLL_SECONDS = 1.0
RESERVE_LIMIT = 100  # rows reserved per pass: a backlog is worked through, never read at once
# How long a pass's reserved rows stay this worker's; those a dead worker had not yet put on
# the wire go to another this long after its pass began (a row held back by a limit is
# given back at once).
RESERVATION = timedelta(seconds=4)
# How long a worker may take to send a row it claimed; past that, the row is another's to
# declare interrupted (its sender is presumed dead).
LEASE = timedelta(minutes=2)
# How often the delivery loop looks for rows whose lease ran out: a small part of the lease.
RECOVER_EVERY = timedelta(seconds=5)
# Added to every limit's window: about the jitter between counting a send and its arrival.
LIMIT_MARGIN_SECONDS = 0.02
SHORT_WAIT_SECONDS = 0.25  # a wait for the limits this short is spent holding the row
# Sends one worker has on the wire at once, each to a different chat (OUTBOX_SEND_CONCURRENCY).
# One by default: a worker killed -9 leaves only that one in doubt, and sends reach the
# platform in the order and at the pace the limits counted them. Far from the platform's API
# (a send taking tens of milliseconds), more keep one worker at the platform's pace.
SEND_CONCURRENCY = 1


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


def _with_margin(limit: Limit | None) -> Limit:
    """The platform counts sends as they arrive, and arrivals jitter: a window a little
    longer than the platform's keeps a send at the edge of it from being one too many."""
    if limit is None:
        return Limit(10**9, 1.0)
    return Limit(limit.count, limit.per_seconds + LIMIT_MARGIN_SECONDS)


class Outbox:
    def __init__(
        self,
        clock: Clock,
        store: OutboxStore,
        people: People,
        limiter: SendLimiter | None = None,
        worker: str | None = None,
        lease: timedelta = LEASE,
        meter: Meter | None = None,
        concurrency: int = SEND_CONCURRENCY,
    ) -> None:
        self.clock = clock
        self.store = store
        self.people = people
        # One name per process, the same after a restart (so that it takes back its rows).
        self.worker = worker or socket.gethostname()
        self.lease = lease
        self.concurrency = concurrency
        self.senders: dict[str, Sender] = {}
        self.limiter: SendLimiter = limiter or RateLimiter()
        self.meter: Meter = meter or NoMeter()
        # True: `flush()` sends what is due at once (the console, tests). False: a delivery
        # loop sends (`run()` here, or another process's); `flush()` only wakes it.
        self.inline = True
        self.idle_poll = IDLE_POLL_SECONDS
        self._lock = asyncio.Lock()
        self._pacing = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = False
        self._recover_at: datetime | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._held: dict[int, float] = {}  # row id → loop time a limit lets it go
        # The answers put while this task handles a message (`answering`), for `flush`.
        self._answers: ContextVar[list[OutboxRow] | None] = ContextVar(
            f"outbox-answers-{id(self)}", default=None
        )

    def register(self, platform: str, sender: Sender) -> None:
        self.senders[platform] = sender
        self._wake.set()

    def wake(self) -> None:
        """New rows (written here, or announced by another process): look now."""
        self._wake.set()

    async def put(
        self,
        message: Outgoing,
        not_before: datetime | None = None,
        dedupe_key: str | None = None,
        *,
        answer: bool = False,
    ) -> OutboxRow:
        """Queue a message; with `dedupe_key`, once: a second put with the key returns the
        first row. An `answer` to the message being handled (`answering`) is sent by
        `flush` from the handling task; any other row wakes the delivery loop."""
        row = await self.store.add(
            message.chat.platform,
            message.chat.chat_id,
            message.to_payload(),
            not_before or self.clock.now(),
            dedupe_key,
        )
        answers = self._answers.get()
        if answer and answers is not None and not self.inline:
            answers.append(row)
        else:
            self._wake.set()
        return row

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """While a message is handled: `flush` sends its answers itself, at once and several
        people's at the same time, instead of waking the delivery loop for them."""
        token = self._answers.set([])
        try:
            yield
        finally:
            if self._answers.get():
                self._wake.set()  # the handling ended before its `flush`: the loop sends them
            self._answers.reset(token)

    async def get(self, row_id: int) -> OutboxRow | None:
        return await self.store.get(row_id)

    async def recover(self, at_start: bool = False) -> int:
        """Rows a crash caught mid-send are marked, never sent twice: at start, this worker's
        own (its previous life's) and any whose lease is over; on every pass of the worker,
        those whose lease is over (another process may have died)."""
        restarted = self.worker if at_start else None
        return await self.store.recover(self.clock.now(), restarted)

    async def purge(self, keep: timedelta) -> int:
        """Delete rows that were sent or failed longer ago than `keep` (retention)."""
        return await self.store.purge(self.clock.now() - keep)

    async def flush(self) -> int:
        """Send every due message that fits the limits now, each chat's in order; returns how
        many (inline). Otherwise send the answers put so far (`answering`) and return how
        many went; the delivery loop is woken for the rest."""
        if self.inline:
            return await self._drain()
        answers = self._answers.get()
        if not answers:
            return 0
        rows = answers.copy()
        answers.clear()
        sent = 0
        for row in rows:
            sent += await self._send_answer(row)
        if sent < len(rows):
            self._wake.set()
        return sent

    async def _send_answer(self, row: OutboxRow) -> int:
        """An answer, from the task that wrote it, if its chat's earlier rows have left and it
        fits the limits now; else it stays pending for the delivery loop (here or in another
        process), and 0."""
        if row.platform not in self.senders:
            return 0
        sent, _, _ = await self._send(row, reserved=False)
        return sent

    async def drain(self, seconds: float) -> int:
        """Before stopping: send what is due and fits the limits now, for at most `seconds`
        (a console's last answer, a worker's last sends)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                return await self._drain()
        return 0

    async def _drain(self) -> int:
        total = 0
        while not self._stopping:
            # A chat's next message becomes sendable once the one before it has left.
            sent, tried, _ = await self._pass()
            total += sent
            if not tried:
                break
        return total

    async def run(self) -> None:
        """Deliver continuously until `stop()` (which may come before the task first runs).

        Sends overlap: a row reserved while others are on the wire starts at once (up to
        `concurrency`), and each send that ends wakes the loop for its chat's next row."""
        self.inline = False
        sending: dict[int, asyncio.Task[None]] = {}
        while not self._stopping:
            self._wake.clear()
            wait: float | None = self.idle_poll
            try:
                await self._recover_now_and_then()
                started = await self._start_sends(sending)
                if not started and not sending:
                    wait = await self._until_next_due()
            except Exception:  # a database hiccup must not end delivery for good
                log.exception("outbox pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
        await asyncio.gather(*sending.values(), return_exceptions=True)  # the ones on the wire
        with contextlib.suppress(Exception):  # what it reserved and did not send, for others
            await self.store.release(self.worker)

    async def _start_sends(self, sending: dict[int, asyncio.Task[None]]) -> int:
        """Reserve rows for the free places on the wire and start sending them; returns how
        many started."""
        free = self.concurrency - len(sending)
        if free <= 0 or not self.senders:
            return 0  # a send that ends wakes the loop
        moment = asyncio.get_running_loop().time()
        self._held = {row_id: until for row_id, until in self._held.items() if until > moment}
        busy = sending.keys() | self._held.keys()
        now = self.clock.now()
        # Rows this worker is sending or a limit holds back come back too (reserved, not yet
        # claimed): asked for on top, so that they never take the free places.
        limit = min(free + len(busy), RESERVE_LIMIT)
        rows = await self.store.reserve(
            list(self.senders), now, limit, self.worker, now + RESERVATION
        )
        fresh = [row for row in rows if row.id not in busy][:free]
        for row in fresh:
            task = asyncio.create_task(self._send_then_wake(row), name=f"outbox-{row.id}")
            sending[row.id] = task
            task.add_done_callback(lambda _, row_id=row.id: sending.pop(row_id, None))
        return len(fresh)

    async def _send_then_wake(self, row: OutboxRow) -> None:
        try:
            _, tried, wait = await self._send(row)
        except Exception:
            log.exception("outbox send of row %s failed", row.id)
            tried, wait = 0, self.idle_poll
        if tried:
            self._wake.set()  # a place on the wire is free, and the chat's next row may go
        elif wait is not None:
            self._held[row.id] = asyncio.get_running_loop().time() + wait
            self._wake_in(wait)

    def _wake_in(self, seconds: float) -> None:
        """Wake the loop in `seconds` (a held-back row may go then), unless it is woken
        sooner anyway."""
        loop = asyncio.get_running_loop()
        at = loop.time() + seconds
        timer = self._timer
        if timer is None or timer.cancelled() or timer.when() <= loop.time() or at < timer.when():
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(at, self._wake.set)

    async def _recover_now_and_then(self) -> None:
        """Rows a dead worker left behind, once their lease is over: looked for every
        RECOVER_EVERY, not on every pass."""
        now = self.clock.now()
        if self._recover_at is None or now >= self._recover_at:
            await self.recover()
            self._recover_at = now + RECOVER_EVERY

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _until_next_due(self) -> float:
        """Seconds until a row written ahead comes due, at most the idle poll."""
        now = self.clock.now()
        moment = await self.store.next_due(list(self.senders), now) if self.senders else None
        if moment is None:
            return self.idle_poll
        return min(max((moment - now).total_seconds(), 0.0), self.idle_poll)

    async def _pass(self) -> tuple[int, int, float | None]:
        """One pass over the rows this worker may send now, one at a time (inline: the
        console, tests, a last drain); returns (sent, tried, seconds until a held-back row
        may go)."""
        if not self.senders:
            return 0, 0, None
        sent = tried = 0
        wait: float | None = None
        async with self._lock:
            now = self.clock.now()
            rows = await self.store.reserve(
                list(self.senders), now, RESERVE_LIMIT, self.worker, now + RESERVATION
            )
            for row in rows:
                went, attempted, delay = await self._send(row)
                sent, tried = sent + went, tried + attempted
                if delay is not None:
                    wait = delay if wait is None else min(wait, delay)
        return sent, tried, wait

    async def _send(
        self, row: OutboxRow, reserved: bool = True
    ) -> tuple[int, int, float | None]:
        """One row, reserved by this worker or (not `reserved`: an answer) claimed only if it
        is its chat's first unsent one: (sent, tried, seconds until it may go when a limit
        holds it)."""
        if self._stopping:
            return 0, 0, None
        message = await self._message(row)
        if message is None:
            return 0, 0, None
        rules = self._rules(row)
        # One row at a time takes its place under the limits, then is claimed and goes on
        # the wire while the next one waits its turn: counted right before it leaves (one
        # claim between), as the platform counts arrivals; only what is on the wire is
        # claimed (in doubt, were the process to die). A row held back by a limit stays
        # reserved and untouched: that is not an attempt.
        async with self._pacing:
            delay = await self._fit(rules)
            if delay > 0:
                return 0, 0, delay
            now = self.clock.now()
            if reserved:
                claimed = await self.store.claim(row, self.worker, now + self.lease)
            else:
                claimed = await self.store.claim_first(row, self.worker, now, now + self.lease)
            if not claimed:
                return 0, 0, None  # another worker is sending it, or an earlier row goes first
        return await self._deliver(row, message, rules), 1, None

    async def _fit(self, rules: list[Rule]) -> float:
        """Take a place under the limits; a short wait (the bot-wide pace) is waited out
        here, a long one (a chat's pace, a pause) is returned."""
        delay = await self.limiter.take(rules)
        if 0 < delay <= SHORT_WAIT_SECONDS:
            await asyncio.sleep(delay)
            delay = await self.limiter.take(rules)
        return delay

    def _rules(self, row: OutboxRow) -> list[Rule]:
        sender = self.senders[row.platform]
        limits = getattr(sender, "limits", None)
        payload_chat = row.payload["chat"]
        everywhere, per_chat = limits(ChatRef(**payload_chat)) if limits else (None, None)
        # Keys name the bot (a sender's `scope`), so that two bots never share a limit.
        scope = f"{row.platform}:{getattr(sender, 'scope', '')}"
        return [
            (f"{scope}:all", _with_margin(everywhere)),
            (f"{scope}:chat:{row.chat_id}", _with_margin(per_chat)),
        ]

    async def _message(self, row: OutboxRow) -> Outgoing | None:
        """The row as a message to send, or None while it has to wait for another."""
        message = Outgoing.from_payload(row.payload)
        message.outbox_id = row.id
        if message.edit_of is not None:
            original = await self.store.get(message.edit_of)
            unsettled = (OutboxStatus.PENDING, OutboxStatus.SENDING)
            if original is not None and original.status in unsettled:
                return None  # the original goes first; the edit waits for its message id
            # An original that failed or is gone: the edit is sent as a message of its own.
            message.edit_message_id = original.platform_message_id if original else None
        return message

    async def _deliver(self, row: OutboxRow, message: Outgoing, rules: list[Rule]) -> int:
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
        self.meter.delivered(row.platform, "sent")
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
            row.status, outcome = OutboxStatus.PENDING, "retry_after"
        elif error.permanent or row.attempts >= MAX_ATTEMPTS:
            row.status, outcome = OutboxStatus.FAILED, "failed"
        else:
            row.status, outcome = OutboxStatus.PENDING, "retry"
            backoff = min(2.0 ** (row.attempts - 1), MAX_BACKOFF_SECONDS)
            await self.limiter.pause(rules[1][0], backoff)
        await self.store.update(row, "attempts", "error", "status")
        self.meter.delivered(row.platform, outcome)
        log.warning("outbox %s to %s:%s failed: %s", row.id, row.platform, row.chat_id, row.error)
        if error.blocked and not message.chat.is_group:
            await self.people.blocked(PlatformUser(row.platform, row.chat_id), self.clock.now())
        if row.status == OutboxStatus.FAILED and message.fallback is not None:
            await self.put(Outgoing.from_payload(message.fallback))


__all__ = ["INTERRUPTED", "DeliveryError", "Outbox", "Sender"]
