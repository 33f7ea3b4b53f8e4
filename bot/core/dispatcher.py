"""The core's front door: every platform hands each inbound message to `Dispatcher.handle`.

dedupe → identify the caller → numbered answer? → active flow → command → document →
post-link catcher (groups) → fallback. Whatever a handler raises becomes a polite reply.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING

from tortoise.exceptions import IntegrityError

from bot.core.context import Context, resolve_choice
from bot.core.errors import UserError
from bot.core.identity import PlatformUser, Role
from bot.core.messages import ChatRef, Incoming, Outgoing
from bot.core.registry import CommandMatch
from bot.domain.text import clean_name, clean_text
from bot.services import people
from storage.models import ChatGroup, ProcessedMessage

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

CANCEL_WORDS = ("/cancel", "取消", "cancel")


class Dispatcher:
    def __init__(self, app: App) -> None:
        self.app = app
        self.bot_usernames: dict[str, str] = {}  # platform → the bot's own username
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    async def handle(self, incoming: Incoming) -> None:
        # One message at a time per person and chat: their flow steps must not race.
        key = (incoming.platform, incoming.chat.chat_id, incoming.user_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                await self._handle(incoming)
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    async def welcome(self, chat: ChatRef, names: list[str]) -> None:
        """New members of a group: a welcome with the way in."""
        await self.group_seen(chat)
        text = self.app.renderer.render(
            self.app.settings.locale,
            "general/welcome",
            names=[clean_name(name) for name in names],
            platform=chat.platform,
            bot=self.bot_usernames.get(chat.platform),
        )
        await self.app.outbox.put(Outgoing(chat=chat, text=text))
        await self.app.outbox.flush()

    async def group_seen(self, chat: ChatRef) -> None:
        await ChatGroup.get_or_create(
            platform=chat.platform,
            chat_id=chat.chat_id,
            defaults={"title": (chat.title or chat.chat_id)[:200]},
        )

    async def _handle(self, incoming: Incoming) -> None:
        if not await self._first_time(incoming):
            log.info("dropped replayed message %s:%s", incoming.platform, incoming.message_id)
            return
        incoming = replace(incoming, text=clean_text(incoming.text))
        settings = self.app.settings
        caller = await people.identify(
            PlatformUser(incoming.platform, incoming.user_id),
            incoming.user_name,
            self.app.clock.now(),
            settings.admin_ids,
            username=incoming.username,
            in_private=not incoming.chat.is_group,
        )
        ctx = Context(self.app, incoming, caller)
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
        await self.app.outbox.flush()

    async def _first_time(self, incoming: Incoming) -> bool:
        try:
            await ProcessedMessage.create(
                platform=incoming.platform,
                chat_id=incoming.chat.chat_id,
                message_id=incoming.message_id,
            )
        except IntegrityError:
            return False
        return True

    async def _route(self, ctx: Context) -> None:
        incoming = ctx.incoming
        chosen = await resolve_choice(incoming)
        if chosen is not None:
            incoming = ctx.incoming = replace(incoming, text=chosen)
        text = incoming.text
        flows = self.app.flows

        if text.lower() in CANCEL_WORDS:
            name = await flows.cancel(ctx)
            await ctx.reply("flows/cancelled" if name else "flows/nothing_to_cancel")
            return

        match = self.app.registry.match(text, self.bot_usernames.get(incoming.platform))
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
            for catcher in self.app.registry.group_catchers:
                if await catcher(ctx):
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
        await match.spec.handler(ctx)

    async def _document(self, ctx: Context) -> None:
        attachment = ctx.incoming.attachments[0]
        spec = self.app.registry.document_handler(attachment.name)
        if spec is None:
            await ctx.reply("errors/unknown_document", name=attachment.name)
            return
        if not ctx.caller.may(spec.role):
            await ctx.reply("errors/forbidden_document", role=spec.role.value)
            return
        await spec.handler(ctx)


__all__ = ["Dispatcher", "Role", "clean_text"]
