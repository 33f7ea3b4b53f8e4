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
from storage.models import FlowState

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
    def __init__(self, ttl: timedelta) -> None:
        self.ttl = ttl
        self.flows: dict[str, Flow] = {}

    def register(self, flow: Flow) -> None:
        self.flows[flow.name] = flow

    async def start(self, ctx: Context, name: str, data: dict[str, Any] | None = None) -> None:
        flow = self.flows[name]
        data = dict(data or {})
        first = flow.steps[0]
        await FlowState.update_or_create(
            defaults={"flow": name, "step": first, "data": data, "expires_at": ctx.now + self.ttl},
            **_key(ctx.incoming),
        )
        await flow.ask(ctx, first, data)

    async def active(self, ctx: Context) -> FlowState | None:
        state = await FlowState.get_or_none(**_key(ctx.incoming))
        if state is None:
            return None
        if state.expires_at <= ctx.now or state.flow not in self.flows:
            await state.delete()
            return None
        return state

    async def handle(self, ctx: Context, state: FlowState, text: str) -> None:
        flow = self.flows[state.flow]
        data = dict(state.data)
        try:
            next_step = await flow.answer(ctx, state.step, data, text)
        except InvalidAnswer as invalid:
            await ctx.reply(invalid.template, **invalid.data)
            await flow.ask(ctx, state.step, data)
            return
        if next_step == DONE:
            await state.delete()
            await flow.finish(ctx, data)
            return
        state.step, state.data, state.expires_at = next_step, data, ctx.now + self.ttl
        await state.save(update_fields=["step", "data", "expires_at"])
        await flow.ask(ctx, next_step, data)

    async def cancel(self, ctx: Context) -> str | None:
        """Drop the caller's flow in this chat; returns its name, None if there was none."""
        state = await FlowState.get_or_none(**_key(ctx.incoming))
        if state is None:
            return None
        await state.delete()
        return state.flow


def _key(incoming: Incoming) -> dict[str, str]:
    return {
        "platform": incoming.platform,
        "chat_id": incoming.chat.chat_id,
        "user_id": incoming.user_id,
    }
