"""Deciding a submission, and /reject ID without a reason: ask for it (the creator is told
why)."""

from __future__ import annotations

from typing import Any

from bot.core.context import Context
from bot.core.flows import Flow, InvalidAnswer
from bot.services import submissions
from bot.services.submissions import MAX_REASON


class RejectReason(Flow):
    name = "reject_reason"
    steps = ("reason",)

    async def ask_reason(self, ctx: Context, data: dict[str, Any]) -> None:
        await ctx.reply("review/ask_reason", id=data["id"])

    async def answer_reason(self, ctx: Context, data: dict[str, Any], text: str) -> str | None:
        if not 1 <= len(text) <= MAX_REASON:
            raise InvalidAnswer("review/bad_reason", limit=MAX_REASON)
        data["reason"] = text
        return None

    async def finish(self, ctx: Context, data: dict[str, Any]) -> None:
        await decide(ctx, data["id"], approve=False, reason=data["reason"])


async def decide(ctx: Context, submission_id: int, approve: bool, reason: str) -> None:
    """Approve or reject; the manager hears the result and the creator is told."""
    submission = await submissions.decide(ctx.caller, submission_id, approve, reason, ctx.now)
    await ctx.reply("review/decided", submission=submission)
    await ctx.notify(
        submission.creator.person_id,  # type: ignore[attr-defined]
        "review/creator_notice",
        submission=submission,
        campaign=submission.campaign,
    )
