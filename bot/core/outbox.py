"""Every outbound message is written here first, then delivered by its platform's sender.

A pending row survives a crash and is sent at the next flush. Platform adapters register a
`Sender`; pacing and platform limits live in the sender (see the Telegram adapter).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Protocol

from bot.core.clock import Clock
from bot.core.messages import Outgoing
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


class DeliveryError(Exception):
    """A send that failed. `permanent` ones (blocked, chat gone) are not retried."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    async def send(self, message: Outgoing) -> str | None:
        """Deliver one message; return the platform's message id if it has one."""


class Outbox:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.senders: dict[str, Sender] = {}
        self._lock = asyncio.Lock()

    def register(self, platform: str, sender: Sender) -> None:
        self.senders[platform] = sender

    async def put(self, message: Outgoing, not_before: datetime | None = None) -> OutboxMessage:
        return await OutboxMessage.create(
            platform=message.chat.platform,
            chat_id=message.chat.chat_id,
            payload=message.to_payload(),
            not_before=not_before or self.clock.now(),
        )

    async def flush(self) -> int:
        """Send every due message whose platform has a sender, oldest first; returns sent count."""
        if not self.senders:
            return 0
        sent = 0
        async with self._lock:
            due = await OutboxMessage.filter(
                status="pending",
                platform__in=list(self.senders),
                not_before__lte=self.clock.now(),
            ).order_by("id")
            for row in due:
                sent += await self._deliver(row)
        return sent

    async def _deliver(self, row: OutboxMessage) -> int:
        message = Outgoing.from_payload(row.payload)
        if message.edit_of is not None:
            original = await OutboxMessage.get_or_none(id=message.edit_of)
            if original is not None and original.status == "pending":
                return 0  # the original goes first; the edit waits for its message id
            # An original that failed or is gone: the edit is sent as a message of its own.
            message.edit_message_id = original.platform_message_id if original else None
        row.attempts += 1
        try:
            message_id = await self.senders[row.platform].send(message)
        except Exception as exc:  # a sender bug must not stop the other deliveries
            row.error = f"{type(exc).__name__}: {exc}"[:2000]
            permanent = isinstance(exc, DeliveryError) and exc.permanent
            if permanent or row.attempts >= MAX_ATTEMPTS:
                row.status = "failed"
            await row.save(update_fields=["attempts", "error", "status"])
            log.warning("outbox %s to %s:%s failed: %s", row.id, row.platform, row.chat_id, exc)
            return 0
        row.status = "sent"
        row.sent_at = self.clock.now()
        # An edit keeps the edited message's id, so that a later edit finds it again.
        row.platform_message_id = message_id or message.edit_message_id
        await row.save(update_fields=["attempts", "status", "sent_at", "platform_message_id"])
        return 1
