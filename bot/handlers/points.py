"""/leaderboard: points and levels (non-cash incentives), never money."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.registry import Router
from bot.services import points

router = Router()


@router.command("leaderboard", keywords=("排行榜",))
async def leaderboard(ctx: Context) -> None:
    caller = ctx.caller
    if caller.creator_id is None and not caller.roles:
        await ctx.reply("points/no_access")
        return
    code = ctx.args.strip().split()[0] if ctx.args.strip() else None
    board = await points.leaderboard(caller, code)
    await ctx.reply("points/leaderboard", board=board)
