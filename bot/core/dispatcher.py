"""The core's front door: every platform hands each inbound message to `Dispatcher.handle`.

dedupe → identify the caller → numbered answer? → active flow → command → document →
post-link catcher (groups) → fallback. Whatever a handler raises becomes a polite reply.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bot.core.context import Context, Kernel
from bot.core.errors import UserError
from bot.core.identity import PlatformUser, Role
from bot.core.messages import ChatRef, Incoming
from bot.core.outbox import Outbox
from bot.core.ports import MessageLog, People
from bot.core.registry import CommandMatch, Handler, Registry
from bot.domain.text import clean_name, clean_text
from bot.domain.vocabulary import VOCABULARY

log = logging.getLogger(__name__)


class Dispatcher:
    """Handlers get the Context and, by parameter name, what `dependencies` holds under that
    name (a service, the registry…), as aiogram injects its workflow data."""

    def __init__(
        self,
        kernel: Kernel,
        registry: Registry,
        people: People,
        messages: MessageLog,
        outbox: Outbox,
        dependencies: Mapping[str, Any] | None = None,
    ) -> None:
        self.kernel = kernel
        self.registry = registry
        self.people = people
        self.messages = messages
        self.outbox = outbox
        self.dependencies = dict(dependencies or {})
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self._wanted: dict[Handler, tuple[str, ...]] = {}

    @property
    def bot_usernames(self) -> dict[str, str]:
        """platform → the bot's own username, as each adapter learns it."""
        return self.kernel.bot_usernames

    async def handle(self, incoming: Incoming) -> None:
        # One message at a time per person and chat: their flow steps must not race.
        key = (incoming.platform, incoming.chat.chat_id, incoming.user_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        started = time.perf_counter()
        try:
            async with lock:
                with self.outbox.answering():
                    await self._handle(incoming)
        finally:
            self.outbox.meter.handled(incoming.platform, time.perf_counter() - started)
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    async def welcome(self, chat: ChatRef, names: list[str]) -> None:
        """New members of a group: a welcome with the way in."""
        await self.group_seen(chat)
        await self.kernel.speaker.to_chat(
            chat,
            "general/welcome",
            names=[clean_name(name) for name in names],
            platform=chat.platform,
            bot=self.bot_usernames.get(chat.platform),
        )
        await self.outbox.flush()

    async def group_seen(self, chat: ChatRef) -> None:
        await self.messages.group_seen(chat)

    async def _handle(self, incoming: Incoming) -> None:
        if not await self._first_time(incoming):
            log.info("dropped replayed message %s:%s", incoming.platform, incoming.message_id)
            return
        incoming = replace(incoming, text=clean_text(incoming.text))
        settings = self.kernel.settings
        caller = await self.people.identify(
            PlatformUser(incoming.platform, incoming.user_id),
            incoming.user_name,
            self.kernel.clock.now(),
            settings.admin_ids,
            username=incoming.username,
            in_private=not incoming.chat.is_group,
        )
        ctx = Context(self.kernel, incoming, caller)
        try:
            if incoming.chat.is_group:
                await self.group_seen(incoming.chat)
            if len(incoming.text) > settings.max_text_length:
                await ctx.reply("errors/too_long", limit=settings.max_text_length)
            else:
                await self._route(ctx)
        except UserError as error:
            await ctx.reply(error.template, choices=error.choices, **error.data)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception(
                "handler failed (ref %s) on %s:%s", ref, incoming.platform, incoming.message_id
            )
            await ctx.reply("errors/internal", ref=ref)
        await self.outbox.flush()

    async def _first_time(self, incoming: Incoming) -> bool:
        return await self.messages.first_time(
            incoming.platform, incoming.chat.chat_id, incoming.message_id
        )

    async def _chosen(self, incoming: Incoming) -> str | None:
        """A bare number answers the last numbered options offered to this user here."""
        text = incoming.text.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 4:
            return None
        offered = await self.messages.offered_choices(incoming.chat, incoming.user_id)
        index = int(text) - 1
        return offered[index] if 0 <= index < len(offered) else None

    async def _route(self, ctx: Context) -> None:
        incoming = ctx.incoming
        chosen = await self._chosen(incoming)
        if chosen is not None:
            incoming = ctx.incoming = replace(incoming, text=chosen)
        text = incoming.text
        flows = self.kernel.flows

        if VOCABULARY.means(text, "flow.cancel"):
            name = await flows.cancel(ctx)
            await ctx.reply("flows/cancelled" if name else "flows/nothing_to_cancel")
            return

        match = self.registry.match(text, self.bot_usernames.get(incoming.platform))
        state = await flows.active(ctx)
        # An explicit slash command steps out of a flow (which waits); anything else answers it.
        if state is not None and not (match and text.startswith("/")):
            await flows.handle(ctx, state, text)
            return
        if match is not None:
            await self._command(ctx, match)
            return
        if incoming.attachments:
            await self._document(ctx)
            return
        if incoming.chat.is_group:
            for catcher in self.registry.group_catchers:
                if await self._call(catcher, ctx):
                    return
            if incoming.mentions_bot:
                await ctx.reply("errors/not_understood")
            return
        await ctx.reply("errors/not_understood")

    async def _command(self, ctx: Context, match: CommandMatch) -> None:
        if match.addressed_elsewhere:
            return
        if match.spec is None:
            await ctx.reply("errors/unknown_command", name=match.name)
            return
        if not ctx.caller.may(match.spec.role):
            await ctx.reply("errors/forbidden", name=match.spec.name, role=match.spec.role.value)
            return
        ctx.args = match.args
        await self._call(match.spec.handler, ctx)

    async def _document(self, ctx: Context) -> None:
        attachment = ctx.incoming.attachments[0]
        spec = self.registry.document_handler(attachment.name)
        if spec is None:
            await ctx.reply("errors/unknown_document", name=attachment.name)
            return
        if not ctx.caller.may(spec.role):
            await ctx.reply("errors/forbidden_document", role=spec.role.value)
            return
        await self._call(spec.handler, ctx)

    async def _call(self, handler: Handler, ctx: Context) -> Any:
        """The handler with the Context and the dependencies its parameters name."""
        wanted = self._wanted.get(handler)
        if wanted is None:
            wanted = self._wanted[handler] = tuple(inspect.signature(handler).parameters)[1:]
        return await handler(ctx, **{name: self.dependencies[name] for name in wanted})


__all__ = ["Dispatcher", "Role", "clean_text"]
