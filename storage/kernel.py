"""The kernel's ports (bot/core/ports.py) on the database."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from bot.core.identity import Caller, PlatformUser, Role
from bot.core.messages import ChatRef
from bot.core.ports import Conversation, ConversationKey, Ports
from bot.domain.text import clean_name
from storage import models, sql
from storage.models import (
    ChatGroup,
    ChoiceMenu,
    FlowState,
    Identity,
    Person,
    ProcessedMessage,
)
from storage.outbox import SqlOutboxStore

USERNAME_LIMIT = 100
# last_seen_at (where a person is DMed: the identity they used last) is written at most this
# often: not one write for every message a person sends.
LAST_SEEN_EVERY = timedelta(minutes=1)


# Who a caller is, in one statement: their identity, person, creator id and role grants (one
# row per grant; one row with no grant when they hold none). Read afresh for every message, so
# a role granted or a creator enrolled by any process holds from the next message on: nothing
# about a caller is cached, and there is nothing to invalidate.
_CALLER = """
SELECT i.id, i.person_id, i.username, i.last_seen_at, i.blocked_at,
       p.display_name, p.locale, c.id AS creator_id, r.role, r.brand_id
FROM identities i
JOIN people p ON p.id = i.person_id
LEFT JOIN creators c ON c.person_id = p.id
LEFT JOIN role_grants r ON r.person_id = p.id
WHERE i.platform = $1 AND i.user_id = $2
"""
_NO_CALLER = dict.fromkeys(
    ("username", "last_seen_at", "blocked_at", "display_name", "locale", "creator_id", "role",
     "brand_id")
)  # fmt: skip


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
        username = username[:USERNAME_LIMIT] if username else None
        rows = await _caller_rows(user) or await _first_contact(user, display_name, now, username)
        first = rows[0]
        changes: dict[str, object] = {}
        seen = first["last_seen_at"]
        if seen is None or now - seen >= LAST_SEEN_EVERY:
            changes["last_seen_at"] = now
        if username and first["username"] != username:
            changes["username"] = username
        if in_private and first["blocked_at"] is not None:
            changes["blocked_at"] = None
        if changes:
            await Identity.filter(id=first["id"]).update(**changes)
        name = first["display_name"]
        if display_name and name != display_name:
            await Person.filter(id=first["person_id"]).update(display_name=display_name)
            name = display_name
        roles: dict[Role, set[int | None]] = defaultdict(set)
        for row in rows:
            if row["role"] is not None:
                roles[Role(row["role"])].add(row["brand_id"])
        if user in bootstrap_admins:
            roles[Role.ADMIN].add(None)
        return Caller(
            person_id=first["person_id"],
            name=name or user.user_id,
            locale=first["locale"],
            platform_user=user,
            roles=dict(roles),
            creator_id=first["creator_id"],
        )

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


async def _caller_rows(user: PlatformUser) -> list[dict[str, Any]]:
    rows = await sql.fetch(_CALLER, [user.platform, user.user_id])
    return [sql.read(Identity, row) for row in rows]


async def _first_contact(
    user: PlatformUser, display_name: str, now: datetime, username: str | None
) -> list[dict[str, Any]]:
    """A new person with this identity: no role, no creator profile yet."""
    person = await Person.create(display_name=(display_name or user.user_id)[:100])
    try:
        identity = await Identity.create(
            person=person,
            platform=user.platform,
            user_id=user.user_id,
            username=username,
            last_seen_at=now,
        )
    except IntegrityError:  # created concurrently by another worker
        await person.delete()
        return await _caller_rows(user)
    return [
        {
            **_NO_CALLER,
            "id": identity.id,
            "person_id": person.id,
            "username": username,
            "last_seen_at": now,
            "display_name": person.display_name,
        }
    ]


def _key(key: ConversationKey) -> dict[str, str]:
    platform, chat_id, user_id = key
    return {"platform": platform, "chat_id": chat_id, "user_id": user_id}


_CONVERSATION = """
SELECT flow, step, data, expires_at FROM flow_states
WHERE platform = $1 AND chat_id = $2 AND user_id = $3
"""


class SqlConversations:
    async def get(self, key: ConversationKey) -> Conversation | None:
        rows = await sql.fetch(_CONVERSATION, [*key])
        if not rows:
            return None
        state = sql.read(FlowState, rows[0])
        return Conversation(state["flow"], state["step"], dict(state["data"]), state["expires_at"])

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


# One statement records an inbound message, or finds it recorded (a replay): no exception to
# catch, and on SQLite no second statement asking for the new row's id.
_FIRST_TIME = (
    'INSERT INTO "processed_messages" ("created_at", "platform", "chat_id", "message_id") '
    'VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING "id"'
)
_NO_CHOICES = "DELETE FROM choice_menus WHERE platform = $1 AND chat_id = $2 AND user_id = $3"
# Groups this process knows are recorded (rows are never deleted): at most this many, then the
# memory starts over (each group then costs one look-up again).
GROUPS_REMEMBERED = 10_000


class SqlMessageLog:
    def __init__(self) -> None:
        self._groups: set[tuple[str, str]] = set()

    async def first_time(self, platform: str, chat_id: str, message_id: str) -> bool:
        values = sql.to_db(
            ProcessedMessage,
            {
                "created_at": models.now(),
                "platform": platform,
                "chat_id": chat_id,
                "message_id": message_id,
            },
        )  # an id too long for its column is an error, as with `create`
        return bool(await sql.fetch(_FIRST_TIME, values))

    async def group_seen(self, chat: ChatRef) -> None:
        key = (chat.platform, chat.chat_id)
        if key in self._groups:
            return
        await ChatGroup.get_or_create(
            platform=chat.platform,
            chat_id=chat.chat_id,
            defaults={"title": (chat.title or chat.chat_id)[:200]},
        )
        if len(self._groups) >= GROUPS_REMEMBERED:
            self._groups.clear()
        self._groups.add(key)

    async def offer_choices(self, chat: ChatRef, user_id: str, values: list[str]) -> None:
        if not values:  # most replies offer nothing: one plain statement
            await sql.execute(_NO_CHOICES, [chat.platform, chat.chat_id, user_id])
            return
        key = {"platform": chat.platform, "chat_id": chat.chat_id, "user_id": user_id}
        await ChoiceMenu.update_or_create(defaults={"values": values}, **key)

    async def offered_choices(self, chat: ChatRef, user_id: str) -> list[str]:
        menu = await ChoiceMenu.get_or_none(
            platform=chat.platform, chat_id=chat.chat_id, user_id=user_id
        )
        return [str(value) for value in menu.values] if menu else []


def sql_ports() -> Ports:
    return Ports(SqlPeople(), SqlConversations(), SqlMessageLog(), SqlOutboxStore())
