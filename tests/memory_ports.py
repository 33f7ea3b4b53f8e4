"""The kernel's ports (bot/core/ports.py) in memory: the dispatcher, flows and outbox run
without a database, so their own rules can be tested alone."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot.core.identity import Caller, PlatformUser, Role
from bot.core.messages import ChatRef
from bot.core.ports import INTERRUPTED, Conversation, ConversationKey, OutboxRow, Ports
from bot.domain.statuses import OutboxStatus


@dataclass
class MemoryPeople:
    roles: dict[str, dict[Role, set[int | None]]] = field(default_factory=dict)  # user id →
    creators: set[str] = field(default_factory=set)
    locales: dict[int, str] = field(default_factory=dict)
    blocked_users: set[PlatformUser] = field(default_factory=set)
    _ids: dict[PlatformUser, int] = field(default_factory=dict)

    def person_id(self, user: PlatformUser) -> int:
        return self._ids.setdefault(user, len(self._ids) + 1)

    async def identify(
        self,
        user: PlatformUser,
        display_name: str,
        now: datetime,
        bootstrap_admins: tuple[PlatformUser, ...],
        username: str | None = None,
        in_private: bool = False,
    ) -> Caller:
        if in_private:
            self.blocked_users.discard(user)
        roles = {role: set(brands) for role, brands in self.roles.get(user.user_id, {}).items()}
        if user in bootstrap_admins:
            roles.setdefault(Role.ADMIN, set()).add(None)
        person_id = self.person_id(user)
        creator_id = person_id if user.user_id in self.creators else None
        return Caller(
            person_id, display_name, self.locales.get(person_id), user, roles, creator_id
        )

    async def reachable(self, person_id: int) -> PlatformUser | None:
        for user, known in self._ids.items():
            if known == person_id and user not in self.blocked_users:
                return user
        return None

    async def locale_of(self, person_id: int) -> str | None:
        return self.locales.get(person_id)

    async def blocked(self, user: PlatformUser, now: datetime) -> None:
        self.blocked_users.add(user)


@dataclass
class MemoryConversations:
    states: dict[ConversationKey, Conversation] = field(default_factory=dict)

    async def get(self, key: ConversationKey) -> Conversation | None:
        state = self.states.get(key)
        return replace(state, data=dict(state.data)) if state else None

    async def put(self, key: ConversationKey, conversation: Conversation) -> None:
        self.states[key] = replace(conversation, data=dict(conversation.data))

    async def delete(self, key: ConversationKey) -> None:
        self.states.pop(key, None)


@dataclass
class MemoryMessageLog:
    seen: set[tuple[str, str, str]] = field(default_factory=set)
    groups: set[ChatRef] = field(default_factory=set)
    menus: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)

    async def first_time(self, platform: str, chat_id: str, message_id: str) -> bool:
        key = (platform, chat_id, message_id)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    async def group_seen(self, chat: ChatRef) -> None:
        self.groups.add(chat)

    async def offer_choices(self, chat: ChatRef, user_id: str, values: list[str]) -> None:
        key = (chat.platform, chat.chat_id, user_id)
        if values:
            self.menus[key] = list(values)
        else:
            self.menus.pop(key, None)

    async def offered_choices(self, chat: ChatRef, user_id: str) -> list[str]:
        return list(self.menus.get((chat.platform, chat.chat_id, user_id), []))


@dataclass
class MemoryOutboxStore:
    rows: dict[int, OutboxRow] = field(default_factory=dict)
    leases: dict[int, datetime] = field(default_factory=dict)
    claims: dict[int, str] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)  # dedupe key → row id
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def add(
        self,
        platform: str,
        chat_id: str,
        payload: dict[str, Any],
        not_before: datetime,
        dedupe_key: str | None = None,
    ) -> OutboxRow:
        if dedupe_key is not None and dedupe_key in self.keys:
            return replace(self.rows[self.keys[dedupe_key]])
        row = OutboxRow(next(self._ids), platform, chat_id, payload, not_before=not_before)
        self.rows[row.id] = row
        if dedupe_key is not None:
            self.keys[dedupe_key] = row.id
        return replace(row)

    async def reserve(
        self,
        platforms: Sequence[str],
        now: datetime,
        limit: int,
        worker: str,
        lease_until: datetime,
    ) -> list[OutboxRow]:
        taken: list[OutboxRow] = []
        seen: set[tuple[str, str]] = {
            (row.platform, row.chat_id)
            for row in self.rows.values()
            if row.status == OutboxStatus.SENDING
        }
        for row in sorted(self.rows.values(), key=lambda r: r.id):
            due = row.not_before is not None and row.not_before <= now
            if row.status != OutboxStatus.PENDING or row.platform not in platforms or not due:
                continue
            chat = (row.platform, row.chat_id)
            if chat in seen:
                continue
            seen.add(chat)
            holder = self.claims.get(row.id)
            if holder in (None, worker) or self.leases.get(row.id, now) <= now:
                self.claims[row.id], self.leases[row.id] = worker, lease_until
                taken.append(replace(row))
            if len(taken) >= limit:
                break
        return taken

    async def next_due(self, platforms: Sequence[str], after: datetime) -> datetime | None:
        ahead = [
            row.not_before
            for row in self.rows.values()
            if row.status == OutboxStatus.PENDING
            and row.platform in platforms
            and row.not_before is not None
            and row.not_before > after
        ]
        return min(ahead, default=None)

    async def claim(self, row: OutboxRow, worker: str, lease_until: datetime) -> bool:
        stored = self.rows[row.id]
        if stored.status != OutboxStatus.PENDING or self.claims.get(row.id) not in (None, worker):
            return False
        stored.status, stored.attempts = OutboxStatus.SENDING, stored.attempts + 1
        self.leases[row.id] = lease_until
        self.claims[row.id] = worker
        row.status, row.attempts = stored.status, stored.attempts
        return True

    async def claim_first(
        self, row: OutboxRow, worker: str, now: datetime, lease_until: datetime
    ) -> bool:
        stored = self.rows[row.id]
        earlier = any(
            other.id < row.id
            and (other.platform, other.chat_id) == (row.platform, row.chat_id)
            and (
                other.status == OutboxStatus.SENDING
                or (other.status == OutboxStatus.PENDING and other.not_before <= now)
            )
            for other in self.rows.values()
        )
        held = self.claims.get(row.id) not in (None, worker) and self.leases[row.id] > now
        if earlier or held or stored.not_before > now:
            return False
        self.claims.pop(row.id, None)
        return await self.claim(row, worker, lease_until)

    async def release(self, worker: str) -> int:
        mine = [
            row_id
            for row_id, holder in self.claims.items()
            if holder == worker and self.rows[row_id].status == OutboxStatus.PENDING
        ]
        for row_id in mine:
            del self.claims[row_id], self.leases[row_id]
        return len(mine)

    async def purge(self, settled_before: datetime) -> int:
        old = [
            row.id
            for row in self.rows.values()
            if (row.status == OutboxStatus.SENT and row.sent_at and row.sent_at < settled_before)
            or (row.status == OutboxStatus.FAILED and row.not_before < settled_before)
        ]
        for row_id in old:
            del self.rows[row_id]
        return len(old)

    async def get(self, row_id: int) -> OutboxRow | None:
        row = self.rows.get(row_id)
        return replace(row) if row else None

    async def update(self, row: OutboxRow, *fields: str) -> None:
        stored = self.rows[row.id]
        for name in fields:
            setattr(stored, name, getattr(row, name))
        if stored.status == OutboxStatus.PENDING:  # back in the queue: anyone may take it
            self.claims.pop(row.id, None)
            self.leases.pop(row.id, None)

    async def recover(self, now: datetime, restarted: str | None = None) -> int:
        caught = [
            row
            for row in self.rows.values()
            if row.status == OutboxStatus.SENDING
            and (self.leases.get(row.id, now) <= now or self.claims.get(row.id) == restarted)
        ]
        for row in caught:
            row.status, row.error = OutboxStatus.FAILED, INTERRUPTED
        return len(caught)

    async def depth(self) -> dict[tuple[str, str], int]:
        unsent = (OutboxStatus.PENDING, OutboxStatus.SENDING)
        depth: dict[tuple[str, str], int] = {}
        for row in self.rows.values():
            if row.status in unsent:
                key = (row.platform, str(row.status))
                depth[key] = depth.get(key, 0) + 1
        return depth

    async def count(
        self, platform: str, statuses: Sequence[str], sent_since: datetime | None = None
    ) -> int:
        return sum(
            1
            for row in self.rows.values()
            if row.platform == platform
            and row.status in statuses
            and (sent_since is None or (row.sent_at is not None and row.sent_at >= sent_since))
        )


def memory_ports() -> Ports:
    return Ports(MemoryPeople(), MemoryConversations(), MemoryMessageLog(), MemoryOutboxStore())
