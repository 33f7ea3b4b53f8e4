"""/earnings: always answered in private."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.identity import Role
from bot.core.registry import Router
from bot.domain.vocabulary import VOCABULARY
from bot.services.earnings import creator_earnings

router = Router()


@router.command("earnings", keywords=("收益",), role=Role.CREATOR)
async def earnings(ctx: Context) -> None:
    assert ctx.caller.creator_id is not None
    detail = VOCABULARY.means(ctx.args, "earnings.detail")
    per_campaign = await creator_earnings(ctx.caller.creator_id)
    await ctx.reply_private(
        "earnings/summary", note="earnings/sent_privately", campaigns=per_campaign, detail=detail
    )
