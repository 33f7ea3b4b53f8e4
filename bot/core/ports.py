"""What the kernel needs from the outside world, as protocols; `storage/kernel.py` implements
them on the database, and tests may implement them in memory.

The kernel (dispatcher, flows, outbox, speaker) imports nothing from services or storage:
everything it reads or writes goes through these ports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.core.identity import Caller, PlatformUser
from bot.core.messages import ChatRef
from bot.domain.statuses import OutboxStatus

# (platform, chat id, user id): whose conversation, and where.
ConversationKey = tuple[str, str, str]


class Notify(Protocol):
    """DM a person a template in their language, through the outbox; False if unreachable.

    Called inside a service's transaction, the message commits (or not) with the change
    that owes it: a crash can neither lose it after the change nor send it without it."""

    async def __call__(self, person_id: int, template: str, /, **data: Any) -> bool: ...


class People(Protocol):
    async def identify(
        self,
        user: PlatformUser,
        display_name: str,
        now: datetime,
        bootstrap_admins: tuple[PlatformUser, ...],
        username: str | None = None,
        in_private: bool = False,
    ) -> Caller:
        """The caller behind a message (created on first contact); writing to the bot in
        private means it is not blocked."""

    async def reachable(self, person_id: int) -> PlatformUser | None:
        """Where a person can be DMed: the identity they used last, unless it blocked the bot."""

    async def locale_of(self, person_id: int) -> str | None: ...

    async def blocked(self, user: PlatformUser, now: datetime) -> None:
        """The user blocked the bot: no more DMs until they write again."""


@dataclass
class Conversation:
    """A flow in progress: which one, at which step, with the answers so far."""

    flow: str
    step: str
    data: dict[str, Any]
    expires_at: datetime


class Conversations(Protocol):
    async def get(self, key: ConversationKey) -> Conversation | None: ...

    async def put(self, key: ConversationKey, conversation: Conversation) -> None: ...

    async def delete(self, key: ConversationKey) -> None: ...


class MessageLog(Protocol):
    async def first_time(self, platform: str, chat_id: str, message_id: str) -> bool:
        """Record an inbound message; False when it was seen before (a replay)."""

    async def group_seen(self, chat: ChatRef) -> None:
        """Remember a group the bot is in."""

    async def offer_choices(self, chat: ChatRef, user_id: str, values: list[str]) -> None:
        """The newest numbered options for this user in this chat (none: forget the old)."""

    async def offered_choices(self, chat: ChatRef, user_id: str) -> list[str]: ...


INTERRUPTED = "interrupted: the process stopped while sending; it may or may not have arrived"


@dataclass
class OutboxRow:
    """One outbound message as the outbox keeps it."""

    id: int
    platform: str
    chat_id: str
    payload: dict[str, Any]
    status: str = OutboxStatus.PENDING
    attempts: int = 0
    error: str | None = None
    platform_message_id: str | None = None
    sent_at: datetime | None = None
    not_before: datetime | None = None


class OutboxStore(Protocol):
    """The outbox as a queue that several workers share.

    A worker first *reserves* rows (a short lease, still pending: if it dies they come back
    untouched), then *claims* each one just before sending it (sending: if it dies now, the
    row is in doubt and is never sent again)."""

    async def add(
        self,
        platform: str,
        chat_id: str,
        payload: dict[str, Any],
        not_before: datetime,
        dedupe_key: str | None = None,
    ) -> OutboxRow:
        """A new pending row; with `dedupe_key`, the row already written under that key if
        there is one (nothing is enqueued twice)."""

    async def reserve(
        self,
        platforms: Sequence[str],
        now: datetime,
        limit: int,
        worker: str,
        lease_until: datetime,
    ) -> list[OutboxRow]:
        """Up to `limit` due pending rows for `worker` until `lease_until`, oldest first: rows
        it already holds (their lease renewed) and rows nobody holds or whose lease ran out.
        Only the oldest unsent row of each chat is offered, so a chat's messages leave in
        order whichever worker sends them. Two workers never get the same row."""

    async def next_due(self, platforms: Sequence[str], after: datetime) -> datetime | None:
        """When the earliest pending row written ahead (not before a later time) comes due."""

    async def get(self, row_id: int) -> OutboxRow | None: ...

    async def claim(self, row: OutboxRow, worker: str, lease_until: datetime) -> bool:
        """Take a pending row this worker reserved (or nobody holds) for sending: status
        sending, one more attempt. False when another worker has it. On success `row` is
        updated."""

    async def claim_first(
        self, row: OutboxRow, worker: str, now: datetime, lease_until: datetime
    ) -> bool:
        """`claim` with no reservation before it, for the task that wrote the row (an answer
        sent at once): only a due row that is its chat's first unsent one and that no other
        worker holds. False otherwise; the row stays pending, for `reserve`."""

    async def release(self, worker: str) -> int:
        """Give back the rows `worker` reserved and has not claimed (it is stopping)."""

    async def update(self, row: OutboxRow, *fields: str) -> None:
        """Store these fields of the row."""

    async def recover(self, now: datetime, restarted: str | None = None) -> int:
        """Rows caught mid-send by a crash become failed (never sent twice): those whose
        lease has run out, and every row of worker `restarted` (at its start, what it holds
        is its previous life's). A live worker's rows are left alone. How many."""

    async def purge(self, settled_before: datetime) -> int:
        """Delete sent and failed rows that settled before then (retention); how many."""

    async def depth(self) -> dict[tuple[str, str], int]:
        """Unsent rows (pending, sending) per (platform, status): the queue's depth."""

    async def count(
        self, platform: str, statuses: Sequence[str], sent_since: datetime | None = None
    ) -> int: ...


class Meter(Protocol):
    """What the kernel counts for monitoring (bot/observability.py exports it to Prometheus)."""

    def delivered(self, platform: str, outcome: str) -> None:
        """One send attempt and how it ended: sent, retry_after (the platform said wait),
        retry (a transient error), failed."""

    def handled(self, platform: str, seconds: float) -> None:
        """One inbound message handled, and how long it took."""


class NoMeter:
    def delivered(self, platform: str, outcome: str) -> None:
        pass

    def handled(self, platform: str, seconds: float) -> None:
        pass


@dataclass
class Ports:
    people: People
    conversations: Conversations
    messages: MessageLog
    outbox: OutboxStore
