"""The outbox's store (bot/core/ports.py OutboxStore) on the database.

On PostgreSQL a worker reserves rows with one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
LOCKED LIMIT k) RETURNING`: workers never wait on each other's rows and never get the same
one. SQLite has a single writer at a time, so there the same choice is made in a transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from bot.core.ports import INTERRUPTED, OutboxRow
from bot.domain.statuses import OutboxStatus
from storage.models import OutboxMessage

_OUTBOX_FIELDS = ("status", "attempts", "error", "platform_message_id", "sent_at")
WORKER_LENGTH = 64
PENDING, SENDING = OutboxStatus.PENDING.value, OutboxStatus.SENDING.value

# The oldest due row of each chat that has no row being sent and no older due row; free, or
# this worker's, or its holder's lease over. Rows written ahead (not_before later) do not hold
# a chat back: a reply goes before tomorrow's reminder.
_RESERVE_POSTGRES = f"""
UPDATE outbox SET claimed_by = $1, lease_until = $2
WHERE id IN (
    SELECT o.id FROM outbox o
    WHERE o.status = '{PENDING}' AND o.platform = ANY($3::varchar[]) AND o.not_before <= $4
      AND (o.claimed_by IS NULL OR o.claimed_by = $1 OR o.lease_until <= $4)
      AND NOT EXISTS (
          SELECT 1 FROM outbox e
          WHERE e.platform = o.platform AND e.chat_id = o.chat_id AND e.id < o.id
            AND (e.status = '{SENDING}' OR (e.status = '{PENDING}' AND e.not_before <= $4))
      )
    ORDER BY o.id
    LIMIT $5
    FOR UPDATE SKIP LOCKED
)
RETURNING id, platform, chat_id, payload, status, attempts, error, platform_message_id,
          sent_at, not_before
