"""One way to speak, for handlers and services alike: a template, rendered in the reader's
language, written to the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.core.messages import ChatRef, Choice, OutFile, Outgoing
from bot.core.outbox import Outbox
from bot.core.ports import MessageLog, People
from bot.core.render import Renderer


class Speaker:
    def __init__(
        self, outbox: Outbox, renderer: Renderer, people: People, messages: MessageLog
    ) -> None:
        self.outbox = outbox
        self.renderer = renderer
        self.people = people
        self.messages = messages

    def render(self, locale: str | None, template: str, /, **data: Any) -> str:
        return self.renderer.render(locale, template, **data)

    async def send(
        self,
        message: Outgoing,
        not_before: datetime | None = None,
        *,
        answers: bool = False,
        dedupe_key: str | None = None,
    ) -> int:
        """Queue a message; returns its outbox id. Its options decide what a bare number from
        its reader means next. An answer (`answers`: a reply in a conversation) without options
        clears the old ones, so that "2000" typed as a follower count is never read as option
        2000; a message nobody asked for (a digest, a reminder) leaves them alone. A message
        with `dedupe_key` is queued once, however often it is sent."""
        if message.to_user and (answers or message.choices):
            values = [choice.value for choice in message.choices]
            await self.messages.offer_choices(message.chat, message.to_user, values)
        return (await self.outbox.put(message, not_before, dedupe_key, answer=answers)).id

    async def to_chat(
        self,
        chat: ChatRef,
        template: str,
        /,
        *,
        locale: str | None = None,
        to_user: str | None = None,
        choices: list[Choice] | None = None,
        files: list[OutFile] | None = None,
        reply_to: str | None = None,
        edit_of: int | None = None,
        not_before: datetime | None = None,
        **data: Any,
    ) -> int:
        message = Outgoing(
            chat=chat,
            text=self.render(locale, template, **data),
            to_user=to_user,
            choices=choices or [],
            files=files or [],
            reply_to=reply_to,
            edit_of=edit_of,
        )
        return await self.send(message, not_before)

    async def to_person(self, person_id: int, template: str, /, **data: Any) -> bool:
        """DM a person in their language where last seen; False if they cannot be reached."""
        user = await self.people.reachable(person_id)
        if user is None:
            return False
        locale = await self.people.locale_of(person_id)
        chat = ChatRef(user.platform, user.user_id)
        await self.to_chat(chat, template, locale=locale, to_user=user.user_id, **data)
        return True
