"""What a handler receives: the message, the caller, and ways to answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.core.messages import ChatRef, Choice, Incoming, OutFile, Outgoing
from bot.services import people
from bot.services.people import Caller
from storage.models import ChoiceMenu, Person

if TYPE_CHECKING:
    from bot.app import App


@dataclass
class Context:
    app: App
    incoming: Incoming
    caller: Caller
    args: str = ""

    @property
    def now(self) -> datetime:
        return self.app.clock.now()

    @property
    def locale(self) -> str:
        return self.caller.locale or self.app.settings.locale

    @property
    def platform(self) -> str:
        return self.incoming.platform

    @property
    def in_group(self) -> bool:
        return self.incoming.chat.is_group

    @property
    def dm_chat(self) -> ChatRef:
        return ChatRef(self.incoming.platform, self.incoming.user_id)

    def render(self, template: str, /, **data: Any) -> str:
        return self.app.renderer.render(self.locale, template, **data)

    async def reply(
        self,
        template: str,
        /,
        choices: list[Choice] | None = None,
        files: list[OutFile] | None = None,
        **data: Any,
    ) -> int:
        """Answer in the chat the message came from (in a group, addressed to the caller).

        Returns the outbox id, which `edit` takes to replace this message later."""
        return await self.send_to(
            self.incoming.chat,
            self.incoming.user_id,
            self.render(template, **data),
            choices,
            files,
            reply_to=self.incoming.message_id if self.in_group else None,
        )

    async def reply_dm(
        self, template: str, /, choices: list[Choice] | None = None, **data: Any
    ) -> int:
        """Answer in private; asked in a group, the group hears if the DM cannot be delivered."""
        fallback = None
        if self.in_group:
            note = Outgoing(
                chat=self.incoming.chat,
                text=self.render(
                    "errors/cannot_dm",
                    platform=self.platform,
                    bot=self.app.bot_username(self.platform),
                ),
                to_user=self.incoming.user_id,
                reply_to=self.incoming.message_id,
            )
            fallback = note.to_payload()
        return await self.send_to(
            self.dm_chat,
            self.incoming.user_id,
            self.render(template, **data),
            choices,
            fallback=fallback,
        )

    async def reply_private(self, template: str, /, note: str, **data: Any) -> None:
        """Answers that are nobody else's business (money, a profile): in private; asked in
        a group, the group hears only `note` (that the answer went to DM)."""
        await self.reply_dm(template, **data)
        if self.in_group:
            await self.reply(note)

    async def notify(self, person_id: int, template: str, /, **data: Any) -> bool:
        """DM another person, in their language, where last seen; False if unreachable."""
        identity = await people.reachable_identity(person_id)
        if identity is None:
            return False
        person = await Person.get(id=person_id)
        text = self.app.renderer.render(person.locale or self.app.settings.locale, template, **data)
        await self.send_to(ChatRef(identity.platform, identity.user_id), identity.user_id, text)
        return True

    async def send_to(
        self,
        chat: ChatRef,
        to_user: str | None,
        text: str,
        choices: list[Choice] | None = None,
        files: list[OutFile] | None = None,
        edit_of: int | None = None,
        reply_to: str | None = None,
        fallback: dict[str, Any] | None = None,
    ) -> int:
        message = Outgoing(
            chat=chat,
            text=text,
            to_user=to_user,
            choices=choices or [],
            files=files or [],
            edit_of=edit_of,
            reply_to=reply_to,
            fallback=fallback,
        )
        if to_user:
            await remember_choices(chat, to_user, choices or [])
        return (await self.app.outbox.put(message)).id

    async def edit(self, outbox_id: int, template: str, /, **data: Any) -> int:
        """Replace a message sent earlier in this chat (progress that updates in place)."""
        text = self.render(template, **data)
        return await self.send_to(
            self.incoming.chat, self.incoming.user_id, text, edit_of=outbox_id
        )


async def remember_choices(chat: ChatRef, user_id: str, choices: list[Choice]) -> None:
    """The newest message to a user decides what a bare number means; one without options
    clears the old ones, so that "2000" typed as a follower count is never read as option 2000."""
    key = {"platform": chat.platform, "chat_id": chat.chat_id, "user_id": user_id}
    if choices:
        await ChoiceMenu.update_or_create(defaults={"values": [c.value for c in choices]}, **key)
    else:
        await ChoiceMenu.filter(**key).delete()


async def resolve_choice(incoming: Incoming) -> str | None:
    """A bare number answers the last numbered options offered to this user in this chat."""
    text = incoming.text.strip()
    if not text.isdigit():
        return None
    menu = await ChoiceMenu.get_or_none(
        platform=incoming.platform, chat_id=incoming.chat.chat_id, user_id=incoming.user_id
    )
    index = int(text) - 1
    if menu is None or not 0 <= index < len(menu.values):
        return None
    return str(menu.values[index])
