"""The kernel's ports (bot/core/ports.py) on the database."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from bot.core.identity import Caller, PlatformUser, Role
from bot.core.messages import ChatRef
from bot.core.ports import INTERRUPTED, Conversation, ConversationKey, OutboxRow, Ports
from bot.domain.statuses import OutboxStatus
from bot.domain.text import clean_name
from storage.models import (
    ChatGroup,
    ChoiceMenu,
    Creator,
    FlowState,
    Identity,
    OutboxMessage,
    Person,
    ProcessedMessage,
    RoleGrant,
)

USERNAME_LIMIT = 100
# last_seen_at (where a person is DMed: the identity they used last) is written at most this
# often: not one write for every message a person sends.
LAST_SEEN_EVERY = timedelta(minutes=1)


class SqlPeople:
    async def identify(
        self,
        user: PlatformUser,
        display_name: str,
        now: datetime,
        bootstrap_admins: tuple[PlatformUser, ...],
        username: str | None = None,
        in_private: bool = False,
    ) -> Caller:
        display_name = clean_name(display_name)
        identity = await _identity(user, display_name, now)
        changed = []
        seen = identity.last_seen_at
        if seen is None or now - seen >= LAST_SEEN_EVERY:
            identity.last_seen_at, changed = now, ["last_seen_at"]
        if username and identity.username != username[:USERNAME_LIMIT]:
            identity.username, changed = username[:USERNAME_LIMIT], [*changed, "username"]
        if in_private and identity.blocked_at is not None:
            identity.blocked_at, changed = None, [*changed, "blocked_at"]
        if changed:
            await identity.save(update_fields=changed)
        person = identity.person
        if display_name and person.display_name != display_name:
            person.display_name = display_name
            await person.save(update_fields=["display_name"])
        return await _caller_for(person, user, bootstrap_admins)

    async def reachable(self, person_id: int) -> PlatformUser | None:
        identity = (
            await Identity.filter(
                person_id=person_id, last_seen_at__isnull=False, blocked_at__isnull=True
            )
            .order_by("-last_seen_at", "-id")
            .first()
        )
        return PlatformUser(identity.platform, identity.user_id) if identity else None

    async def locale_of(self, person_id: int) -> str | None:
        locales = await Person.filter(id=person_id).values_list("locale", flat=True)
        return locales[0] if locales else None

    async def blocked(self, user: PlatformUser, now: datetime) -> None:
        await Identity.filter(platform=user.platform, user_id=user.user_id).update(blocked_at=now)


async def _caller_for(
    person: Person, user: PlatformUser, bootstrap_admins: tuple[PlatformUser, ...]
) -> Caller:
    roles: dict[Role, set[int | None]] = defaultdict(set)
    for grant in await RoleGrant.filter(person_id=person.id):
        roles[Role(grant.role)].add(grant.brand_id)  # type: ignore[attr-defined]
    if user in bootstrap_admins:
        roles[Role.ADMIN].add(None)
    creator = await Creator.get_or_none(person_id=person.id).only("id")
    return Caller(
        person_id=person.id,
        name=person.display_name or user.user_id,
        locale=person.locale,
        platform_user=user,
        roles=dict(roles),
        creator_id=creator.id if creator else None,
    )


async def _identity(user: PlatformUser, display_name: str, now: datetime) -> Identity:
    identity = await Identity.get_or_none(
        platform=user.platform, user_id=user.user_id
    ).prefetch_related("person")
    if identity is None:
        person = await Person.create(display_name=(display_name or user.user_id)[:100])
        try:
            identity = await Identity.create(
                person=person, platform=user.platform, user_id=user.user_id, last_seen_at=now
            )
        except IntegrityError:  # created concurrently by another worker
            await person.delete()
            identity = await Identity.get(
                platform=user.platform, user_id=user.user_id
            ).prefetch_related("person")
    return identity


def _key(key: ConversationKey) -> dict[str, str]:
    platform, chat_id, user_id = key
    return {"platform": platform, "chat_id": chat_id, "user_id": user_id}


class SqlConversations:
    async def get(self, key: ConversationKey) -> Conversation | None:
        state = await FlowState.get_or_none(**_key(key))
        if state is None:
            return None
        return Conversation(state.flow, state.step, dict(state.data), state.expires_at)

    async def put(self, key: ConversationKey, conversation: Conversation) -> None:
        await FlowState.update_or_create(
            defaults={
                "flow": conversation.flow,
                "step": conversation.step,
                "data": conversation.data,
                "expires_at": conversation.expires_at,
            },
            **_key(key),
        )

    async def delete(self, key: ConversationKey) -> None:
        await FlowState.filter(**_key(key)).delete()


class SqlMessageLog:
    async def first_time(self, platform: str, chat_id: str, message_id: str) -> bool:
        try:
            await ProcessedMessage.create(platform=platform, chat_id=chat_id, message_id=message_id)
        except IntegrityError:
            return False
        return True

    async def group_seen(self, chat: ChatRef) -> None:
        await ChatGroup.get_or_create(
            platform=chat.platform,
            chat_id=chat.chat_id,
            defaults={"title": (chat.title or chat.chat_id)[:200]},
        )

    async def offer_choices(self, chat: ChatRef, user_id: str, values: list[str]) -> None:
        key = {"platform": chat.platform, "chat_id": chat.chat_id, "user_id": user_id}
        if values:
            await ChoiceMenu.update_or_create(defaults={"values": values}, **key)
        else:
            await ChoiceMenu.filter(**key).delete()

    async def offered_choices(self, chat: ChatRef, user_id: str) -> list[str]:
        menu = await ChoiceMenu.get_or_none(
            platform=chat.platform, chat_id=chat.chat_id, user_id=user_id
        )
        return [str(value) for value in menu.values] if menu else []


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


def sql_ports() -> Ports:
    return Ports(SqlPeople(), SqlConversations(), SqlMessageLog(), SqlOutboxStore())
