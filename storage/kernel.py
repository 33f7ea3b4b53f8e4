"""The kernel's ports (bot/core/ports.py) on the database."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError

from bot.core.identity import Caller, PlatformUser, Role
from bot.core.messages import ChatRef
from bot.core.ports import Conversation, ConversationKey, Ports
from bot.domain.text import clean_name
from storage.models import (
    ChatGroup,
    ChoiceMenu,
    Creator,
    FlowState,
    Identity,
    Person,
    ProcessedMessage,
    RoleGrant,
)
from storage.outbox import SqlOutboxStore

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


def sql_ports() -> Ports:
    return Ports(SqlPeople(), SqlConversations(), SqlMessageLog(), SqlOutboxStore())
