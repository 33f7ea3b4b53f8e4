"""Multi-step conversations whose state lives in the database (flow_states).

A flow declares its steps in order; for each step it has `ask_<step>(ctx, data)` that sends
the question and `answer_<step>(ctx, data, text)` that stores the answer in `data` and returns
the next step (None: the next in order), or raises `InvalidAnswer` to ask again. After the
last step `finish(ctx, data)` runs. A restart or a second worker loses nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from bot.core.errors import UserError
from bot.core.messages import Incoming
from bot.core.ports import Conversation, ConversationKey, Conversations

if TYPE_CHECKING:
    from bot.core.context import Context

DONE = "__done__"


class InvalidAnswer(UserError):
    """The answer does not fit: the template explains why, then the question is asked again."""


class Flow(ABC):
    name: ClassVar[str]
    steps: ClassVar[tuple[str, ...]]

    async def ask(self, ctx: Context, step: str, data: dict[str, Any]) -> None:
        await getattr(self, f"ask_{step}")(ctx, data)

    async def answer(self, ctx: Context, step: str, data: dict[str, Any], text: str) -> str:
        next_step = await getattr(self, f"answer_{step}")(ctx, data, text)
        if next_step:
            return str(next_step)
        index = self.steps.index(step) + 1
        return self.steps[index] if index < len(self.steps) else DONE

    @abstractmethod
    async def finish(self, ctx: Context, data: dict[str, Any]) -> None:
        """Act on the completed answers."""


class FlowEngine:
    def __init__(self, ttl: timedelta, conversations: Conversations) -> None:
        self.ttl = ttl
        self.conversations = conversations
        self.flows: dict[str, Flow] = {}

    def register(self, flow: Flow) -> None:
        self.flows[flow.name] = flow

    async def start(self, ctx: Context, flow: type, data: dict[str, Any] | None = None) -> None:
        name = flow.name  # type: ignore[attr-defined]
        started = self.flows[name]
        data = dict(data or {})
        first = started.steps[0]
        await self.conversations.put(
            _key(ctx.incoming), Conversation(name, first, data, ctx.now + self.ttl)
        )
        await started.ask(ctx, first, data)

    async def active(self, ctx: Context) -> Conversation | None:
        key = _key(ctx.incoming)
        state = await self.conversations.get(key)
        if state is None:
            return None
        if state.expires_at <= ctx.now or state.flow not in self.flows:
            await self.conversations.delete(key)
            return None
        return state

    async def handle(self, ctx: Context, state: Conversation, text: str) -> None:
        flow = self.flows[state.flow]
        data = dict(state.data)
        try:
            next_step = await flow.answer(ctx, state.step, data, text)
        except InvalidAnswer as invalid:
            await ctx.reply(invalid.template, **invalid.data)
            await flow.ask(ctx, state.step, data)
            return
        key = _key(ctx.incoming)
        if next_step == DONE:
            await self.conversations.delete(key)
            await flow.finish(ctx, data)
            return
        await self.conversations.put(
            key, Conversation(state.flow, next_step, data, ctx.now + self.ttl)
        )
        await flow.ask(ctx, next_step, data)

    async def cancel(self, ctx: Context) -> str | None:
        """Drop the caller's flow in this chat; returns its name, None if there was none."""
        key = _key(ctx.incoming)
        state = await self.conversations.get(key)
        if state is None:
            return None
        await self.conversations.delete(key)
        return state.flow


def _key(incoming: Incoming) -> ConversationKey:
    return (incoming.platform, incoming.chat.chat_id, incoming.user_id)
