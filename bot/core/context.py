"""What a handler receives: the message, the caller, and ways to answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.core.identity import Caller
from bot.core.messages import ChatRef, Choice, Incoming, OutFile, Outgoing

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.core.clock import Clock
    from bot.core.speaker import Speaker


class FlowStarter(Protocol):
    """The flow engine, as a handler sees it (bot.core.flows.FlowEngine)."""

    async def start(self, ctx: Context, flow: type, data: dict[str, Any] | None = None) -> None:
        ...


@dataclass
class Kernel:
    """What every handler may use, built once by the app: one way to speak, the flows, the
    clock, the settings and the bot's own handle on each platform."""

    speaker: Speaker
    flows: FlowStarter
    clock: Clock
    settings: Settings
    bot_usernames: dict[str, str] = field(default_factory=dict)


@dataclass
class Context:
    kernel: Kernel
    incoming: Incoming
    caller: Caller
    args: str = ""

    @property
    def now(self) -> datetime:
        return self.kernel.clock.now()

    @property
    def settings(self) -> Settings:
        return self.kernel.settings

    @property
    def locale(self) -> str:
        return self.caller.locale or self.settings.locale

    def bot_username(self, platform: str | None = None) -> str | None:
        """The bot's own handle on a platform (this message's by default), once known."""
        return self.kernel.bot_usernames.get(platform or self.platform)

    async def start_flow(self, flow: type, data: dict[str, Any] | None = None) -> None:
        """Start a conversation by its class (a bot.core.flows.Flow): its first question now."""
        await self.kernel.flows.start(self, flow, data)

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
        return self.kernel.speaker.render(self.locale, template, **data)

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
                    bot=self.bot_username(),
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
        return await self.kernel.speaker.to_person(person_id, template, **data)

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
        return await self.kernel.speaker.send(message, answers=True)

    async def edit(self, outbox_id: int, template: str, /, **data: Any) -> int:
        """Replace a message sent earlier in this chat (progress that updates in place)."""
        text = self.render(template, **data)
        return await self.send_to(
            self.incoming.chat, self.incoming.user_id, text, edit_of=outbox_id
        )
