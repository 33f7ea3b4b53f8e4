"""The outbox's store (bot/core/ports.py OutboxStore) on the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tortoise.expressions import F, Q

from bot.core.ports import INTERRUPTED, OutboxRow
from bot.domain.statuses import OutboxStatus
from storage.models import OutboxMessage

_OUTBOX_FIELDS = ("status", "attempts", "error", "platform_message_id", "sent_at")


def _row(message: OutboxMessage) -> OutboxRow:
    return OutboxRow(
        id=message.id,
        platform=message.platform,
        chat_id=message.chat_id,
        payload=message.payload,
        status=str(message.status),
        attempts=message.attempts,
        error=message.error,
        platform_message_id=message.platform_message_id,
        sent_at=message.sent_at,
        not_before=message.not_before,
    )


class SqlOutboxStore:
    async def add(
        self, platform: str, chat_id: str, payload: dict[str, Any], not_before: datetime
    ) -> OutboxRow:
        message = await OutboxMessage.create(
            platform=platform, chat_id=chat_id, payload=payload, not_before=not_before
        )
        return _row(message)

    async def due(self, platforms: Sequence[str], now: datetime, limit: int) -> list[OutboxRow]:
        messages = (
            await OutboxMessage.filter(
                status=OutboxStatus.PENDING, platform__in=list(platforms), not_before__lte=now
            )
            .order_by("id")
            .limit(limit)
        )
        return [_row(message) for message in messages]

    async def claim(self, row: OutboxRow, worker: str, lease_until: datetime) -> bool:
        # A guarded update: of two workers that read the same row, one changes it.
        claimed = await OutboxMessage.filter(id=row.id, status=OutboxStatus.PENDING).update(
            status=OutboxStatus.SENDING,
            attempts=F("attempts") + 1,
            claimed_by=worker[:64],
            lease_until=lease_until,
        )
        if claimed:
            row.status, row.attempts = OutboxStatus.SENDING, row.attempts + 1
        return bool(claimed)

    async def get(self, row_id: int) -> OutboxRow | None:
        message = await OutboxMessage.get_or_none(id=row_id)
        return _row(message) if message else None

    async def update(self, row: OutboxRow, *fields: str) -> None:
        unknown = set(fields) - set(_OUTBOX_FIELDS)
        if unknown:
            raise ValueError(f"outbox rows keep no {sorted(unknown)}")
        changes = {name: getattr(row, name) for name in fields}
        await OutboxMessage.filter(id=row.id).update(**changes)

    async def recover(self, now: datetime, restarted: str | None = None) -> int:
        expired = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
        if restarted is not None:
            expired |= Q(claimed_by=restarted[:64])
        return await OutboxMessage.filter(expired, status=OutboxStatus.SENDING).update(
            status=OutboxStatus.FAILED, error=INTERRUPTED
        )

    async def count(
        self, platform: str, statuses: Sequence[str], sent_since: datetime | None = None
    ) -> int:
        query = OutboxMessage.filter(platform=platform, status__in=list(statuses))
        if sent_since is not None:
            query = query.filter(sent_at__gte=sent_since)
        return await query.count()