"""


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


def _on_postgres() -> bool:
    return connections.get("default").capabilities.dialect == "postgres"


class SqlOutboxStore:
    async def add(
        self,
        platform: str,
        chat_id: str,
        payload: dict[str, Any],
        not_before: datetime,
        dedupe_key: str | None = None,
    ) -> OutboxRow:
        fields = {"platform": platform, "chat_id": chat_id, "payload": payload}
        if dedupe_key is None:
            return _row(await OutboxMessage.create(**fields, not_before=not_before))
        existing = await OutboxMessage.get_or_none(dedupe_key=dedupe_key)
        if existing is not None:
            return _row(existing)
        try:
            # A savepoint inside a caller's transaction: a lost race leaves it usable.
            async with in_transaction():
                message = await OutboxMessage.create(
                    **fields, not_before=not_before, dedupe_key=dedupe_key
                )
        except IntegrityError:
            message = await OutboxMessage.get(dedupe_key=dedupe_key)  # written meanwhile
        return _row(message)

    async def reserve(
        self,
        platforms: Sequence[str],
        now: datetime,
        limit: int,
        worker: str,
        lease_until: datetime,
    ) -> list[OutboxRow]:
        worker = worker[:WORKER_LENGTH]
        if not platforms:
            return []
        if _on_postgres():
            # execute_query_dict fetches: execute_query drops an UPDATE's RETURNING rows.
            records = await connections.get("default").execute_query_dict(
                _RESERVE_POSTGRES, [worker, lease_until, list(platforms), now, limit]
            )
            rows = [_record(record) for record in records]
            return sorted(rows, key=lambda row: row.id)
        async with in_transaction():
            return await self._reserve_one_writer(platforms, now, limit, worker, lease_until)

    async def _reserve_one_writer(
        self,
        platforms: Sequence[str],
        now: datetime,
        limit: int,
        worker: str,
        lease_until: datetime,
    ) -> list[OutboxRow]:
        # Filtered by status alone, so that SQLite reads the (status, not_before) index and
        # not every row of the platform: unsent rows are few, the history is long.
        seen: set[tuple[str, str]] = set(  # chats with a row being sent wait for it
            await OutboxMessage.filter(status=OutboxStatus.SENDING).values_list(
                "platform", "chat_id"
            )
        )
        heads: list[OutboxMessage] = []
        # Oldest first: the first due row of each chat in this order is that chat's oldest.
        due = (
            OutboxMessage.filter(status=OutboxStatus.PENDING, not_before__lte=now)
            .order_by("id")
            .only("id", "platform", "chat_id", "claimed_by", "lease_until")
        )
        async for message in due:
            chat = (message.platform, message.chat_id)
            if chat in seen or message.platform not in platforms:
                continue
            seen.add(chat)
            free = (
                message.claimed_by in (None, worker)
                or message.lease_until is None
                or message.lease_until <= now
            )
            if free:
                heads.append(message)
                if len(heads) >= limit:
                    break
        ids = [message.id for message in heads]
        if not ids:
            return []
        await OutboxMessage.filter(id__in=ids).update(claimed_by=worker, lease_until=lease_until)
        return [_row(message) for message in await OutboxMessage.filter(id__in=ids).order_by("id")]

    async def next_due(self, platforms: Sequence[str], after: datetime) -> datetime | None:
        message = (
            await OutboxMessage.filter(
                status=OutboxStatus.PENDING, platform__in=list(platforms), not_before__gt=after
            )
            .order_by("not_before")
            .only("not_before")
            .first()
        )
        return message.not_before if message else None

    async def claim(self, row: OutboxRow, worker: str, lease_until: datetime) -> bool:
        # A guarded update: only the worker holding the reservation (or anyone, if nobody
        # holds it) changes the row, and only while it is pending.
        worker = worker[:WORKER_LENGTH]
        held = Q(claimed_by__isnull=True) | Q(claimed_by=worker)
        claimed = await OutboxMessage.filter(
            held, id=row.id, status=OutboxStatus.PENDING
        ).update(
            status=OutboxStatus.SENDING,
            attempts=F("attempts") + 1,
            claimed_by=worker,
            lease_until=lease_until,
        )
        if claimed:
            row.status, row.attempts = OutboxStatus.SENDING, row.attempts + 1
        return bool(claimed)

    async def release(self, worker: str) -> int:
        return await OutboxMessage.filter(
            claimed_by=worker[:WORKER_LENGTH], status=OutboxStatus.PENDING
        ).update(claimed_by=None, lease_until=None)

    async def get(self, row_id: int) -> OutboxRow | None:
        message = await OutboxMessage.get_or_none(id=row_id)
        return _row(message) if message else None

    async def update(self, row: OutboxRow, *fields: str) -> None:
        unknown = set(fields) - set(_OUTBOX_FIELDS)
        if unknown:
            raise ValueError(f"outbox rows keep no {sorted(unknown)}")
        changes = {name: getattr(row, name) for name in fields}
        if row.status == OutboxStatus.PENDING and "status" in fields:
            changes["claimed_by"] = None  # back in the queue: any worker may take it
            changes["lease_until"] = None
        await OutboxMessage.filter(id=row.id).update(**changes)

    async def recover(self, now: datetime, restarted: str | None = None) -> int:
        expired = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
        if restarted is not None:
            expired |= Q(claimed_by=restarted[:WORKER_LENGTH])
        return await OutboxMessage.filter(expired, status=OutboxStatus.SENDING).update(
            status=OutboxStatus.FAILED, error=INTERRUPTED
        )

    async def purge(self, settled_before: datetime) -> int:
        return await OutboxMessage.filter(
            Q(status=OutboxStatus.SENT, sent_at__lt=settled_before)
            | Q(status=OutboxStatus.FAILED, created_at__lt=settled_before)
        ).delete()

    async def depth(self) -> dict[tuple[str, str], int]:
        rows = (
            await OutboxMessage.filter(status__in=[PENDING, SENDING])
            .group_by("platform", "status")
            .annotate(count=Count("id"))
            .values_list("platform", "status", "count")
        )
        return {(platform, str(status)): count for platform, status, count in rows}

    async def count(
        self, platform: str, statuses: Sequence[str], sent_since: datetime | None = None
    ) -> int:
        query = OutboxMessage.filter(platform=platform, status__in=list(statuses))
        if sent_since is not None:
            query = query.filter(sent_at__gte=sent_since)
        return await query.count()


def _record(record: dict[str, Any]) -> OutboxRow:
    """A row as RETURNING gives it (exactly OutboxRow's fields)."""
    payload = record["payload"]
    if isinstance(payload, str):  # asyncpg hands json columns over as text
        payload = json.loads(payload)
    return OutboxRow(**{**record, "payload": payload})
