"""The outbox's store (bot/core/ports.py OutboxStore) on the database.

A worker reserves rows with one `UPDATE … WHERE id IN (SELECT … LIMIT k [FOR UPDATE SKIP
LOCKED]) RETURNING`: on PostgreSQL workers never wait on each other's rows and never get the
same one; SQLite runs one statement at a time anyway.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from bot.core.ports import INTERRUPTED, OutboxRow
from bot.domain.statuses import OutboxStatus
from storage import models, sql
from storage.models import OutboxMessage

_OUTBOX_FIELDS = ("status", "attempts", "error", "platform_message_id", "sent_at")
WORKER_LENGTH = 64
PENDING, SENDING = OutboxStatus.PENDING.value, OutboxStatus.SENDING.value

# No earlier row of the row's chat is being sent or due (so a chat's messages leave in order).
_FIRST_OF_CHAT = f"""NOT EXISTS (
    SELECT 1 FROM outbox e
    WHERE e.platform = {{row}}.platform AND e.chat_id = {{row}}.chat_id AND e.id < {{row}}.id
      AND (e.status = '{SENDING}' OR (e.status = '{PENDING}' AND e.not_before <= {{now}}))
)"""

# The oldest due row of each chat that has no row being sent and no older due row; free, or
# this worker's, or its holder's lease over. Rows written ahead (not_before later) do not hold
# a chat back: a reply goes before tomorrow's reminder.
_RESERVE = f"""
UPDATE outbox SET claimed_by = $1, lease_until = $2
WHERE id IN (
    SELECT o.id FROM outbox o
    WHERE o.status = '{PENDING}' AND o.not_before <= $3 AND o.platform IN ({{platforms}})
      AND (o.claimed_by IS NULL OR o.claimed_by = $1 OR o.lease_until <= $3)
      AND {_FIRST_OF_CHAT.format(row="o", now="$3")}
    ORDER BY o.id
    LIMIT $4
    {{lock}}
)
RETURNING id, platform, chat_id, payload, status, attempts, error, platform_message_id,
          sent_at, not_before
"""


_ADD = f"""
INSERT INTO outbox (created_at, platform, chat_id, payload, not_before, status, attempts)
VALUES ($1, $2, $3, $4, $5, '{PENDING}', 0) RETURNING id
"""
# A guarded update: only the worker holding the reservation (or anyone, if nobody holds it)
# changes the row, and only while it is pending.
_CLAIM = f"""
UPDATE outbox SET status = '{SENDING}', attempts = attempts + 1, claimed_by = $2,
                  lease_until = $3
WHERE id = $1 AND status = '{PENDING}' AND (claimed_by IS NULL OR claimed_by = $2)
"""

# A row claimed by the task that wrote it, without a reservation: due, its chat's first, and
# free (or this worker's, or its holder's lease over).
_CLAIM_FIRST = f"""
UPDATE outbox SET status = '{SENDING}', attempts = attempts + 1, claimed_by = $2,
                  lease_until = $3
WHERE id = $1 AND status = '{PENDING}' AND not_before <= $4
  AND (claimed_by IS NULL OR claimed_by = $2 OR lease_until <= $4)
  AND {_FIRST_OF_CHAT.format(row="outbox", now="$4")}
"""


@functools.cache
def _update_sql(columns: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
    return f"UPDATE outbox SET {assignments} WHERE id = $1"


@functools.cache
def _reserve_sql(platforms: int, postgres: bool) -> str:
    return _RESERVE.format(
        platforms=", ".join(f"${5 + i}" for i in range(platforms)),
        lock="FOR UPDATE SKIP LOCKED" if postgres else "",
    )


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
        self,
        platform: str,
        chat_id: str,
        payload: dict[str, Any],
        not_before: datetime,
        dedupe_key: str | None = None,
    ) -> OutboxRow:
        fields = {"platform": platform, "chat_id": chat_id, "payload": payload}
        if dedupe_key is None:
            values = {"created_at": models.now(), **fields, "not_before": not_before}
            [record] = await sql.fetch(_ADD, sql.to_db(OutboxMessage, values))
            return OutboxRow(record["id"], platform, chat_id, payload, not_before=not_before)
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
        if not platforms:
            return []
        values = [worker[:WORKER_LENGTH], lease_until, now, limit, *platforms]
        records = await sql.fetch(_reserve_sql(len(platforms), sql.on_postgres()), values)
        return sorted((_record(record) for record in records), key=lambda row: row.id)

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
        claimed = await sql.execute(_CLAIM, [row.id, worker[:WORKER_LENGTH], lease_until])
        return self._claimed(row, claimed)

    @staticmethod
    def _claimed(row: OutboxRow, changed: int) -> bool:
        if changed:
            row.status, row.attempts = OutboxStatus.SENDING, row.attempts + 1
        return bool(changed)

    async def claim_first(
        self, row: OutboxRow, worker: str, now: datetime, lease_until: datetime
    ) -> bool:
        values = [row.id, worker[:WORKER_LENGTH], lease_until, now]
        return self._claimed(row, await sql.execute(_CLAIM_FIRST, values))

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
        values = [row.id, *sql.to_db(OutboxMessage, changes)]
        await sql.execute(_update_sql(tuple(changes)), values)

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
    return OutboxRow(**sql.read(OutboxMessage, record))
